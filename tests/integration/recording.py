"""A stand-in program that writes down how it was called: its arguments, its standard input and
the environment variables asked for, as JSON in ``record``; it exits with ``status``."""

from __future__ import annotations

import sys
from pathlib import Path


def recording_program(
    directory: Path, name: str, record: Path, *, status: int = 1, env_prefix: str = "SWAKS_OPT_"
) -> Path:
    directory.mkdir(exist_ok=True)
    program = directory / name
    program.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "stdin = '' if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()\n"
        f"open({str(record)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], 'stdin': stdin, "
        f"'env': {{k: v for k, v in os.environ.items() if k.startswith({env_prefix!r})}}}}))\n"
        f"sys.exit({status})\n"
    )
    program.chmod(0o755)
    return program
