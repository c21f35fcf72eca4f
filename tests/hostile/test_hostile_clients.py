"""Hostile clients: every one must end in a `fail` naming the cause, within the time limit.

Each case runs in the three transports (plain, STARTTLS, implicit TLS) unless it is about TLS
itself. The runs are bounded by ``limits.total`` plus a generous slack; the measured durations
are printed in the terminal summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import ssl

import pytest

from fake_servers.limits import DEFAULT_MAX_CONNECTIONS
from fake_servers.tls import TlsMaterial
from harness.adapters.base import Target
from harness.outcome import ClientOutcome
from harness.protocol.buffer import DEFAULT_MAX_LINE
from harness.results import Result, Verdict
from harness.scenario.model import ClientTask, Send
from harness.transcript import Direction

from .conftest import (
    IMPLICIT,
    MESSAGE,
    MODES,
    PLAIN,
    SLACK,
    STARTTLS,
    Conn,
    Hostile,
    forever,
    make_scenario,
    run_timed,
)

GARBAGE = random.Random(6).randbytes(4096)  # first LF at offset 124, no CR before it


def _failed(result: Result, kind: str, *texts: str) -> None:
    """The verdict is FAIL, the failure has ``kind``, and its message names every text."""
    assert result.verdict is Verdict.FAIL, (result.verdict, result.message, result.notes)
    assert result.failure is not None, result.message
    assert result.failure.kind == kind, result.failure
    for text in texts:
        assert text in result.failure.message, result.failure
    assert result.message == result.failure.message


def _within(seconds: float, total: float) -> None:
    assert seconds < total + SLACK, f"the run took {seconds:.2f} s; limits.total is {total:g} s"


# --- never sends ------------------------------------------------------------------------------


async def _silent(conn: Conn, target: Target) -> None:
    await forever()


@pytest.mark.parametrize("mode", MODES)
def test_a_client_that_never_sends(mode: str, tls_material: TlsMaterial) -> None:
    scenario = make_scenario(mode, name="silent")
    run = run_timed(scenario, Hostile("silent", mode, _silent), tls_material)

    _failed(run.result, "timeout", "the client sent nothing for 1 s")
    assert "EHLO {domain}" in run.result.failure.expected  # type: ignore[union-attr]
    _within(run.seconds, scenario.limits.total)


# --- drips one byte a second ------------------------------------------------------------------


async def _drip(conn: Conn, target: Target) -> None:
    for byte in b"EHLO client.example.com\r\n":
        await conn.send(bytes([byte]))
        await asyncio.sleep(1.0)


@pytest.mark.parametrize("mode", MODES)
def test_a_client_that_sends_one_byte_a_second(mode: str, tls_material: TlsMaterial) -> None:
    # Each byte comes well within limits.read, so only the session deadline can end this.
    scenario = make_scenario(mode, name="drip", total=3, read=1.5)
    run = run_timed(scenario, Hostile("drip", mode, _drip), tls_material)

    _failed(run.result, "timeout", "the session went past limits.total = 3 s")
    received = run.result.transcript.sent_by(Direction.CLIENT)
    assert b"EHLO client.example.com\r\n".startswith(received[-3:])
    _within(run.seconds, scenario.limits.total)


# --- a 10 MB line without CRLF -----------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024


async def _long_line(conn: Conn, target: Target) -> None:
    await conn.send(b"EHLO " + b"a" * TEN_MB)
    await conn.until_closed()


@pytest.mark.parametrize("mode", MODES)
def test_a_ten_megabyte_line_is_cut_at_the_line_limit(mode: str, tls_material: TlsMaterial) -> None:
    scenario = make_scenario(mode, name="long-line")
    run = run_timed(scenario, Hostile("long-line", mode, _long_line), tls_material)

    _failed(run.result, "protocol", f"line longer than {DEFAULT_MAX_LINE} octets")
    # Memory stays bounded: the server stopped reading soon after the line limit.
    received = len(run.result.transcript.sent_by(Direction.CLIENT))
    assert received < 1024 * 1024, f"the server read {received} octets of the line"
    _within(run.seconds, scenario.limits.total)


# --- binary garbage ----------------------------------------------------------------------------


async def _garbage(conn: Conn, target: Target) -> None:
    await conn.send(GARBAGE)
    await conn.until_closed()


@pytest.mark.parametrize("mode", MODES)
def test_binary_garbage_is_a_protocol_failure(mode: str, tls_material: TlsMaterial) -> None:
    scenario = make_scenario(mode, name="garbage")
    run = run_timed(scenario, Hostile("garbage", mode, _garbage), tls_material)

    _failed(run.result, "protocol", "bare LF: lines must end in CRLF")
    _within(run.seconds, scenario.limits.total)


GARBAGE_LINE = bytes(b for b in GARBAGE if b not in b"\r\n")[:400] + b"\r\n"


async def _garbage_line(conn: Conn, target: Target) -> None:
    await conn.send(GARBAGE_LINE)
    await conn.until_closed()


@pytest.mark.parametrize("mode", MODES)
def test_a_binary_garbage_line_is_an_unexpected_command(
    mode: str, tls_material: TlsMaterial
) -> None:
    scenario = make_scenario(mode, name="garbage-line")
    run = run_timed(scenario, Hostile("garbage-line", mode, _garbage_line), tls_material)

    _failed(run.result, "unexpected", "unexpected command")
    failure = run.result.failure
    assert failure is not None
    assert "EHLO {domain}" in failure.expected
    assert failure.actual.encode("utf-8", "surrogateescape") == GARBAGE_LINE[:-2]
    _within(run.seconds, scenario.limits.total)


# --- disconnects mid-command and mid-DATA -----------------------------------------------------


async def _half_a_command(conn: Conn, target: Target) -> None:
    await conn.send(b"EHLO clie")
    # then close (Hostile.deliver closes on return)


@pytest.mark.parametrize("mode", MODES)
def test_disconnecting_mid_command(mode: str, tls_material: TlsMaterial) -> None:
    scenario = make_scenario(mode, name="mid-command")
    run = run_timed(scenario, Hostile("mid-command", mode, _half_a_command), tls_material)

    _failed(run.result, "protocol", "connection closed in the middle of a command", "EHLO clie")
    _within(run.seconds, scenario.limits.total)


async def _half_a_message(conn: Conn, target: Target) -> None:
    for command, code in [
        (b"EHLO client.example.com\r\n", 250),
        (b"MAIL FROM:<a@example.com>\r\n", 250),
        (b"RCPT TO:<b@example.com>\r\n", 250),
        (b"DATA\r\n", 354),
    ]:
        await conn.send(command)
        await conn.expect(code)
    await conn.send(MESSAGE[: len(MESSAGE) // 2])


@pytest.mark.parametrize("mode", MODES)
def test_disconnecting_mid_data(mode: str, tls_material: TlsMaterial) -> None:
    scenario = make_scenario(mode, name="mid-data")
    run = run_timed(scenario, Hostile("mid-data", mode, _half_a_message), tls_material)

    _failed(run.result, "closed", "the client closed the connection before the script ended")
    failure = run.result.failure
    assert failure is not None and "DATA content" in failure.expected
    notes = run.result.transcript.sent_by(Direction.NOTE)
    assert b"closed the connection inside the message" in notes
    _within(run.seconds, scenario.limits.total)


# --- 10,000 commands in one write ---------------------------------------------------------------

ONE_NOOP = """
  - client: {match: NOOP, optional: true}
  - server: "250 2.0.0 noop ok"
