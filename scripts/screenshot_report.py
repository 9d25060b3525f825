"""Regenerate docs/report.png: a real run of the seed file, rendered in headless chromium.

Run as root after scripts/setup.sh: `.venv/bin/python scripts/screenshot_report.py [TARGETS]`
(default local,local-legacy; the committed picture used local,local-legacy,linux-modern).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    targets = sys.argv[1] if len(sys.argv) > 1 else "local,local-legacy"
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "harness", "run", "scenarios/reuseport.yaml", "--targets", targets,
                        "--out", out], cwd=ROOT, check=True, capture_output=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto((Path(out) / "report.html").as_uri())
            page.locator("tr.sc", has_text="distribute-tcp-four-listeners").locator("button.tg").click()
            page.screenshot(path=str(ROOT / "docs" / "report.png"), full_page=True)
            browser.close()
    print("wrote docs/report.png")


if __name__ == "__main__":
    main()
