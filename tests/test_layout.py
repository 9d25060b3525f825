"""Rules of the code base that a reader relies on: reports only read, docs link inside the repository."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

HARNESS = ROOT / "harness"
# What judges: reading scenario files (the loader and the modules it is split into), the verdict, the
# expectation matching.
JUDGING = ("harness.scenario.loader", "harness.scenario.yamlfile", "harness.scenario.fields",
           "harness.scenario.outcomes", "harness.scenario.expand", "harness.judge")


def imports_of(path: Path) -> set[str]:
    """Absolute names of the harness modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_report_modules_import_nothing_that_judges():
    for path in sorted((HARNESS / "report").glob("*.py")):
        judging = {name for name in imports_of(path) if name.startswith(JUDGING)}
        assert not judging, f"{path.relative_to(ROOT)} imports {sorted(judging)}: reports only read results"


def test_the_rule_checker_sees_relative_imports():
    assert "harness.judge.verdict" in imports_of(HARNESS / "run" / "runner.py")


LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_link_in_readme_and_docs_resolves_inside_the_repository():
    pages = [ROOT / "README.md", ROOT / "vagrant" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://", "#")):
                continue
            resolved = (page.parent / target.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
            assert resolved.exists(), f"{page.name} links to a missing file: {target}"


def test_the_command_line_starts_without_ssh_vm_or_template_libraries():
    """`harness --version`, `validate` and local runs stay light: those load only when used."""
    import subprocess
    import sys
    code = "import sys, harness.cli; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=ROOT).stdout.split())
    heavy = {"paramiko", "fabric", "invoke", "vagrant", "jinja2", "msgspec", "seccomp", "cryptography",
             "rich", "harness.predict.engine"}  # rich only for a terminal; the model only where no kernel answers
    assert loaded & heavy == set()


def test_the_quick_version_answer_is_the_command_lines_own():
    """`harness --version` answers before harness.cli is imported (harness/entry.py); it must say what
    the full command line would, and it must not import that module."""
    import subprocess
    import sys
    quick = subprocess.run([sys.executable, "-m", "harness", "--version"], capture_output=True, text=True,
                           check=True, cwd=ROOT).stdout
    code = "from harness.cli import cli; cli.main(['--version'], prog_name='harness')"
    full = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
    assert quick == full and quick.startswith("harness, version ")
    code = "import sys; from harness.entry import main; main(['--version']); print('harness.cli' in sys.modules, 'click' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout.splitlines()[-1] == "False False"
