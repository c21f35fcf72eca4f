"""Memory bounds against a hostile client: the DATA size limit, and the cost of reaching it.

(The command-line limit is covered by the 10 MB line in test_hostile_clients.py.)
"""

from __future__ import annotations

from typing import Any

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import Target
from harness.protocol import commands
from harness.protocol.buffer import LineBuffer
from harness.protocol.commands import DEFAULT_MAX_DATA, CommandParser
from harness.protocol.events import DataReceived, NeedData
from harness.results import Verdict
from harness.transcript import Direction

from .conftest import PLAIN, Conn, Hostile, make_scenario, run_timed

MB = 1024 * 1024


async def _endless_message(conn: Conn, target: Target) -> None:
    for command, code in [
        (b"EHLO client.example.com\r\n", 250),
        (b"MAIL FROM:<a@example.com>\r\n", 250),
        (b"RCPT TO:<b@example.com>\r\n", 250),
        (b"DATA\r\n", 354),
    ]:
        await conn.send(command)
        await conn.expect(code)
    line = b"x" * 998 + b"\r\n"
    chunk = line * (MB // len(line))
    sent = 0
    while sent < DEFAULT_MAX_DATA + 8 * MB:  # past the limit; the server must stop us first
        await conn.send(chunk)
        sent += len(chunk)
    await conn.until_closed()


def test_a_message_past_the_data_limit_is_cut_there(tls_material: TlsMaterial) -> None:
    # Generous limits: this test is about the size bound, not the deadline (see the next test
    # for why it currently takes seconds).
    scenario = make_scenario(PLAIN, name="endless-message", total=30, read=10)
    run = run_timed(scenario, Hostile("endless-message", PLAIN, _endless_message), tls_material)

    assert run.result.verdict is Verdict.FAIL
    failure = run.result.failure
    assert failure is not None and failure.kind == "protocol", failure
    assert f"DATA content larger than the limit of {DEFAULT_MAX_DATA} octets" in failure.message
    # Bounded: the server stopped reading within a couple of reads of the limit.
    received = len(run.result.transcript.sent_by(Direction.CLIENT))
    assert received < DEFAULT_MAX_DATA + 1 * MB, received
    assert run.seconds < scenario.limits.total


class _CountingBuffer(LineBuffer):
    """A LineBuffer that counts the octets it hands out (every method that returns bytes
    copies them out of the buffer)."""

    copied = 0

    def peek(self, *args: Any, **kwargs: Any) -> bytes:
        out = super().peek(*args, **kwargs)
        _CountingBuffer.copied += len(out)
        return out

    def take(self, n: int) -> bytes:
        out = super().take(n)
        _CountingBuffer.copied += len(out)
        return out

    def pop_line(self) -> bytes | None:
        out = super().pop_line()
        _CountingBuffer.copied += len(out or b"")
        return out


def test_buffering_a_large_message_costs_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """2 MB of DATA content fed in 4 KB pieces (as small TLS records arrive) may be copied out
    of the receive buffer a small constant number of times, not once per piece. Counted in
    octets, not timed, so it does not depend on the machine."""
    monkeypatch.setattr(commands, "LineBuffer", _CountingBuffer)
    monkeypatch.setattr(_CountingBuffer, "copied", 0)
    parser = CommandParser()
    parser.start_data()
    piece = (b"y" * 1022 + b"\r\n") * 4
    size = 2 * MB
    for _ in range(size // len(piece)):
        parser.receive_data(piece)
        assert isinstance(parser.next_event(), NeedData)
    parser.receive_data(b".\r\n")
    event = parser.next_event()

    assert isinstance(event, DataReceived) and len(event.wire) == size
    assert _CountingBuffer.copied <= 3 * size, (
        f"{_CountingBuffer.copied / MB:.0f} MB copied out of the buffer for a {size // MB} MB message"
    )
