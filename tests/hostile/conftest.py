"""Hostile clients over real sockets on 127.0.0.1, plain and TLS (STARTTLS and implicit).

A hostile client is a ClientAdapter whose ``deliver`` does something no SMTP client should:
stay silent, drip bytes, send a line with no end, garbage, hang up half way, flood commands,
or never read. It is run by ``harness.runner.run_scenario`` exactly like a real client; the
tests then check the verdict, the failure's cause and how long the run took.

Every socket a helper here opens is closed in a ``finally`` (also on cancellation, which is
how the runner ends a client that hangs), and ``_collect_garbage`` runs a GC pass at each
test's teardown, so a leaked socket or transport shows up as a ResourceWarning in the test
that leaked it (``filterwarnings = error`` makes it a failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import Capabilities, Target
from harness.outcome import ClientOutcome
from harness.protocol.events import ConnectionClosed, NeedData
from harness.protocol.replies import Reply, ReplyParser
from harness.results import Result
from harness.runner import run_scenario
from harness.scenario.loader import parse_scenario
from harness.scenario.model import ClientTask, Outcome, Scenario

PLAIN, STARTTLS, IMPLICIT = "plain", "starttls", "implicit"
MODES = (PLAIN, STARTTLS, IMPLICIT)

# Small limits: every hostile case must end by itself well inside these.
TOTAL, READ = 3.0, 1.0
# A generous bound on one run: limits.total plus the runner's documented slack
# (limits.read + 1 s) plus a few seconds for a loaded CI machine. A bound, not a benchmark.
SLACK = 4.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leakcheck: counts fds, threads, tasks and temporary files around many runs "
        "(runs in CI; deselect locally with -m 'not leakcheck')",
    )


@pytest.fixture(scope="session")
def tls_material() -> Iterator[TlsMaterial]:
    material = TlsMaterial()
    yield material
    material.close()


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect at teardown, so an unclosed socket's ResourceWarning lands in the test that
    leaked it rather than in a later one (or nowhere)."""
    yield
    gc.collect()


# --- scenarios --------------------------------------------------------------------------------

_PRELUDE = {
    PLAIN: """
  - server: "220 mx.example.com ESMTP"
""",
    IMPLICIT: """
  - server: "220 mx.example.com ESMTP"
""",
    STARTTLS: """
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250-PIPELINING", "250 STARTTLS"]
  - client: STARTTLS
  - server: "220 2.0.0 Ready to start TLS"
  - tls: start
""",
}

_TLS_KEY = {PLAIN: "none", STARTTLS: "starttls", IMPLICIT: "implicit"}

# After the prelude the client is "ready": greeted, and under TLS where the mode asks for it.
# What follows is the same in every mode.
_SESSION = """
  - client: "EHLO {{domain}}"
  - server: {ehlo_reply}
{after_ehlo}
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 2.1.0 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 2.1.5 ok"
  - client: DATA
  - server: "354 go ahead"
  - client: {{data: message}}
  - server: "250 2.0.0 queued"
  - client: {{match: QUIT, optional: true}}
  - server: "221 2.0.0 bye"
"""

EHLO_REPLY = '["250-mx.example.com", "250 PIPELINING"]'
MESSAGE = b"Subject: hostile\r\n\r\nhello\r\n"


def make_scenario(
    mode: str,
    *,
    name: str = "case",
    total: float = TOTAL,
    read: float = READ,
    after_ehlo: str = "",
    ehlo_reply: str = EHLO_REPLY,
) -> Scenario:
    """A small inline scenario: greeting (and STARTTLS, or implicit TLS), EHLO, one message."""
    text = f"""
version: 1
id: hostile.{name}.{mode}
limits: {{total: {total:g}, read: {read:g}}}
client:
  mail_from: a@example.com
  rcpt_to: [b@example.com]
  message: "Subject: hostile\\n\\nhello\\n"
  tls: {_TLS_KEY[mode]}
expect: {{outcome: delivered}}
exchange:{_PRELUDE[mode].rstrip()}
{_SESSION.format(ehlo_reply=ehlo_reply, after_ehlo=after_ehlo).strip(chr(10))}
"""
    return parse_scenario(text, f"hostile-{name}-{mode}.yaml")


# --- the hostile client -----------------------------------------------------------------------


