"""The scripted server: plays a scenario over real TCP (and TLS), byte-exact, with deadlines.

Every connection gets a fresh Playback. The server reads with a deadline, feeds what it reads to
the sans-IO CommandParser and the Playback, and performs the actions that come back: writes
(delayed, split), pauses, the TLS upgrade, close. It never raises into the event loop: whatever
goes wrong ends up as the session's Failure, with the transcript so far.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from fake_servers.channel import Channel
from fake_servers.limits import DEFAULT_MAX_CONNECTIONS, ConnectionGate, require_loopback
from fake_servers.playback import Action, BeginData, Failure, Playback
from fake_servers.tls import TlsMaterial, describe
from harness.errors import MessageTooLarge, RemoteProtocolError
from harness.faults import ENDING_KINDS, Fault, FaultPlan, write_pieces
from harness.protocol.commands import CommandParser
from harness.protocol.events import ChunkReceived, ConnectionClosed, DataReceived, NeedData
from harness.scenario.model import (
    AnyOf,
    Certificate,
    Close,
    Delay,
    Scenario,
    Send,
    StartTls,
    Step,
    TlsMode,
    Unordered,
)
from harness.transcript import Direction, Entry, Transcript

__all__ = ["ScriptedServer", "Session"]


@dataclass(slots=True)
class Session:
    """One client connection: its transcript and, if it left the script, the failure."""

    transcript: Transcript = field(default_factory=Transcript)
    failure: Failure | None = None
    complete: bool = False  # the script ran to its end (or the client ended it where allowed)
    pending: list[str] = field(default_factory=list)  # steps still expected when it ended
    fault: str = ""  # the session-ending fault that hit it, if any
    data_accepted: bool = False  # the server sent a 2xx to a message's content
    stopped: bool = False  # the server was closed while this session still ran
    waiting_for: Callable[[], list[str]] | None = None  # the steps the script expects now
    server_closed: bool = False  # the script's own close step hung up on the client
    # The client said HELO where the script has EHLO: what that EHLO reply would have offered.
    helo_for_ehlo: tuple[str, ...] | None = None
    helo_after_tls: bool = False  # that HELO was the first command after STARTTLS
    # The server itself broke (an exception in playback, a delay past limits.total): what
    # happened, for the verdict ``error``; the client is not judged.
    harness_error: str = ""
    talked_first: bool = False  # the client sent bytes while the greeting was held back
    done: asyncio.Event = field(default_factory=asyncio.Event)
    number: int = 0  # 1-based, in the order the server accepted the connections


class ScriptedServer:
    """Serves one scenario on ``host:port`` (127.0.0.1 and a free port by default).

    Use ``async with ScriptedServer(scenario) as server:`` and point a client at
    ``server.host``/``server.port``; ``await server.first_session(timeout)`` gives the session
    record once the first connection has ended.

    Args:
        scenario: what to play.
        tls: certificates for STARTTLS and implicit TLS (default: the process's shared ones).
        host: the address to bind: a loopback address, else a ValueError.
        allow_non_loopback: bind ``host`` even though it is not loopback (only on purpose).
        port: 0 for any free port.
        on_entry: called with every transcript entry as it happens (for live output).
        composes_message: the client writes its own message from the task's subject and body
            (``Capabilities.composes_message``), so its content is compared on those alone.
        max_connections: connections served at once; the rest get a 421 and are closed
            (counted in ``refused``, never a session).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        tls: TlsMaterial | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        on_entry: Callable[[Session, Entry], None] | None = None,
        faults: FaultPlan | None = None,
        composes_message: bool = False,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        allow_non_loopback: bool = False,
    ) -> None:
        self.scenario = scenario
        self.composes_message = composes_message
        self.tls = tls
        self.host = require_loopback(host, allow_non_loopback=allow_non_loopback)
        self.port = port
        self.sessions: list[Session] = []
        self._on_entry = on_entry
        self.faults = faults
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._first = asyncio.Event()
        self._gate = ConnectionGate(max_connections)
        self.connections = 0  # sessions started, also those no longer in ``sessions``

    @property
    def refused(self) -> int:
        """Connections turned away with a 421 because ``max_connections`` were being served."""
        return self._gate.refused

    @property
    def tls_material(self) -> TlsMaterial:
        if self.tls is None:
            self.tls = TlsMaterial.shared()
        return self.tls

    async def start(self) -> None:
        certificates = _certificates(self.scenario.exchange)
        if self.scenario.client.tls is TlsMode.IMPLICIT:
            certificates.add(self.scenario.certificate)
        elif self.scenario.client.tls is TlsMode.STARTTLS:
            certificates.add(Certificate.GOOD)
        for certificate in certificates:  # build them now, not inside a session's deadline
            self.tls_material.server_context(certificate)
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end every session still running."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> ScriptedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def first_session(self, timeout: float) -> Session | None:
        """The first session, once it has ended; None if no client connected in time."""
        try:
            await asyncio.wait_for(self._first.wait(), timeout)
            await asyncio.wait_for(self.sessions[0].done.wait(), timeout)
        except TimeoutError:
            return None
        return self.sessions[0]

    # -- one connection --

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        if not self._gate.admit():
            await _refuse(writer, self._gate.refusal)
            self._tasks.discard(task)
            return
        self.connections += 1
        session = Session(number=self.connections)
        self.sessions.append(session)
        self._first.set()
        try:
            await _Connection(self, session, reader, writer).run()
        except asyncio.CancelledError:
            # close() ended the session. Not re-raised: asyncio's stream callback (3.11) logs a
            # cancelled connection handler with a traceback; close() awaits this task anyway.
            session.stopped = True
            session.transcript.note("server stopped")
        except Exception as exc:  # a bug of the harness or its scenario, never the client's
            session.harness_error = harness_error(exc)
            session.transcript.note(f"harness error: {session.harness_error}")
        finally:
            session.done.set()
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except TimeoutError:
                writer.transport.abort()  # unsent data and a client that does not read
            except Exception:  # the session is over and its record complete: nothing to add
                pass
            finally:
                self._gate.leave()
                self._tasks.discard(task)  # only now: close() must still await this task

    def _record(self, session: Session, direction: Direction, data: bytes, tls: bool) -> None:
        session.transcript.add(direction, data, tls=tls)
        if self._on_entry is not None:
            self._on_entry(session, session.transcript.entries[-1])


