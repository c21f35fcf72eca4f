"""Nothing outlives a run: file descriptors, threads, asyncio tasks, temporary files.

The leak check runs 1,000 tiny plain scenarios with the reference client in one event loop,
plus TLS runs, smtplib runs (threads), command-line client runs (temporary files,
subprocesses) when the programs are installed, and a round of every hostile client, and
compares the counts before and after. It runs in CI (marker ``leakcheck`` only lets you
deselect it locally) and takes some seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import ClientAdapter, Target
from harness.adapters.command import curl
from harness.adapters.reference import ReferenceAdapter
from harness.adapters.smtplib_adapter import SmtplibAdapter
from harness.outcome import ClientOutcome
from harness.results import Verdict
from harness.runner import run_scenario
from harness.scenario.model import ClientTask, Scenario

from . import test_hostile_clients as hostile
from .conftest import (
    IMPLICIT,
    MODES,
    PLAIN,
    STARTTLS,
    Conn,
    Hostile,
    forever,
    get_ready,
    make_scenario,
)

TESTS_DIR = Path(__file__).resolve().parents[1]
REFERENCE_RUNS = 1_000


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def temp_files() -> list[str]:
    return sorted(p.name for p in Path(tempfile.gettempdir()).glob("smtp-harness-*"))


def other_tasks() -> set[asyncio.Task[object]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


async def settle(count: Callable[[], int], wanted: int, seconds: float = 2.0) -> int:
    """``count()`` once it equals ``wanted``, or after ``seconds`` (closes complete on the next
    loop iterations; subprocess watcher threads end just after the process)."""
    deadline = time.monotonic() + seconds
    while (now := count()) != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return now


def settle_outside_loop(count: Callable[[], int], wanted: int, seconds: float = 2.0) -> int:
    deadline = time.monotonic() + seconds
    while (now := count()) != wanted and time.monotonic() < deadline:
        time.sleep(0.01)
    return now


@dataclass
class Counts:
    fds: int
    threads: int
    temp_files: list[str]
    tasks: int = 0

    @classmethod
    def now(cls) -> Counts:
        return cls(fds=fds(), threads=threading.active_count(), temp_files=temp_files())


@dataclass
class Report:
    runs: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, set[Verdict]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    async def run(
        self, label: str, scenario: Scenario, adapter: ClientAdapter, times: int = 1
    ) -> None:
        started = time.monotonic()
        for _ in range(times):
            result = await run_scenario(scenario, adapter)  # the shared TLS material
            self.verdicts.setdefault(label, set()).add(result.verdict)
        self.runs[label] = self.runs.get(label, 0) + times
        self.seconds[label] = self.seconds.get(label, 0.0) + time.monotonic() - started


class Sampling:
    """Wraps an adapter and records the peak thread count and number of smtp-harness-* temporary
    files while it runs: proof that the counts compared at the end do see what the harness
    creates (threads for smtplib, a temporary directory and a watcher thread for curl)."""

    def __init__(self, inner: ClientAdapter) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.peak_threads = 0
        self.peak_temp_files = 0

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        run = asyncio.ensure_future(self.inner.deliver(task, target))
        try:
            while not run.done():
                self.peak_threads = max(self.peak_threads, threading.active_count())
                self.peak_temp_files = max(self.peak_temp_files, len(temp_files()))
                await asyncio.wait({run}, timeout=0.002)
            return run.result()
        finally:
            if not run.done():
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run


@pytest.mark.leakcheck
def test_nothing_outlives_a_thousand_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    TlsMaterial.shared()  # the one CA file, made once per process, allowed to stay
    # Temporary files go to a directory of this test's own, so other tests (or other pytest
    # processes) creating smtp-harness-* files at the same time cannot disturb the count.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    report = Report()
    in_loop: dict[str, int] = {}
    smtplib = Sampling(SmtplibAdapter())
    command = Sampling(curl()) if shutil.which("curl") else None

    async def main() -> None:
        in_loop["tasks before"] = len(other_tasks())
        in_loop["fds before"] = fds()
        tiny = {mode: make_scenario(mode, name="tiny", total=5, read=2) for mode in MODES}
        reference = ReferenceAdapter()
        await report.run("reference plain", tiny[PLAIN], reference, REFERENCE_RUNS)
        await report.run("reference starttls", tiny[STARTTLS], reference, 50)
        await report.run("reference implicit", tiny[IMPLICIT], reference, 50)
        await report.run("smtplib plain", tiny[PLAIN], smtplib, 20)
        await report.run("smtplib starttls", tiny[STARTTLS], smtplib, 10)
        if command is not None:
            await report.run("curl plain", tiny[PLAIN], command, 10)
            await report.run("curl implicit", tiny[IMPLICIT], command, 5)
        for mode in MODES:
            for name, behaviour in [
                ("long-line", hostile._long_line),
                ("garbage", hostile._garbage),
                ("mid-command", hostile._half_a_command),
                ("mid-data", hostile._half_a_message),
                ("flood", hostile._flood),
            ]:
                extra = {"after_ehlo": hostile.ONE_NOOP.strip("\n")} if name == "flood" else {}
                scenario = make_scenario(mode, name=name, **extra)
                await report.run(f"hostile {name}", scenario, Hostile(name, mode, behaviour))
        for mode, behaviour in [
            (IMPLICIT, hostile._garbage_instead_of_client_hello),
            (STARTTLS, hostile._garbage_after_starttls),
        ]:
            scenario = make_scenario(mode, name="tls-garbage")
            await report.run(
                "hostile tls-garbage", scenario, Hostile("g", mode, behaviour, raw=True)
            )
        # The slow ones (each waits for a deadline), once each.
        await report.run(
            "hostile silent",
            make_scenario(PLAIN, name="silent"),
            Hostile("s", PLAIN, hostile._silent),
        )
        await report.run(
            "hostile never-reads",
            hostile._with_big_ehlo_reply(STARTTLS),
            Hostile("n", STARTTLS, hostile._never_reads),
        )
        in_loop["fds after"] = await settle(fds, in_loop["fds before"])
        in_loop["tasks after"] = len(other_tasks())

    # The process's shared CA file is made on first use and kept until exit, on purpose: made
    # now, so that a run of this test alone does not count it as left behind by the runs.
    assert Path(TlsMaterial.shared().ca_path).exists()
    before = Counts.now()
    asyncio.run(main())
    after = Counts(
        fds=settle_outside_loop(fds, before.fds),
        threads=settle_outside_loop(threading.active_count, before.threads),
        temp_files=temp_files(),
    )

    with capsys.disabled():
        print()
        for label, runs in report.runs.items():
            seconds = report.seconds[label]
            verdicts = ",".join(sorted(v.value for v in report.verdicts[label]))
            print(
                f"  {label:22} {runs:5} runs  {seconds:7.2f} s  "
                f"{runs / seconds:7.1f} runs/s  verdicts: {verdicts}"
            )
        print(f"  while smtplib ran: up to {smtplib.peak_threads} threads")
        if command is not None:
            print(
                f"  while curl ran: up to {command.peak_threads} threads, "
                f"{command.peak_temp_files} smtp-harness-* temporary file(s)"
            )
        print(f"  before: {before}, in the loop: {in_loop}")
        print(f"  after:  {after}")

    assert smtplib.peak_threads > before.threads  # the thread count can see a leak
    if command is not None:
        assert command.peak_temp_files > 0  # the temporary-file count can see a leak
    assert report.verdicts["reference plain"] == {Verdict.PASS}
    assert report.verdicts["reference starttls"] == {Verdict.PASS}
    assert report.verdicts["reference implicit"] == {Verdict.PASS}
    assert all(
        report.verdicts[k] == {Verdict.FAIL} for k in report.verdicts if k.startswith("hostile")
    )
    assert in_loop["tasks before"] == 0 and in_loop["tasks after"] == 0
    assert in_loop["fds after"] == in_loop["fds before"]
    assert (after.fds, after.threads, after.temp_files) == (
        before.fds,
        before.threads,
        before.temp_files,
    )


# --- a ResourceWarning from a helper is an error ------------------------------------------------

LEAKY_TESTS = """
import asyncio, socket, ssl, sys
sys.path.insert(0, {tests_dir!r})
from hostile.conftest import Conn
from harness.adapters.base import Target


