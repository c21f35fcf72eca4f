"""``SMTP_HARNESS_LOOP``: the harness on uvloop gives the verdicts it gives on asyncio's loop,
and a wrong choice is a clear usage error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "uvloop", reason="uvloop is in the test extra; installed everywhere but Windows"
)


def _run(loop: str, report: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMTP_HARNESS_LOOP": loop}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "-q", "--report-json", str(report), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _verdicts(report: Path) -> dict[str, str]:
    return {r["scenario"]: r["verdict"] for r in json.loads(report.read_text())["results"]}


@pytest.mark.parametrize(
    "args",
    [
        ("--jobs", "4"),  # the whole corpus, reference client: plain, STARTTLS and implicit TLS
        ("--client", "smtplib", "-k", "tls"),  # a library in its own thread, against our loop
    ],
    ids=["reference-corpus", "smtplib-tls"],
)
def test_the_same_verdicts_on_uvloop_as_on_asyncio(tmp_path: Path, args: tuple[str, ...]) -> None:
    on_asyncio = _run("asyncio", tmp_path / "asyncio.json", *args)
    on_uvloop = _run("uvloop", tmp_path / "uvloop.json", *args)
    assert on_asyncio.returncode == 0, on_asyncio.stdout[-2000:]
    assert on_uvloop.returncode == 0, on_uvloop.stdout[-2000:]
    expected = _verdicts(tmp_path / "asyncio.json")
    assert len(expected) > (200 if "--jobs" in args else 10)
    assert _verdicts(tmp_path / "uvloop.json") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("bogus", "expected 'asyncio' or 'uvloop'"), ("UVLOOPS", "expected 'asyncio' or 'uvloop'")],
)
def test_an_unknown_loop_is_a_usage_error(tmp_path: Path, value: str, message: str) -> None:
    result = _run(value, tmp_path / "x.json")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