class _Connection:
    def __init__(
        self,
        server: ScriptedServer,
        session: Session,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.session = session
        self.channel = Channel(reader, writer)
        self.playback = Playback(server.scenario, composes_message=server.composes_message)
        session.waiting_for = self.playback.pending_steps
        limits = server.scenario.limits
        self.parser = CommandParser(max_line=limits.line, max_data=limits.message)
        self.tls = False
        self.read_timeout = server.scenario.limits.read
        self.writes = 0  # server writes so far, for fault injection
        self.waited = 0.0  # seconds of scripted delays and pauses so far
        self.data_reply_due = False  # the next write answers a message's content
        self.closed = False
        self.greeted = False  # the greeting (the server's first write) has gone out
        self.early: list[bytes] = []  # what the client sent while the greeting was held back

    def note(self, text: str) -> None:
        self.server._record(self.session, Direction.NOTE, text.encode(), self.tls)

    async def run(self) -> None:
        implicit = self.server.scenario.client.tls is TlsMode.IMPLICIT
        certificate = self.server.scenario.certificate
        if implicit and not await self._start_tls("implicit TLS", certificate=certificate):
            return self._finish()
        await self._perform(self.playback.start())
        if self.early:  # input that came before the greeting, judged now, in order
            for data in self.early:
                self.parser.receive_data(data)
            await self._drain_events()
        # Each read waits limits.read at most, and the whole session limits.total: a client that
        # drips one byte a second must not hold the server forever.
        deadline = time.monotonic() + self.server.scenario.limits.total
        while not self.playback.finished:
            remaining = deadline - time.monotonic()
            silence = self.playback.silence_wait()
            wait = min(self.read_timeout, remaining)
            # A silence (or gives_up) step sets its own wait, longer than limits.read if it says so.
            silence_ends_wait = silence is not None and silence <= remaining
            if silence is not None and silence_ends_wait:
                wait = silence
            try:
                async with asyncio.timeout(max(wait, 0)):  # no task per read, unlike wait_for
                    data = await self.channel.read()
            except TimeoutError:
                if silence_ends_wait:
                    await self._perform(self.playback.on_silence())
                    continue
                if wait < self.read_timeout:
                    total = self.server.scenario.limits.total
                    await self._perform(
                        self.playback.on_error(
                            "timeout", f"the session went past limits.total = {total:g} s"
                        )
                    )
                else:
                    await self._perform(self.playback.on_timeout(self.read_timeout))
                break
            except (ConnectionResetError, BrokenPipeError) as exc:
                # A reset is how many clients close (SO_LINGER 0, or unread data at close):
                # judged as a close, fine where the rest of the script is optional.
                self.note(f"connection reset by the client: {exc!r}")
                data = b""
            except ssl.SSLError as exc:
                await self._perform(
                    self.playback.on_error("tls", f"TLS error: {exc!r}", send_abort=False)
                )
                break
            except (ConnectionError, OSError) as exc:
                await self._perform(
                    self.playback.on_error("closed", f"connection error: {exc!r}", send_abort=False)
                )
                break
            if data:
                self.server._record(self.session, Direction.CLIENT, data, self.tls)
            else:
                self.note("client closed its side")
            self.parser.receive_data(data)
            await self._drain_events()
        self._finish()

    def _finish(self) -> None:
        self.session.failure = self.playback.failure
        self.session.complete = self.playback.finished and self.playback.failure is None
        self.session.pending = self.playback.pending_steps()
        self.session.server_closed = self.playback.hung_up and self.playback.failure is None
        self.session.helo_for_ehlo = self.playback.helo_for_ehlo
        self.session.helo_after_tls = self.playback.helo_after_tls
        self.session.talked_first = self.session.talked_first or self.playback.talked_first
        if self.playback.failure is not None:
            self.note(f"FAILED: {self.playback.failure.message}")

    async def _drain_events(self) -> None:
        while not self.playback.finished:
            try:
                event = self.parser.next_event()
            except RemoteProtocolError as exc:
                if self.parser.eof and self.parser.in_body:
                    # The client gave up on the message by closing: abortive, but no rule forbids
                    # it, so it passes where the rest of the script is optional.
                    self.note(f"the client closed the connection inside the message ({exc})")
                    await self._perform(self.playback.on_close())
                else:
                    reply = exc.reply if isinstance(exc, MessageTooLarge) else None
                    await self._perform(self.playback.on_error("protocol", str(exc), reply=reply))
                return
            if isinstance(event, NeedData):
                return
            if isinstance(event, ConnectionClosed):
                actions = self.playback.on_close()
            elif isinstance(event, DataReceived):
                actions = self.playback.on_data(event)
                self.data_reply_due = True
            elif isinstance(event, ChunkReceived):
                actions = self.playback.on_chunk(event)
                self.data_reply_due = event.last
            else:
                actions = self.playback.on_command(event)
            await self._perform(actions)

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if self.closed:
                return
            if isinstance(action, Send):
                self.writes += 1
                plan = self.server.faults
                faults = plan.for_write(self.writes) if plan else []
                for fault in faults:
                    if fault.kind == "delay":
                        action = replace(action, delay=action.delay + fault.seconds)
                ending = next((f for f in faults if f.kind in ENDING_KINDS), None)
                if ending is not None:
                    await self._end_with_fault(ending)
                    return
                if self.data_reply_due:
                    self.data_reply_due = False
                    self.session.data_accepted = (
                        self.session.data_accepted or action.data[:1] == b"2"
                    )
                if not await self._send(action, faults):
                    return
            elif isinstance(action, Delay):
                where = f" (line {action.line})" if action.line else ""
                if not await self._wait(action.seconds, f"the delay step{where}"):
                    return
            elif isinstance(action, BeginData):
                self.parser.start_data()
            elif isinstance(action, StartTls):
                if self.parser.pending:
                    # RFC 3207 §6 / CVE-2011-0411: nothing may follow STARTTLS before the handshake.
                    await self._perform(
                        self.playback.on_error(
                            "protocol",
                            f"the client sent {self.parser.pending[:60]!r} after STARTTLS, before the TLS "
                            "handshake (RFC 3207 §6: STARTTLS must end a pipelined group)",
                        )
                    )
                    return
                if not await self._start_tls(
                    "STARTTLS", may_refuse=action.may_refuse, certificate=action.certificate
                ):
                    return
            elif isinstance(action, Close):
                self.closed = True
                self.note("server closed the connection")
                self.channel.close()

    async def _end_with_fault(self, fault: Fault) -> None:
        """Do a session-ending fault instead of the scripted write; the script stops here."""
        self.session.fault = (
            f"{fault} (seed {self.server.faults.seed if self.server.faults else '?'})"
        )
        self.note(f"fault injected: {fault}")
        self.playback.end_here()
        if fault.kind == "421":
            await self._send(Send(data=b"421 4.3.2 smtp-harness: fault injected, closing\r\n"))
        elif fault.kind == "reset":
            transport = self.channel.writer.transport
            transport.abort()  # RST, not FIN
            self.closed = True
            return
        elif fault.kind == "half-close":
            self.channel.half_close()  # under TLS a close_notify, then the FIN
        # half-close and stall: read on, answer nothing, until the client gives up
        if fault.kind in ("half-close", "stall"):
            await self._read_until_client_gives_up()
        self.closed = True
        self.channel.close()

    async def _read_until_client_gives_up(self) -> None:
        deadline = time.monotonic() + self.server.scenario.limits.total
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                data = await asyncio.wait_for(self.channel.read(), remaining)
            except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
                return
            if not data:
                self.note("client closed its side")
                return
            self.server._record(self.session, Direction.CLIENT, data, self.tls)

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds``; before the greeting, watch for input meanwhile: a client that talks
        before the greeting breaks a SHOULD (RFC 5321 §4.3.1, R-GREET-2), and what it sent is
        kept to be read after the greeting. A close or an error is left for the session's reads."""
        if self.greeted:
            await asyncio.sleep(seconds)
            return
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(left):
                    data = await self.channel.read()
            except TimeoutError:
                return
            except (ConnectionError, OSError, ssl.SSLError):
                await asyncio.sleep(max(0.0, end - time.monotonic()))
                return
            if not data:
                await asyncio.sleep(max(0.0, end - time.monotonic()))
                return
            if not self.session.talked_first:
                self.session.talked_first = True
                self.note("the client sent this before the greeting (RFC 5321 §4.3.1: SHOULD wait)")
            self.server._record(self.session, Direction.CLIENT, data, self.tls)
            self.early.append(data)

    async def _wait(self, seconds: float, what: str) -> bool:
        """Sleep a scripted wait; refuse one the session's time limit cannot hold.

        The server's own waits alone going past ``limits.total`` (or a NaN) mean no client can
        finish the script: a fault of the scenario (or of the ``delay`` faults laid over it),
        recorded as a harness error and the connection closed, so no client is failed for it."""
        total = self.server.scenario.limits.total
        if not self.waited + seconds <= total:
            self.session.harness_error = (
                f"{what}, {seconds:g} s, takes the server's own waiting (scripted delays and "
                f"pauses, delay faults) to {self.waited + seconds:g} s, past limits.total = "
                f"{total:g} s: no client can finish the script in time"
            )
            self.note(f"harness error: {self.session.harness_error}")
            self.playback.end_here()
            self.closed = True
            self.channel.close()
            return False
        self.waited += seconds
        await self._sleep(seconds)
        return True

    async def _send(self, action: Send, faults: list[Fault] | None = None) -> bool:
        where = f" (line {action.line})" if action.line else ""
        if action.delay and not await self._wait(action.delay, f"the delay before a write{where}"):
            return False
        self.greeted = True
        for pause, piece in write_pieces(action, faults or ()):
            if pause and not await self._wait(pause, f"a pause inside a write{where}"):
                return False
            self.channel.write(piece)
            self.server._record(self.session, Direction.SERVER, piece, self.tls)
            try:
                async with asyncio.timeout(self.read_timeout):
                    await self.channel.drain()
            except TimeoutError:
                await self._perform(
                    self.playback.on_error(
                        "timeout",
                        f"the client read nothing for {self.read_timeout:g} s",
                        send_abort=False,
                    )
                )
                return False
            except (ConnectionError, OSError) as exc:
                # The client closed while we were still answering (e.g. replies to a pipelined
                # group it gave up on): judged like a close, fine if only optional steps remain.
                self.note(f"connection lost while writing: {exc!r}")
                self.playback.on_close(while_writing=True)
                self.closed = True
                return False
        return True

    async def _start_tls(
        self, what: str, *, may_refuse: bool = False, certificate: Certificate = Certificate.GOOD
    ) -> bool:
        ctx = self.server.tls_material.server_context(certificate)
        try:
            await self.channel.start_tls(ctx, self.read_timeout)
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            self.closed = True
            if certificate.must_refuse:
                # What the client must do with a certificate it cannot validate (RFC 8314
                # §5.3): abort the handshake (an alert, or a close) and send nothing in TLS.
                self.playback.end_here()
                self.note(f"the client refused {describe(certificate)} ({what}): {exc!r}")
            elif may_refuse and isinstance(exc, ConnectionError):
                # The script allows a client to refuse TLS here by closing (tls: {may_refuse: true}).
                self.playback.end_here()
                self.note(f"the client closed instead of starting TLS (allowed here): {exc!r}")
            else:
                self.playback.on_error("tls", f"{what} handshake failed: {exc!r}", send_abort=False)
                if not isinstance(exc, ConnectionError):
                    self.note(f"{what} handshake failed: {exc!r}")
            return False
        self.tls = True
        self.note(f"{what} handshake done ({self.channel.tls_version})")
        if certificate.must_refuse:
            # RFC 3207 §4.1: a client that finds the security too weak "SHOULD issue an SMTP
            # QUIT command immediately after the TLS negotiation is complete": so QUIT (or a
            # close) is still fine; anything else means it accepted the certificate.
            accepted = describe(certificate)
            self.note(f"the client completed the TLS handshake with {accepted}")
            self.playback.only_quit_from_now(
                f"the client accepted {accepted} ({what}) and went on inside TLS",
                hint="RFC 8314 §5.3: MUAs MUST validate TLS server certificates according to "
                "[RFC7817] and PKIX [RFC5280]; RFC 3207 §4.1: if the security is not high enough "
                "the client SHOULD QUIT immediately after the TLS negotiation",
                rule="R-TLS-10",
            )
        return True


def harness_error(exc: BaseException) -> str:
    """One line on an exception inside the server: what, and where in our code it came from."""
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        parts = Path(frame.filename).parts
        ours = [i for i, part in enumerate(parts) if part in ("fake_servers", "harness")]
        if ours:  # a path relative to the package root: reports hold no local paths
            where = f" at {'/'.join(parts[ours[-1] :])}:{frame.lineno}"
            break
    return f"{type(exc).__name__}: {exc}{where}"


async def _refuse(writer: asyncio.StreamWriter, reply: bytes) -> None:
    """Tell a connection past the limit so, and close it without waiting on the client."""
    try:
        writer.write(reply)
        writer.close()
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
    except (TimeoutError, ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()  # no-op once closed; a client that does not read is dropped


def _certificates(steps: tuple[Step, ...]) -> set[Certificate]:
    """Every certificate a STARTTLS step of the script presents."""
    out: set[Certificate] = set()
    for step in steps:
        if isinstance(step, StartTls):
            out.add(step.certificate)
        for branch in (
            step.branches
            if isinstance(step, AnyOf)
            else step.groups
            if isinstance(step, Unordered)
            else ()
        ):
            out |= _certificates(branch)
    return out
