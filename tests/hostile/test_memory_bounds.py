"""Memory bounds that hold across a session and across a server's life: BDAT chunks counted
together against limits.message, the connections one server takes at once, and the sessions
``serve`` keeps."""

from __future__ import annotations

import asyncio
import contextlib

from fake_servers.limits import DEFAULT_MAX_CONNECTIONS
from fake_servers.scripted import ScriptedServer
from fake_servers.tls import TlsMaterial
from harness.adapters.base import Target
from harness.protocol.commands import CommandParser
from harness.protocol.events import NeedData
from harness.results import Verdict
from harness.scenario.loader import parse_scenario
from harness.serving import SESSIONS_KEPT, SessionTally, SessionWatch
from harness.transcript import Direction

from .conftest import Conn, Hostile, run_timed

MB = 1024 * 1024
LIMIT = 2 * MB

_BDAT_SCENARIO = f"""
version: 1
id: hostile.bdat-past-the-limit
limits: {{total: 20, read: 5, message: {LIMIT}}}
client:
  mail_from: a@example.com
  rcpt_to: [b@example.com]
  message: "Subject: hostile\\n\\nhello\\n"
expect: {{outcome: delivered}}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {{domain}}"
  - server: ["250-mx.example.com", "250 CHUNKING"]
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 2.1.0 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 2.1.5 ok"
  - client: {{bdat: message}}
  - server: "250 2.0.0 queued"
  - client: {{match: QUIT, optional: true}}
  - server: "221 2.0.0 bye"
"""