"""


async def _flood(conn: Conn, target: Target) -> None:
    await conn.send(b"EHLO client.example.com\r\n")
    await conn.expect(250)
    await conn.send(b"NOOP\r\n" * 10_000)
    await conn.until_closed()


@pytest.mark.parametrize("mode", MODES)
def test_ten_thousand_pipelined_noops_fail_at_the_first_unexpected_one(
    mode: str, tls_material: TlsMaterial
) -> None:
    scenario = make_scenario(mode, name="flood", after_ehlo=ONE_NOOP.strip("\n"))
    run = run_timed(scenario, Hostile("flood", mode, _flood), tls_material)

    _failed(run.result, "unexpected", "unexpected command")
    failure = run.result.failure
    assert failure is not None
    assert failure.actual == "NOOP" and "MAIL FROM:<a@example.com>" in failure.expected
    # The first NOOP was the script's one optional NOOP; the second ended the session.
    sent = run.result.transcript.sent_by(Direction.SERVER)
    assert sent.count(b"250 2.0.0 noop ok") == 1
    assert sent.endswith(
        b"421 4.3.0 smtp-harness: the client did not follow the script, closing\r\n"
    )
    _within(run.seconds, scenario.limits.total)


# --- never reads while the server writes a large reply ------------------------------------------

# 16 MB: far more than a loopback connection buffers for a client that never reads (the send
# buffer grows to tcp_wmem's max, 4 MB by default; the receive buffer only grows as the
# application reads), so the server's write really blocks.
BIG_REPLY = b"".join(b"250-" + b"x" * 1018 + b"\r\n" for _ in range(16 * 1024)) + b"250 SIZE\r\n"


def _with_big_ehlo_reply(mode: str):  # type: ignore[no-untyped-def]
    scenario = make_scenario(mode, name="never-reads")
    steps = list(scenario.exchange)
    # The session's EHLO reply (after STARTTLS, the second one) becomes a 16 MB reply.
    index = max(
        i
        for i, s in enumerate(steps)
        if isinstance(s, Send) and s.data.endswith(b"250 PIPELINING\r\n")
    )
    steps[index] = dataclasses.replace(steps[index], data=BIG_REPLY)
    return dataclasses.replace(scenario, exchange=tuple(steps))


async def _never_reads(conn: Conn, target: Target) -> None:
    await conn.send(b"EHLO client.example.com\r\n")
    await forever()


@pytest.mark.parametrize("mode", MODES)
def test_a_client_that_never_reads_a_large_reply(mode: str, tls_material: TlsMaterial) -> None:
    scenario = _with_big_ehlo_reply(mode)
    run = run_timed(scenario, Hostile("never-reads", mode, _never_reads), tls_material)

    _failed(run.result, "timeout", "the client read nothing for 1 s")
    _within(run.seconds, scenario.limits.total)


# --- TLS opened with garbage ------------------------------------------------------------------

TLS_GARBAGE = b"\x00\x01garbage, not a ClientHello\r\n" + GARBAGE


async def _garbage_instead_of_client_hello(conn: Conn, target: Target) -> None:
    await conn.send(TLS_GARBAGE)
    await conn.until_closed()


async def _garbage_after_starttls(conn: Conn, target: Target) -> None:
    await conn.expect(220)
    await conn.send(b"EHLO client.example.com\r\n")
    await conn.expect(250)
    await conn.send(b"STARTTLS\r\n")
    await conn.expect(220)
    await _garbage_instead_of_client_hello(conn, target)


@pytest.mark.parametrize("mode", [STARTTLS, IMPLICIT])
def test_tls_opened_with_garbage(mode: str, tls_material: TlsMaterial) -> None:
    behaviour = _garbage_instead_of_client_hello if mode == IMPLICIT else _garbage_after_starttls
    scenario = make_scenario(mode, name="tls-garbage")
    run = run_timed(scenario, Hostile("tls-garbage", mode, behaviour, raw=True), tls_material)

    what = "implicit TLS" if mode == IMPLICIT else "STARTTLS"
    _failed(run.result, "tls", f"{what} handshake failed: SSLError")
    _within(run.seconds, scenario.limits.total)


def test_implicit_tls_client_that_never_sends_a_client_hello(tls_material: TlsMaterial) -> None:
    mode = IMPLICIT
    scenario = make_scenario(mode, name="no-client-hello")
    run = run_timed(scenario, Hostile("no-client-hello", mode, _silent, raw=True), tls_material)

    _failed(run.result, "tls", "implicit TLS handshake failed", "TimeoutError")
    _within(run.seconds, scenario.limits.total)


# --- drips a real ClientHello, one byte a second ------------------------------------------------


def _client_hello(target: Target) -> bytes:
    """The first flight of a real TLS handshake with the target's client context."""
    outgoing = ssl.MemoryBIO()
    tls = target.ssl_context.wrap_bio(
        ssl.MemoryBIO(), outgoing, server_hostname=target.server_hostname
    )
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


