"""The README's "Using it from Python and pytest" section works verbatim outside a checkout.

Its Python blocks are copied into a scratch directory with the example application's
``mailer.py`` (the code under test the section is about): the blocks with tests run under a real
pytest, the others as scripts, all against the installed package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from test_pytest_plugin import TIMEOUT, _blocked_plugins  # tests/ is on sys.path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Using it from Python and pytest"


def section_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"^```python\n(.*?)^```$", text[start:end], flags=re.MULTILINE | re.DOTALL)


def scratch(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "examples" / "mailer" / "mailer.py", tmp_path / "mailer.py")
    (tmp_path / "tox.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    return tmp_path


def test_the_section_has_test_and_script_blocks() -> None:
    blocks = section_blocks()
    assert sum("def test_" in b for b in blocks) == 1
    assert sum("def test_" not in b for b in blocks) == 2


def test_the_pytest_block_passes_verbatim(tmp_path: Path) -> None:
    where = scratch(tmp_path)
    (block,) = [b for b in section_blocks() if "def test_" in b]
    (where / "test_readme_block.py").write_text(block, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *_blocked_plugins()],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    count = block.count("\ndef test_")
    assert re.search(rf"\b{count} passed\b", result.stdout), result.stdout


def test_the_script_blocks_run_verbatim(tmp_path: Path) -> None:
    where = scratch(tmp_path)
    outputs = []
    for i, block in enumerate(b for b in section_blocks() if "def test_" not in b):
        script = where / f"readme_block_{i}.py"
        script.write_text(block, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, script.name],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == "hello\n"
    assert outputs[1].startswith("followed the script\n")
