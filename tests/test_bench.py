"""A smoke run of every benchmark, so that none rots: ``python bench/run.py --smoke`` must run
each section to its end. Its figures mean nothing (a few rounds of a twentieth of a second on a
busy machine) and no target is enforced here; bench/RESULTS.md holds the measured figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


def test_every_benchmark_section_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    headings = [line for line in done.stdout.splitlines() if line.startswith("== ")]
    for section in ("== 1.", "== 2.", "== 3.", "== 4.", "== 5.", "== targets"):
        assert any(h.startswith(section) for h in headings), (section, headings)
    assert "profile" in done.stdout.lower()
    for client in ("reference", "smtplib"):
        assert f"target fuzz {client} >= " in done.stdout, done.stdout[-3000:]