async def _drip_client_hello(conn: Conn, target: Target) -> None:
    for byte in _client_hello(target):
        await conn.send(bytes([byte]))
        await asyncio.sleep(1.0)


async def _drip_client_hello_after_starttls(conn: Conn, target: Target) -> None:
    await conn.expect(220)
    await conn.send(b"EHLO client.example.com\r\n")
    await conn.expect(250)
    await conn.send(b"STARTTLS\r\n")
    await conn.expect(220)
    await _drip_client_hello(conn, target)


@pytest.mark.parametrize("mode", [STARTTLS, IMPLICIT])
def test_a_client_hello_dripped_one_byte_a_second(mode: str, tls_material: TlsMaterial) -> None:
    behaviour = _drip_client_hello if mode == IMPLICIT else _drip_client_hello_after_starttls
    scenario = make_scenario(mode, name="tls-drip")
    run = run_timed(scenario, Hostile("tls-drip", mode, behaviour, raw=True), tls_material)

    what = "implicit TLS" if mode == IMPLICIT else "STARTTLS"
    _failed(run.result, "tls", f"{what} handshake failed", "TimeoutError")
    _within(run.seconds, scenario.limits.total)


# --- many connections at once (beyond the brief: a client that floods connections) -------------


class _ManyConnections(Hostile):
    """Opens ``count`` connections at once and sends nothing on any of them."""

    def __init__(self, count: int) -> None:
        super().__init__("many-connections", PLAIN, _silent)
        self.count = count

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        conns: list[Conn] = []
        try:
            for _ in range(self.count):
                conns.append(await Conn.open(target, tls=False))
            await forever()
        finally:
            for conn in conns:
                await conn.close()
        raise AssertionError("unreachable")


