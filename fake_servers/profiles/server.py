"""The profile server over real TCP and TLS, and its threaded controller for tests.

Why not aiosmtpd as the engine: it cannot be made as strict on the wire as the scripted server.
Its command reader splits lines at LF and strips the CR, so a bare LF in a command is accepted
silently; it reads DATA line by line after un-stuffing, so an unstuffed leading dot and a bare
line end inside the message never reach a handler; it does not expose what was buffered behind a
command, so pipelining without PIPELINING (and bytes after STARTTLS) cannot be seen; and its
STARTTLS uses ``loop.start_tls``, which loses a ClientHello sent before the upgrade (see
``fake_servers/channel.py``). The harness's own sans-IO core (``harness.protocol``) already has
every one of those checks, and the Channel handles TLS, so the profiles build on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fake_servers.channel import Channel
from fake_servers.findings import Finding, NoClientError, ServerFindingError, format_findings
from fake_servers.limits import require_loopback
from fake_servers.profiles.catalog import get_profile
from fake_servers.profiles.engine import (
    Action,
    BeginData,
    Close,
    ProfileEngine,
    Received,
    Send,
    Stall,
    StartTls,
)
from fake_servers.profiles.knobs import parse_knobs
from fake_servers.profiles.model import Profile
from fake_servers.threaded import ThreadedServer
from fake_servers.tls import TlsMaterial
from harness.errors import RemoteProtocolError
from harness.protocol.commands import Command, CommandParser
from harness.protocol.events import ConnectionClosed, DataReceived, NeedData
from harness.redaction import redact_sessions_text, redact_transcript
from harness.transcript import Direction, Entry, Transcript

__all__ = ["ProfileController", "ProfileServer", "ProfileSession"]

MAX_LINE = 4096  # memory bound for a command line; R-LINE-3 (512) is a finding, not a limit


@dataclass(slots=True)
class ProfileSession:
    """One connection: what came, what the server found, and the messages it accepted."""

    number: int
    transcript: Transcript = field(default_factory=Transcript)
    engine: ProfileEngine | None = None
    ended: str = ""  # why the session ended
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def findings(self) -> list[Finding]:
        return self.engine.findings if self.engine else []

    @property
    def messages(self) -> list[Received]:
        return self.engine.messages if self.engine else []

    @property
    def waiting_for(self) -> str:
        return self.engine.waiting_for if self.engine else "the client to connect"


class ProfileServer:
    """A server that behaves as ``profile`` does, on ``host:port`` (127.0.0.1, a free port).

    Args:
        profile: a Profile or its name (``gmail``, ``outlook``, ``163``, ``qq``, ``postfix``).
        users: ``{username: password}`` it accepts; None accepts any credentials.
        fail: failure knobs (see ``fake_servers/profiles/knobs.py``), e.g. ``{"rcpt": 550}``.
        read_timeout: seconds of client silence before the server gives up on a session.
        total: seconds a session may last at most.
        on_entry: called with every transcript entry as it happens (for live output).
        allow_non_loopback: bind ``host`` even though it is not a loopback address.
    """

    def __init__(
        self,
        profile: Profile | str,
        *,
        users: Mapping[str, str] | None = None,
        fail: Mapping[str, Any] | None = None,
        tls: TlsMaterial | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        read_timeout: float = 30.0,
        total: float = 120.0,
        on_entry: Callable[[ProfileSession, Entry], None] | None = None,
        allow_non_loopback: bool = False,
    ) -> None:
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.users = dict(users) if users is not None else None
        self.knobs = parse_knobs(fail)
        self.tls = tls or TlsMaterial.shared()
        self.host = require_loopback(host, allow_non_loopback=allow_non_loopback)
        self.port = port
        self.read_timeout = read_timeout
        self.total = total
        self.sessions: list[ProfileSession] = []
        self.counts: Counter[str] = Counter()
        self._on_entry = on_entry
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.message_arrived = asyncio.Event()

    async def start(self) -> None:
        self.tls.server_context()  # made now, not inside a session's deadline
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> ProfileServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def messages(self) -> list[Received]:
        return [m for s in self.sessions for m in s.messages]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = ProfileSession(number=len(self.sessions) + 1)
        self.sessions.append(session)
        try:
            await _Connection(self, session, reader, writer).run()
        except asyncio.CancelledError:
            # close() ended the session. Not re-raised: asyncio's stream callback would log the
            # cancellation of a connection handler as an error; close() awaits this task anyway.
            session.ended = session.ended or "server stopped"
            session.transcript.note("server stopped")
        finally:
            session.done.set()
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except TimeoutError:
                writer.transport.abort()
            except Exception:  # the session's record is complete: nothing to add
                pass
            finally:
                self._tasks.discard(task)

    def _record(
        self, session: ProfileSession, direction: Direction, data: bytes, tls: bool
    ) -> None:
        session.transcript.add(direction, data, tls=tls)
        if self._on_entry is not None:
            self._on_entry(session, session.transcript.entries[-1])


class _Connection:
    def __init__(
        self,
        server: ProfileServer,
        session: ProfileSession,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.session = session
        self.channel = Channel(reader, writer)
        implicit = server.profile.tls == "implicit"
        self.engine = ProfileEngine(
            server.profile,
            number=session.number,
            knobs=server.knobs,
            counts=server.counts,
            users=server.users,
            implicit_tls=implicit,
        )
        session.engine = self.engine
        self.parser = CommandParser(max_line=MAX_LINE, max_data=server.profile.size_limit + 65536)
        self.tls = False
        self.closed = False
        self.deadline = time.monotonic() + server.total

    def note(self, text: str) -> None:
        self.server._record(self.session, Direction.NOTE, text.encode(), self.tls)

    async def run(self) -> None:
        if self.server.profile.tls == "implicit":
            if not await self._start_tls("implicit TLS"):
                return
            self.engine.tls_version = self.channel.tls_version
        await self._perform(self.engine.start())
        while not self.closed:
            data = await self._read()
            if data is None:
                return
            if data:
                self.server._record(self.session, Direction.CLIENT, data, self.tls)
            else:
                self.note("client closed its side")
            if self.parser.in_data and b"\n.\n" in data and b"\r\n.\r\n" not in data:
                # A message ended with LF.LF only: the client waits for a reply that CRLF.CRLF
                # would bring. Say so now instead of timing out (R-LINE-1, R-LINE-2).
                await self._perform(
                    self.engine.on_protocol_error(
                        "bare LF: the message ended with LF.LF, not CRLF.CRLF", in_data=True
                    )
                )
                return
            self.parser.receive_data(data)
            await self._drain_events()
            if not data and not self.closed:
                self.session.ended = self.session.ended or "the client closed the connection"
                return

    async def _read(self) -> bytes | None:
        remaining = self.deadline - time.monotonic()
        wait = min(self.server.read_timeout, remaining)
        try:
            async with asyncio.timeout(max(wait, 0)):
                return await self.channel.read()
        except TimeoutError:
            what = "went past its time limit" if wait < self.server.read_timeout else "was silent"
            self.session.ended = f"the client {what} (waiting for {self.engine.waiting_for})"
            self.note(self.session.ended)
            if not self.engine.stalled:
                await self._perform([Send(self.server.profile.closing.wire()), Close()])
            return None
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            self.session.ended = f"connection lost: {exc!r}"
            self.note(self.session.ended)
            return None

    async def _drain_events(self) -> None:
        while not self.closed:
            try:
                event = self.parser.next_event()
            except RemoteProtocolError as exc:
                if self.parser.eof:
                    self.note(f"the client closed in the middle: {exc}")
                    self.closed = True
                    return
                await self._perform(
                    self.engine.on_protocol_error(str(exc), in_data=self.parser.in_body)
                )
                return
            if isinstance(event, NeedData):
                return
            if isinstance(event, ConnectionClosed):
                self.closed = True
                return
            if isinstance(event, DataReceived):
                before = len(self.engine.messages)
                actions = self.engine.on_data(event.wire)
                if len(self.engine.messages) > before:
                    self.server.message_arrived.set()
            elif isinstance(event, Command):
                actions = self.engine.on_command(event, more_pending=bool(self.parser.pending))
            else:  # a BDAT chunk: CHUNKING is never advertised, the BDAT got 502 already
                actions = []
            await self._perform(actions)

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if self.closed:
                return
            if isinstance(action, Send):
                self.channel.write(action.data)
                self.server._record(self.session, Direction.SERVER, action.data, self.tls)
                try:
                    async with asyncio.timeout(self.server.read_timeout):
                        await self.channel.drain()
                except (TimeoutError, ConnectionError, OSError) as exc:
                    self.session.ended = f"could not write to the client: {exc!r}"
                    self.closed = True
                    return
            elif isinstance(action, BeginData):
                self.parser.start_data()
            elif isinstance(action, StartTls):
                if self.parser.pending:
                    self.engine.finding(
                        step="STARTTLS",
                        expected="nothing until the TLS handshake",
                        got=f"{self.parser.pending[:60]!r} right after STARTTLS, in clear",
                        rule="R-TLS-6 (RFC 3207 §6: STARTTLS must be the last command of a group)",
                        message="the client sent more after STARTTLS, before the handshake",
                    )
                    await self._perform([Close()])
                    return
                if not await self._start_tls("STARTTLS"):
                    return
                self.engine.on_tls(self.channel.tls_version)
            elif isinstance(action, Stall):
                self.note("stalling on request: no reply until the client gives up")
                while data := await self._read():
                    self.server._record(self.session, Direction.CLIENT, data, self.tls)
                self.closed = True
                return
            elif isinstance(action, Close):
                self.closed = True
                self.note("server closed the connection")
                ended = (
                    "the client sent QUIT"
                    if self.engine.quit
                    else "the server closed the connection"
                )
                self.session.ended = self.session.ended or ended
                self.channel.close()

    async def _start_tls(self, what: str) -> bool:
        try:
            await self.channel.start_tls(self.server.tls.server_context(), self.server.read_timeout)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            self.session.ended = f"{what} handshake failed: {exc!r}"
            self.note(self.session.ended)
            self.engine.finding(
                step=what,
                expected="a TLS handshake the client completes",
                got=f"{exc!r}",
                rule="RFC 3207 §4.1 / RFC 8314 §3 (a client that refuses the certificate may end "
                "the session; here the CA was the test's: did the client trust smtp_tls.ca_path?)",
                message=f"the {what} handshake failed",
                grade="non-strict",
            )
            self.closed = True
            return False
        self.tls = True
        self.note(f"{what} handshake done ({self.channel.tls_version})")
        return True


class ProfileController(ThreadedServer[ProfileServer]):
    """A ProfileServer for blocking code and pytest (``smtp_profile``).

    ``.host``, ``.port``, ``.ca_path``; ``.messages`` (every accepted message, as
    :class:`Received`), ``.sessions``; ``.wait_message()``; ``.assert_followed()``.
    """

    def __init__(self, profile: Profile | str, **kwargs: Any) -> None:
        ready_timeout = kwargs.pop("ready_timeout", 5.0)
        # AUTH responses, passwords and tokens are hidden in findings and transcripts unless True
        self.show_secrets = bool(kwargs.pop("show_secrets", False))
        super().__init__(ProfileServer(profile, **kwargs), ready_timeout=ready_timeout)

    @property
    def profile(self) -> Profile:
        return self.server.profile

    @property
    def ca_path(self) -> str:
        return self.server.tls.ca_path

    @property
    def sessions(self) -> list[ProfileSession]:
        return self.server.sessions

    @property
    def messages(self) -> list[Received]:
        return self.server.messages

    def wait_message(self, timeout: float = 10.0) -> Received:
        """The first accepted message, once it has arrived.

        Raises:
            NoClientError: none arrived within ``timeout`` seconds (the message says whether a
                client connected and what the server was waiting for).
        """

        async def wait() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.message_arrived.wait(), timeout)

        self._call(wait(), timeout + 1.0)
        if self.messages:
            return self.messages[0]
        where = f"{self.host}:{self.port}"
        if not self.sessions:
            raise NoClientError(f"no client connected to {where} within {timeout:g} s")
        last = self.sessions[-1]
        state = last.ended or f"still open, waiting for {last.waiting_for}"
        raise NoClientError(
            f"no message arrived at {where} within {timeout:g} s; "
            f"{len(self.sessions)} session(s), the last one: {state}"
        )

    # -- judging (the Judged protocol of fake_servers/findings.py) --

    def describe(self) -> str:
        return f"the {self.profile.name} profile server on {self.host}:{self.port}"

    def settle(self, timeout: float) -> None:
        if not self.running:
            return

        async def all_done() -> None:
            waits = [s.done.wait() for s in self.sessions]
            if waits:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*waits), timeout)

        self._call(all_done(), timeout + 1.0)

    def findings(self) -> list[Finding]:
        return [f for s in self.sessions for f in s.findings]

    def report_sections(self) -> list[tuple[str, str]]:
        sections = []
        for s in self.sessions:
            title = f"smtp-harness: {self.profile.name} profile on {self.host}:{self.port}, session {s.number}"
            lines = [
                f"ended: {s.ended or 'still open when the test ended'}",
                f"the server was waiting for: {s.waiting_for}",
            ]
            lines += [
                f"message {i}: from <{m.mail_from}> to {', '.join(f'<{r}>' for r in m.rcpt_to)}, {len(m.content)} octets"
                for i, m in enumerate(s.messages, 1)
            ]
            lines += [f.render() for f in s.findings]
            lines.append("transcript (time, TLS, S=server C=client *=harness):")
            transcript = s.transcript
            if not self.show_secrets:
                transcript, _ = redact_transcript(transcript, self._known_secrets())
            text = self.redact("\n".join(lines)) + "\n" + transcript.render()
            sections.append((title, text))
        return sections

    def redact(self, text: str) -> str:
        """``text`` without the credentials any session sent, unless show_secrets."""
        if self.show_secrets:
            return text
        return redact_sessions_text(
            text, (s.transcript for s in self.sessions), self._known_secrets()
        )

    def _known_secrets(self) -> tuple[str, ...]:
        return tuple(self.server.users.values()) if self.server.users else ()

    def assert_followed(self, timeout: float = 10.0) -> None:
        """Raise if any session broke a wire rule (findings graded ``fail``).

        Raises:
            ServerFindingError: step, expected, got, rule, and every session's transcript.
            NoClientError: no client connected within ``timeout`` seconds.
        """
        if not self.sessions:
            self.wait_message(timeout)
        self.settle(timeout)
        findings = [f for f in self.findings() if f.fails]
        if findings:
            transcripts = "\n".join(f"--- {t}\n{body}" for t, body in self.report_sections())
            raise ServerFindingError(f"{format_findings(self, findings)}\n{transcripts}", findings)

    def __enter__(self) -> ProfileController:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
