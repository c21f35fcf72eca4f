"""The reference client's driver on the transport level, against small servers on 127.0.0.1:
its one deadline moves forward with progress, a server that stops reading makes it wait (and,
past the limit, give up without the rest of the message ever arriving), and a session runs on
one timer and no task of its own."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.client.driver import ClientConfig, deliver
from harness.scenario.model import ClientTask, Outcome

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

SMALL = ClientTask(
    mail_from="a@example.com", rcpt_to=("b@example.com",), message=b"Subject: x\n\nx\n"
)
# Far more than the server's small receive buffer and the client's socket buffer take, so most of
# it waits in the client's transport, which pauses writing.
BIG = ClientTask(
    mail_from="a@example.com",
    rcpt_to=("b@example.com",),
    message=b"Subject: big\n\n" + (b"y" * 78 + b"\n") * (8 * 1024 * 1024 // 79),
)
SERVER_RECEIVE_BUFFER = 64 * 1024


async def _serve(
    handler: Handler, task: ClientTask, timeout: float, server_after: float = 0.0
) -> tuple[Any, float]:
    """``deliver`` against ``handler`` on a loopback port; the outcome and the seconds it took.
    The server gets ``server_after`` seconds to finish after the client has reported."""
    listener = socket.create_server(("127.0.0.1", 0))
    # Set before accept, so the accepted socket has it too: the server's kernel buffer stays
    # small, and a server that stops reading soon stops the client's writes.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SERVER_RECEIVE_BUFFER)
    handlers: set[asyncio.Task[None]] = set()

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(closing, sock=listener)
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        outcome = await deliver(task, ClientConfig(host="127.0.0.1", port=port, timeout=timeout))
        return outcome, time.monotonic() - started
    finally:
        if handlers and server_after:
            await asyncio.wait(handlers, timeout=server_after)
        server.close()
        await server.wait_closed()
        for running in handlers:  # a handler still waiting: its connection closes now
            running.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def _until_data(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Greet, answer EHLO, MAIL and RCPT with 250 and DATA with 354 (no PIPELINING offered)."""
    writer.write(b"220 test ESMTP\r\n")  # the last line of the greeting
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb == b"DATA":
            writer.write(b"354 go on\r\n")
            return
        writer.write(b"250 ok\r\n")
    raise AssertionError("the client closed before DATA")


async def _rest_of_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Read the message to its final dot, accept it, answer QUIT; the message's size."""
    size = 0
    while (line := await reader.readline()) != b".\r\n":
        assert line, "the client closed inside the message"
        size += len(line)
    writer.write(b"250 accepted\r\n")
    if (await reader.readline()).upper().startswith(b"QUIT"):
        writer.write(b"221 bye\r\n")
    writer.close()
    return size


def test_replies_that_trickle_in_line_by_line_within_the_limit_do_not_time_out() -> None:
    # Each line of the greeting comes within the limit, the whole greeting takes more than it:
    # the limit is on each wait, so the deadline moves forward with every line.
    gap, limit, lines = 0.3, 1.0, 6

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(lines - 1):
            writer.write(b"220-still greeting\r\n")
            await asyncio.sleep(gap)
        await _until_data(reader, writer)
        await _rest_of_session(reader, writer)

    outcome, took = asyncio.run(_serve(trickle, SMALL, limit))
    assert outcome.outcome is Outcome.DELIVERED, outcome.message
    assert took > limit  # the session as a whole outlasted one limit


def test_a_server_silent_past_the_limit_times_out_in_time() -> None:
    limit = 0.5

    async def silent_after_ehlo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 test ESMTP\r\n")
        await reader.readline()
        await asyncio.sleep(limit * 10)  # never answers EHLO within the limit

    outcome, took = asyncio.run(_serve(silent_after_ehlo, SMALL, limit))
    assert outcome.outcome is Outcome.FAILED
    assert outcome.message == "no reply from the server within 0.5 s"
    assert limit <= took < limit * 6  # generous: it gave up at its limit, not the server's end


def test_a_server_that_pauses_reading_gets_the_whole_message_once_it_reads_again() -> None:
    # The client's transport pauses writing while the server does not read; the rest of the
    # message (and the client's input) waits for resume_writing, within the limit.
    sizes: list[int] = []

    async def pauses(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _until_data(reader, writer)
        await asyncio.sleep(0.6)  # reads nothing for a while
        sizes.append(await _rest_of_session(reader, writer))

    outcome, _ = asyncio.run(_serve(pauses, BIG, 2.0))
    assert outcome.outcome is Outcome.DELIVERED, outcome.message
    assert sizes and sizes[0] > 8_000_000


def test_a_client_that_could_not_send_leaves_no_message_behind() -> None:
    # A server that stops reading inside the message: the client reports that it could not send,
    # and resets the connection, so the rest of the message (with its final dot, which would
    # make the server accept it) does not reach the server later, when it reads again.
    limit = 0.5
    received: list[bytes | BaseException] = []  # the message's last bytes, or the reset

    async def stops_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _until_data(reader, writer)
        await asyncio.sleep(limit * 4)  # past the client's limit; then reads all there is
        data = bytearray()
        try:
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 5.0):
                data += chunk
        except ConnectionResetError as exc:
            received.append(exc)
        received.append(bytes(data[-5:]))

    outcome, took = asyncio.run(_serve(stops_reading, BIG, limit, server_after=10.0))
    assert outcome.outcome is Outcome.FAILED
    assert outcome.message == "could not send: the server read nothing for 0.5 s"
    assert took < limit * 4
    assert received, "the server never saw the connection end"
    assert received[-1] != b"\r\n.\r\n", "the whole message reached the server after all"


def test_a_session_runs_on_one_timer_and_no_task_of_its_own() -> None:
    # No timeout context per read, no wait_for (a task on Python 3.11) around the close: the
    # connection's one deadline, moved forward by progress, is the only timer.
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _until_data(reader, writer)
        await _rest_of_session(reader, writer)

    async def main() -> tuple[Any, int, int]:
        loop = asyncio.get_running_loop()
        tasks = timers = 0
        call_at = loop.call_at

        def counting_call_at(*args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            nonlocal timers
            timers += 1
            return call_at(*args, **kwargs)

        def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Task[Any]:
            nonlocal tasks
            name = getattr(coro, "__qualname__", "")
            if not name.endswith((".closing", "_accept_connection2")):  # not the server's
                tasks += 1
            return asyncio.Task(coro, loop=loop)

        loop.call_at = counting_call_at  # type: ignore[method-assign]
        loop.set_task_factory(counting_factory)
        try:
            outcome, _ = await _serve(plain, SMALL, 5.0)
        finally:
            loop.set_task_factory(None)
            del loop.call_at
        return outcome, tasks, timers

    outcome, tasks, timers = asyncio.run(main())
    assert outcome.outcome is Outcome.DELIVERED, outcome.message
    assert (tasks, timers) == (0, 1)


def test_implicit_tls_sessions_log_no_asyncio_warning(caplog: Any) -> None:
    # The client's eof_received returned True over implicit TLS, where asyncio ignores it and
    # logs "returning true from eof_received() has no effect when using ssl" per session.
    from harness.adapters.reference import ReferenceAdapter
    from harness.results import Verdict
    from harness.runner import run_scenario
    from harness.scenario.loader import load_scenario

    scenario = load_scenario(id="auth.lowercase-mechanism-names")
    caplog.set_level("WARNING", logger="asyncio")
    result = asyncio.run(run_scenario(scenario, ReferenceAdapter()))
    assert result.verdict is Verdict.PASS, result.message
    assert not [r.getMessage() for r in caplog.records if r.name == "asyncio"]