def test_a_client_that_opens_two_hundred_silent_connections(tls_material: TlsMaterial) -> None:
    scenario = make_scenario(PLAIN, name="many-connections")
    run = run_timed(scenario, _ManyConnections(200), tls_material)

    _failed(run.result, "timeout", "the client sent nothing for 1 s")
    assert DEFAULT_MAX_CONNECTIONS >= 200  # so none of them is refused here
    assert any("opened 200 connections;" in note for note in run.result.notes), run.result.notes
    _within(run.seconds, scenario.limits.total)


# --- garbage under the TLS layer once TLS is up -------------------------------------------------

# An application-data record header and 32 octets that decrypt to nothing: a bad record MAC.
BAD_RECORD = b"\x17\x03\x03\x00\x20" + bytes(32)


async def _bad_tls_record(conn: Conn, target: Target) -> None:
    conn.writer.write(BAD_RECORD)  # raw, under Conn's TLS layer
    await conn.writer.drain()
    await conn.until_closed()


@pytest.mark.parametrize("mode", [STARTTLS, IMPLICIT])
def test_a_bad_tls_record_after_the_handshake(mode: str, tls_material: TlsMaterial) -> None:
    scenario = make_scenario(mode, name="bad-record")
    run = run_timed(scenario, Hostile("bad-record", mode, _bad_tls_record), tls_material)

    assert run.result.verdict is Verdict.FAIL
    failure = run.result.failure
    assert failure is not None and "EHLO {domain}" in failure.expected
    assert "SSLError" in failure.message and "bad record mac" in failure.message
    _within(run.seconds, scenario.limits.total)


@pytest.mark.parametrize("mode", [STARTTLS, IMPLICIT])
def test_a_bad_tls_record_is_a_tls_failure(mode: str, tls_material: TlsMaterial) -> None:
    scenario = make_scenario(mode, name="bad-record-kind")
    run = run_timed(scenario, Hostile("bad-record", mode, _bad_tls_record), tls_material)

    _failed(run.result, "tls", "bad record mac")
