"""Regenerate a picture of the report: a real run of the seed file, rendered in headless chromium.

Run as root after scripts/setup.sh:
  .venv/bin/python scripts/screenshot_report.py                   # docs/report.png (local,local-legacy)
  .venv/bin/python scripts/screenshot_report.py --targets local,local-legacy,freebsd \\
      --reference macos-14,openbsd-7.6,netbsd-10 --png docs/report-contrast.png --width 1400
  .venv/bin/python scripts/screenshot_report.py --file docs/examples/nginx-audited.yaml --row nginx-audited \\
      --targets local,local-legacy,rump --reference freebsd-14,macos-14 --png docs/audit-nginx.png  # docs/audit.md
The committed docs/report.png used --targets local,local-legacy,rump --width 1300 (HARNESS_RUMP_LIB set:
docs/rump.md).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", default="local,local-legacy")
    parser.add_argument("--reference", default="")
    parser.add_argument("--png", default=str(ROOT / "docs" / "report.png"))
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--file", default="scenarios/reuseport.yaml", help="The scenario file to run.")
    parser.add_argument("--row", default="distribute-tcp-four-listeners[inet]", help="The scenario row to open.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "harness", "run", args.file, "--targets", args.targets,
                   "--out", out] + (["--reference", args.reference] if args.reference else [])
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode not in (0, 1, 3):  # 3: a named target could not run, which the picture shows
            sys.exit(f"harness run failed ({proc.returncode}): {proc.stderr}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            page = browser.new_page(viewport={"width": args.width, "height": 800})
            page.goto((Path(out) / "report.html").as_uri())
            page.add_style_tag(content=".mx>thead th{position:static}")  # a sticky header smears a full-page shot
            page.locator("tr.sc", has_text=args.row).locator("button.tg").click()
            page.screenshot(path=args.png, full_page=True)
            browser.close()
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
