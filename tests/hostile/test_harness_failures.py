"""Failures of the harness are never the client's (issue 12 item 5).

A crash inside the server, or a script whose own waits cannot fit in its time limit, is graded
``error`` with what happened and the transcript so far; a session ended from outside (Ctrl-C on
``serve``, a fixture's teardown, the end of a run that held a stalled client) prints no
traceback. Real sockets and real clients throughout; the faults are in the scenario.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from fake_servers.controller import ServerController
from fake_servers.tls import TlsMaterial
from harness.adapters.base import Capabilities, ClientAdapter, Target
from harness.adapters.reference import ReferenceAdapter
from harness.adapters.smtplib_adapter import SmtplibAdapter
from harness.corpus import corpus_path
from harness.faults import parse_fault
from harness.outcome import ClientOutcome
from harness.results import Result, Verdict
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario
from harness.scenario.model import ClientStep, ClientTask, Delay, Scenario

SIMPLE = corpus_path() / "basic" / "bcc-three-recipients.yaml"
CLIENTS = [ReferenceAdapter(), SmtplibAdapter()]


def _quick(scenario: Scenario) -> Scenario:
    return replace(scenario, limits=replace(scenario.limits, total=3.0, read=1.0, grace=1.0))


def _run(scenario: Scenario, adapter: ClientAdapter, tls: TlsMaterial, *faults: str) -> Result:
    return asyncio.run(
        run_scenario(scenario, adapter, tls=tls, faults=tuple(map(parse_fault, faults)))
    )


def _asyncio_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What asyncio logged as an error: an exception escaping a handler, a task never awaited."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _with_matcher(scenario: Scenario, kind: str) -> Scenario:
    """The scenario with its first client step's matcher replaced: a step the loader would
    never build, the way a bug in the server would show (playback raises on the EHLO)."""
    steps = list(scenario.exchange)
    first = next(i for i, step in enumerate(steps) if isinstance(step, ClientStep))
    steps[first] = replace(steps[first], kind=kind)
    return replace(scenario, exchange=tuple(steps))


@pytest.mark.parametrize("adapter", CLIENTS, ids=lambda a: a.name)
def test_an_exception_inside_the_server_is_an_error_with_the_transcript(
    adapter: ClientAdapter, tls_material: TlsMaterial, caplog: pytest.LogCaptureFixture
) -> None:
    scenario = _quick(_with_matcher(load_scenario(SIMPLE), "no-such-matcher"))
    result = _run(scenario, adapter, tls_material)
    assert result.verdict is Verdict.ERROR, result.message
    assert re.match(
        r"harness error: KeyError: 'no-such-matcher' at harness/\S+\.py:\d+$", result.message
    )
    sent = b"".join(e.data for e in result.transcript.entries)
    assert b"220 " in sent and b"EHLO" in sent.upper()  # what happened up to the crash
    assert _asyncio_errors(caplog) == []


@pytest.mark.parametrize("seconds", [1e9, float("nan"), 2.5])
@pytest.mark.parametrize("adapter", CLIENTS, ids=lambda a: a.name)
def test_scripted_waits_past_the_time_limit_are_an_error(
    adapter: ClientAdapter, seconds: float, tls_material: TlsMaterial
) -> None:
    # 2.5 s twice: each fits in limits.total = 3 s, together they do not.
    scenario = _quick(load_scenario(SIMPLE))
    steps = list(scenario.exchange)
    steps.insert(1, Delay(seconds=seconds))
    if seconds == 2.5:
        steps.insert(3, Delay(seconds=seconds))
    started = time.monotonic()
    result = _run(replace(scenario, exchange=tuple(steps)), adapter, tls_material)
    assert result.verdict is Verdict.ERROR, result.message
    assert "past limits.total = 3 s: no client can finish the script in time" in result.message
    assert time.monotonic() - started < 3.0 + 1.0 + 1.0 + 4.0  # total, read, grace, slack


def test_a_delay_fault_longer_than_the_limit_is_an_error(tls_material: TlsMaterial) -> None:
    result = _run(_quick(load_scenario(SIMPLE)), ReferenceAdapter(), tls_material, "delay=5@2")
    assert result.verdict is Verdict.ERROR, result.message
    assert re.search(r"the delay before a write \(line \d+\), 5 s,", result.message)


class _ReportsAndHoldsOn:
    """Reports failed after its EHLO goes unanswered, and leaves the connection open: the
    runner then ends the session itself, with a cancellation."""

    name = "holds-on"
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.held: list[asyncio.StreamWriter] = []

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        self.held.append(writer)
        await reader.readuntil(b"\r\n")
        writer.write(b"EHLO client.example.com\r\n")
        await writer.drain()
        return ClientOutcome.failure(None, "no EHLO reply; given up", {}, [])


def test_the_end_of_a_run_on_a_stalled_session_logs_nothing(
    tls_material: TlsMaterial, caplog: pytest.LogCaptureFixture
) -> None:
    client = _ReportsAndHoldsOn()

    async def main() -> Result:
        try:
            return await run_scenario(
                _quick(load_scenario(SIMPLE)),
                client,
                tls=tls_material,
                faults=(parse_fault("stall@2"),),
            )
        finally:
            for writer in client.held:
                writer.close()

    result = asyncio.run(main())
    assert result.verdict is Verdict.PASS, result.message
    assert "server stopped" in [e.data.decode() for e in result.transcript.entries]
    assert _asyncio_errors(caplog) == []


def _connect_and_hold(host: str, port: int) -> socket.socket:
    """A real client mid-session: greeted, EHLO sent and answered, then quiet."""
    client = socket.create_connection((host, port), timeout=5)
    client.recv(1024)
    client.sendall(b"EHLO client.example.com\r\n")
    time.sleep(0.3)
    return client


def test_stopping_a_fixture_server_with_a_live_session_logs_nothing(
    tls_material: TlsMaterial, caplog: pytest.LogCaptureFixture
) -> None:
    server = ServerController(load_scenario(SIMPLE), tls=tls_material)
    server.start()
    client = _connect_and_hold(server.host, server.port)
    try:
        server.stop()  # what the smtp_server fixture's teardown does
    finally:
        client.close()
    assert _asyncio_errors(caplog) == []


def test_ctrl_c_on_serve_with_a_live_session_prints_no_traceback() -> None:
    command = [sys.executable, "-c", "from harness.cli import main; raise SystemExit(main())"]
    proc = subprocess.Popen(
        [*command, "serve", str(SIMPLE), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = None
        for line in proc.stdout:
            m = re.search(r"on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        assert port is not None, "serve printed no address"
        client = _connect_and_hold("127.0.0.1", port)
        try:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        finally:
            client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in err, err
    assert "Exception" not in err, err
    assert proc.returncode == 0, (out, err)