def test_leaks_a_socket():
    sock = socket.socket()
    del sock


async def _conn(close):
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        target = Target(
            host="127.0.0.1",
            port=listener.getsockname()[1],
            ca_file="",
            ssl_context=ssl.create_default_context(),
        )
        conn = await Conn.open(target, tls=False)
        if close:
            await conn.close()
    finally:
        listener.close()


def test_leaks_a_conn():
    asyncio.run(_conn(close=False))


def test_closes_its_conn():
    asyncio.run(_conn(close=True))
"""


def test_an_unclosed_socket_in_a_helper_fails_the_suite(tmp_path: Path) -> None:
    """Run three tests under this project's pytest configuration (filterwarnings = error):
    a socket left open, a Conn (this suite's client helper) left open, and one closed
    properly. The two leaks must fail with the ResourceWarning named."""
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS.format(tests_dir=str(TESTS_DIR)))
    root = TESTS_DIR.parent
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tmp_path / "test_leaky.py"),
            "-c",
            str(root / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:benchmark",
            "-p",
            "no:xdist",
            "-q",
            "-rfE",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        # A clean pytest: not a worker of this run's xdist, no PYTEST_ADDOPTS from CI.
        env={k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "XDIST_"))},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "2 failed, 1 passed" in out, out
    assert "FAILED test_leaky.py::test_leaks_a_socket" in out, out
    assert "FAILED test_leaky.py::test_leaks_a_conn" in out, out
    assert "ResourceWarning" in out and "unclosed" in out, out


# --- the server's socket outlives the run when the client holds a connection it never reads -----


class _Stubborn(Hostile):
    """Sends EHLO, never reads the (16 MB) reply, and keeps its socket open even after the runner
    cancels it: a client process the adapter could not kill, say. The test closes it later."""

    def __init__(self) -> None:
        super().__init__("stubborn", PLAIN, hostile._never_reads)
        self.kept: list[Conn] = []

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        conn = await Conn.open(target, tls=False)
        self.kept.append(conn)
        await get_ready(conn, PLAIN, target)
        await conn.send(b"EHLO client.example.com\r\n")
        await forever()
        raise AssertionError("unreachable")


def test_the_server_socket_is_closed_when_the_run_ends_even_if_the_client_holds_on() -> None:
    client = _Stubborn()

    async def main() -> tuple[int, int]:
        before = fds()
        try:
            result = await run_scenario(hostile._with_big_ehlo_reply(PLAIN), client)
            assert result.verdict is Verdict.FAIL
            assert result.failure is not None and result.failure.kind == "timeout"
            # Only the client's own socket may still be open, not the server's end of it.
            after_run = await settle(fds, before + 1, seconds=0.5)
        finally:
            for conn in client.kept:
                conn.writer.transport.abort()
            await settle(fds, before)  # the server's end goes once the client is gone
        return before, after_run

    before, after_run = asyncio.run(main())
    assert after_run == before + 1, f"{after_run - before - 1} server socket(s) outlived the run"


def test_a_closed_connection_is_freed_at_once_not_a_grace_period_later() -> None:
    # The server arms a reset for a close that hangs (CLOSE_GRACE); once the connection is gone
    # that timer must go too, or each ended connection (parser, playback, buffers) stays alive
    # for the grace period: 1,000 sessions/s would keep 1,000 of them.
    from fake_servers.connection import CLOSE_GRACE
    from fake_servers.scripted import ScriptedServer

    async def main() -> bool:
        async with ScriptedServer(make_scenario(PLAIN)) as server:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            await reader.readline()  # the greeting: the connection object exists
            [connection] = server._live
            ref = weakref.ref(connection)
            del connection
            writer.write(b"QUIT\r\n")  # off-script: the server answers and closes
            await reader.read()
            writer.close()
            await writer.wait_closed()
            await server.sessions[0].done.wait()
            deadline = time.monotonic() + CLOSE_GRACE / 4
            while ref() is not None and time.monotonic() < deadline:
                gc.collect()
                await asyncio.sleep(0.01)
            return ref() is None  # asked while the loop runs: closing it would free the timer

    assert asyncio.run(main()), "the ended connection is still referenced (by its reset timer?)"