async def _endless_bdat(conn: Conn, target: Target) -> None:
    """Chunks of half the limit each, never LAST: each alone is under the limit."""
    for command, code in [
        (b"EHLO client.example.com\r\n", 250),
        (b"MAIL FROM:<a@example.com>\r\n", 250),
        (b"RCPT TO:<b@example.com>\r\n", 250),
    ]:
        await conn.send(command)
        await conn.expect(code)
    chunk = b"x" * (LIMIT // 2)
    for _ in range(8):  # 4 MB, twice the limit
        await conn.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        reply = await conn.reply()
        if reply is None or reply.code != 250:
            break
    await conn.until_closed()


def test_bdat_chunks_are_added_up_against_the_message_limit(tls_material: TlsMaterial) -> None:
    scenario = parse_scenario(_BDAT_SCENARIO, "bdat-past-the-limit.yaml")
    client = Hostile("endless-bdat", "plain", _endless_bdat)
    run = run_timed(scenario, client, tls_material)

    assert run.result.verdict is Verdict.FAIL
    failure = run.result.failure
    assert failure is not None and failure.kind == "protocol", failure
    assert f"add up to {LIMIT + LIMIT // 2} octets, past the limit of {LIMIT}" in failure.message
    # Refused when the third chunk was announced, before its octets were read, with a 552.
    received = len(run.result.transcript.sent_by(Direction.CLIENT))
    assert received < LIMIT + LIMIT // 2 + MB, received
    said = run.result.transcript.sent_by(Direction.SERVER)
    assert b"552 5.3.4 " in said, said[-200:]


def test_the_bdat_total_starts_again_with_each_message() -> None:
    """Two messages of 3/4 of the limit each, and chunks abandoned by RSET: none refused."""
    parser = CommandParser(max_data=LIMIT)
    part = LIMIT * 3 // 4
    wire = b"".join(
        [
            b"BDAT %d LAST\r\n" % part + b"x" * part,
            b"BDAT %d\r\n" % part + b"x" * part,
            b"RSET\r\n",
            b"BDAT %d LAST\r\n" % part + b"x" * part,
        ]
    )
    parser.receive_data(wire)
    events = []
    while not isinstance(event := parser.next_event(), NeedData):
        events.append(event)
    assert [type(e).__name__ for e in events] == [
        "Command", "ChunkReceived", "Command", "ChunkReceived", "Command", "Command", "ChunkReceived"
    ]  # fmt: skip


def test_connections_past_the_limit_get_a_421_and_are_closed(tls_material: TlsMaterial) -> None:
    scenario = parse_scenario(_BDAT_SCENARIO, "connections.yaml")

    async def main() -> tuple[list[bytes], bytes, int, int]:
        async with ScriptedServer(scenario, tls=tls_material) as server:
            held = [
                await asyncio.open_connection(server.host, server.port)
                for _ in range(DEFAULT_MAX_CONNECTIONS)
            ]
            try:
                greetings = [await r.readline() for r, _ in held]
                reader, writer = await asyncio.open_connection(server.host, server.port)
                refused = await asyncio.wait_for(reader.read(), 5)  # all of it, up to the close
                writer.close()
            finally:
                for _, w in held:
                    w.close()
            return greetings, refused, server.refused, len(server.sessions)

    greetings, refused, count, sessions = asyncio.run(main())
    assert all(g.startswith(b"220 ") for g in greetings)
    assert refused.startswith(b"421 4.7.0 ") and b"too many connections" in refused, refused
    assert (count, sessions) == (1, DEFAULT_MAX_CONNECTIONS)


def test_serve_keeps_the_last_sessions_and_counts_every_verdict(
    tls_material: TlsMaterial,
) -> None:
    """What ``serve``'s loop does with a server that has seen many sessions: each is reported
    once, in order, and only the last SESSIONS_KEPT stay in memory."""
    scenario = parse_scenario(_BDAT_SCENARIO, "many-sessions.yaml")
    count = SESSIONS_KEPT + 50

    async def main() -> tuple[list[int], int, int]:
        async with ScriptedServer(scenario, tls=tls_material) as server:
            watch = SessionWatch(server.sessions)
            tally = SessionTally()
            reported: list[int] = []
            for _ in range(count):
                reader, writer = await asyncio.open_connection(server.host, server.port)
                await reader.readline()
                writer.write(b"NOOP\r\n")  # off the script: the session fails and ends
                await reader.read()
                writer.close()
                await writer.wait_closed()
            await asyncio.wait_for(server.sessions[-1].done.wait(), 5)
            for session in watch.ended():
                reported.append(session.number)
                tally.add("failed" if session.failure else "passed")
            return reported, len(server.sessions), tally.counts["failed"]

    reported, kept, failed = asyncio.run(main())
    assert reported == list(range(1, count + 1))
    assert kept == SESSIONS_KEPT
    assert failed == count


_DELAYED_SCENARIO = """
version: 1
id: hostile.input-during-a-delay
limits: {total: 20, read: 5}
client:
  mail_from: a@example.com
  rcpt_to: [b@example.com]
  message: "Subject: hostile\\n\\nhello\\n"
expect: {outcome: delivered}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: {lines: ["250 mx.example.com"], delay: 0.5}
  - client: "NOOP"
  - server: "250 2.0.0 ok"
  - client: {match: QUIT, optional: true}
  - server: "221 2.0.0 bye"
"""


def test_input_during_a_scripted_delay_is_read_after_it_and_a_flood_is_held_in_tcp(
    tls_material: TlsMaterial,
) -> None:
    """While the server waits out a delay, what the client sends is held and read afterwards,
    in order (a NOOP pipelined behind EHLO gets its reply after the delayed one). A client that
    floods meanwhile is stopped at the transport: the server holds a bounded amount, the rest
    waits in the socket buffers."""
    from fake_servers.connection import HELD_LIMIT

    scenario = parse_scenario(_DELAYED_SCENARIO, "input-during-a-delay.yaml")

    async def pipelined() -> tuple[bytes, bool]:
        async with ScriptedServer(scenario, tls=tls_material) as server:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            await reader.readline()
            writer.write(b"EHLO client.example.com\r\nNOOP\r\nQUIT\r\n")
            replies = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            session = await server.first_session(5)
            assert session is not None
            return replies, session.complete

    replies, complete = asyncio.run(pipelined())
    assert replies == b"250 mx.example.com\r\n250 2.0.0 ok\r\n221 2.0.0 bye\r\n"
    assert complete

    async def flood() -> int:
        async with ScriptedServer(scenario, tls=tls_material) as server:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            await reader.readline()
            writer.write(b"EHLO client.example.com\r\n")
            junk = b"x" * 65536
            peak = 0
            for _ in range(64):  # 4 MB, sent while the server waits out its delay
                writer.write(junk)
                with contextlib.suppress(TimeoutError):  # the server stopped reading
                    await asyncio.wait_for(writer.drain(), 0.05)
                (connection,) = server._live
                peak = max(peak, connection.held_size)
            writer.transport.abort()
            return peak

    peak = asyncio.run(flood())
    assert 0 < peak <= HELD_LIMIT + 4 * 65536, peak
