"""Where the built-in scenario corpus lives: inside the installed package, or beside it in a
source checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["corpus_path"]


def corpus_path() -> Path:
    here = Path(__file__).resolve().parent
    installed = here / "corpus"  # the wheel puts scenarios/ here
    return installed if installed.is_dir() else here.parent / "scenarios"