class Conn:
    """One client connection over a plain asyncio stream, with TLS done by hand through
    ``ssl.MemoryBIO``: every byte on the socket is one this client chose to read or write.
    (An asyncio TLS transport keeps reading the socket whether or not the application reads,
    so a "never reads" client built on it would not be one.)"""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.parser = ReplyParser(allow_bare_lf=True)
        self.replies: list[Reply] = []
        self.tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()

    @classmethod
    async def open(cls, target: Target, *, tls: bool) -> Conn:
        """Connect; with ``tls``, do the handshake at once (implicit TLS)."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.host, target.port), target.timeout
        )
        conn = cls(reader, writer, target.timeout)
        if tls:
            try:
                await conn.handshake(target)
            except BaseException:
                await conn.close()
                raise
        return conn

    async def handshake(self, target: Target) -> None:
        self.tls = target.ssl_context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=target.server_hostname
        )
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._pull():
                    raise ConnectionError("the server closed during the TLS handshake") from None
        await self._flush()

    async def _flush(self) -> None:
        if pending := self._outgoing.read():
            self.writer.write(pending)
        await self.writer.drain()

    async def _pull(self) -> bool:
        data = await asyncio.wait_for(self.reader.read(65536), self.timeout)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        return bool(data)

    async def send(self, data: bytes) -> None:
        if self.tls is None:
            self.writer.write(data)
            await self.writer.drain()
        else:
            self.tls.write(data)
            await self._flush()

    async def recv(self) -> bytes:
        """The next bytes from the server (decrypted under TLS); ``b""`` once it has closed."""
        if self.tls is None:
            return await asyncio.wait_for(self.reader.read(65536), self.timeout)
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                if not await self._pull():
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    async def reply(self) -> Reply | None:
        """The next complete reply; None once the server has closed."""
        while isinstance(event := self.parser.next_event(), NeedData):
            self.parser.receive_data(await self.recv())
        if isinstance(event, ConnectionClosed):
            return None
        self.replies.append(event)
        return event

    async def expect(self, code: int) -> Reply:
        reply = await self.reply()
        assert reply is not None and reply.code == code, f"wanted {code}, got {reply}"
        return reply

    async def until_closed(self) -> None:
        """Read (and drop) everything until the server closes."""
        while await self.recv():
            pass

    async def close(self) -> None:
        """Send close_notify under TLS (best effort), then close the socket, also when the
        runner is cancelling us."""
        try:
            if self.tls is not None:
                with contextlib.suppress(ssl.SSLError):
                    self.tls.unwrap()
                if pending := self._outgoing.read():
                    self.writer.write(pending)
        finally:
            self.writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self.writer.wait_closed(), 0.5)
            self.writer.transport.abort()  # no-op once closed; never leave it to the GC


async def get_ready(conn: Conn, mode: str, target: Target) -> None:
    """Read the greeting and, for STARTTLS, upgrade: the state every scenario's ``_SESSION``
    starts from."""
    await conn.expect(220)
    if mode == STARTTLS:
        await conn.send(b"EHLO client.example.com\r\n")
        await conn.expect(250)
        await conn.send(b"STARTTLS\r\n")
        await conn.expect(220)
        await conn.handshake(target)


Behaviour = Callable[[Conn, Target], Awaitable[None]]


class Hostile:
    """A client adapter that connects (in the scenario's TLS mode unless ``raw``), gets ready
    unless ``raw``, then runs ``behaviour``. It always claims the message was delivered: the
    verdict must come from what the server saw, not from the client's word."""

    capabilities = Capabilities()

    def __init__(self, name: str, mode: str, behaviour: Behaviour, *, raw: bool = False) -> None:
        self.name = f"hostile-{name}"
        self.mode = mode
        self.behaviour = behaviour
        self.raw = raw

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        conn = await Conn.open(target, tls=self.mode == IMPLICIT and not self.raw)
        try:
            if not self.raw:
                await get_ready(conn, self.mode, target)
            await self.behaviour(conn, target)
        except (OSError, ssl.SSLError, TimeoutError, EOFError):
            pass  # the server hung up on us: expected, that is the point
        finally:
            await conn.close()
        return ClientOutcome(outcome=Outcome.DELIVERED)


async def forever() -> None:
    await asyncio.Event().wait()  # until the runner cancels the client


# --- running ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Timed:
    result: Result
    seconds: float


DURATIONS: dict[str, float] = {}


def run_timed(scenario: Scenario, adapter: Hostile, tls: TlsMaterial) -> Timed:
    started = time.monotonic()
    result = asyncio.run(run_scenario(scenario, adapter, tls=tls))
    seconds = time.monotonic() - started
    DURATIONS[scenario.id] = seconds
    print(f"{scenario.id}: {seconds:.2f} s, {result.verdict.value}: {result.message}")
    return Timed(result, seconds)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if DURATIONS:
        terminalreporter.write_sep("-", "hostile-client run durations (wall clock)")
        for name, seconds in sorted(DURATIONS.items()):
            terminalreporter.write_line(f"{seconds:6.2f} s  {name}")
