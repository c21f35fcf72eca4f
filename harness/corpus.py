"""Where the built-in scenario corpus lives: inside the installed package, or beside it in a
source checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["corpus_path", "report_path"]

_PACKAGE = Path(__file__).resolve().parent


def corpus_path() -> Path:
    here = Path(__file__).resolve().parent
    installed = here / "corpus"  # the wheel puts scenarios/ here
    return installed if installed.is_dir() else here.parent / "scenarios"


def report_path(path: str | Path) -> str:
    """How reports name a file: corpus files as ``scenarios/<area>/<name>.yaml`` and the
    package's own files (deviation lists) from the project root, wherever the package is
    installed; other files relative to the working directory if they are inside it, else as
    given. So a tracked report never holds a local absolute path such as ``.tox/...``."""
    p = Path(path)
    try:
        resolved = p.resolve()
    except OSError:
        return str(path)
    for root, shown in ((corpus_path().resolve(), "scenarios"), (_PACKAGE, "harness")):
        if resolved.is_relative_to(root):
            return f"{shown}/{resolved.relative_to(root).as_posix()}"
    if p.is_absolute() and resolved.is_relative_to(Path.cwd()):
        return resolved.relative_to(Path.cwd()).as_posix()
    return str(path)
