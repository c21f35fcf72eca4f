"""One connection of the scripted server, on the transport level (``asyncio.Protocol``).

Bytes come in through ``data_received``, go through TLS (``TlsLayer``) and the sans-IO
``CommandParser`` to the ``Playback``, and the actions it returns are performed at once:
``transport.write`` for replies, nothing else. Only what must wait leaves the call: a scripted
delay or pause, the TLS handshake, a client that does not read (the transport paused writing),
and the client itself. All of those share one timer per connection, which moves forward with
progress instead of being made anew for every read.

The rule that keeps verdicts as they were with a coroutine per connection: the client's bytes
are taken in only while the server waits for the client. What arrives while a scripted delay
runs is held, raw, and read when the script waits for the client again (so bytes a client sends
behind STARTTLS still reach the TLS handshake, not the command parser). Before the greeting,
though, input is recorded as it arrives: a client that talks first breaks a SHOULD.
"""

from __future__ import annotations

import asyncio
import ssl
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from fake_servers.playback import Action, BeginData, Playback
from fake_servers.tls import describe
from fake_servers.tls_layer import TlsLayer
from harness.deadline import Deadline
from harness.errors import MessageTooLarge, RemoteProtocolError
from harness.faults import ENDING_KINDS, Fault, write_pieces
from harness.protocol.commands import CommandParser
from harness.protocol.events import ChunkReceived, ConnectionClosed, DataReceived, NeedData
from harness.scenario.model import Certificate, Close, Delay, Send, StartTls, TlsMode
from harness.transcript import Direction

if TYPE_CHECKING:
    from fake_servers.scripted import ScriptedServer, Session

__all__ = ["ScriptedConnection", "harness_error"]

HELD_LIMIT = 256 * 1024  # raw bytes held during a scripted wait before reading is paused
CLOSE_GRACE = 1.0  # seconds a closed connection may take to flush before it is reset


@dataclass(slots=True)
class _Pause:
    """A scripted wait inside the action queue: a delay step, a write's delay or pause."""

    seconds: float
    what: str


@dataclass(slots=True)
class _Write:
    """One piece of a scripted write, after its pause."""

    data: bytes


_Item = Action | _Pause | _Write


class ScriptedConnection(asyncio.Protocol):
    """Plays the server's scenario to one client; the record goes to a ``Session``."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        scenario = server.scenario
        self.playback = Playback(
            scenario, composes_message=server.composes_message, script=server.script
        )
        self.parser = CommandParser(max_line=scenario.limits.line, max_data=scenario.limits.message)
        self.read_timeout = scenario.limits.read
        self.total = scenario.limits.total
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = self.loop.create_future()  # resolved at connection_lost
        self.tls: TlsLayer | None = None
        self.tls_on = False  # the handshake is done: what follows is inside TLS
        self.tls_unread = False  # TLS records may wait in the layer, not yet read
        self.queue: deque[_Item] = deque()
        self.waited = 0.0  # seconds of scripted delays and pauses so far
        self.data_reply_due = False  # the next write answers a message's content
        self.closed = False  # the session is over for the script; nothing more is performed
        self.ended = False  # the session's record is complete
        self.greeted = False  # the greeting (the server's first write) has gone out
        self.gone = False  # connection_lost was called
        self.write_paused = False  # the transport's buffer is full: the client does not read
        # What the connection is waiting for, if anything; None while actions run.
        self.waiting: str | None = None
        self.held: list[bytes] = []  # raw bytes that came while the script was not reading
        self.held_size = 0
        self.held_eof = False
        self.reset_by_client: BaseException | None = None
        self.read_session_due: float | None = None  # limits.total, from the first read on
        self.silence_due = False  # the current read wait ends in the script's silence step
        # The one timer for every wait; ``on_due`` is what the current wait does when it expires.
        self.deadline = Deadline(self.loop, self._wait_expired)
        self.on_due: Callable[[], None] | None = None
        self.handshake: tuple[str, bool, Certificate] | None = None  # what, may_refuse, cert
        self.force_close: asyncio.TimerHandle | None = None  # a reset if the close hangs

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, so no isinstance).
        self.transport = stream = cast(asyncio.Transport, transport)
        server = self.server
        if not server._gate.admit():
            stream.write(server._gate.refusal)
            self._close_transport()
            return
        self.session = server._open_session(self)
        self._guard(self._begin)

    def data_received(self, data: bytes) -> None:
        if self.session is None or self.ended:
            return
        self._guard(lambda: self._received(data))

    def eof_received(self) -> bool:
        if self.session is not None and not self.ended:
            self._guard(lambda: self._received(b""))
        return True  # keep the transport open: the script may still answer, then close

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.waiting == "drain":
            self._guard(self._resume)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        if not self.lost.done():
            self.lost.set_result(None)
        self.deadline.cancel()
        if self.force_close is not None:  # closed in time: the reset is not needed
            self.force_close.cancel()
            self.force_close = None
        if self.session is None:  # refused by the gate
            return
        self.server._gate.leave()
        self.server._close_session(self)
        if not self.ended:
            self._guard(lambda: self._lost(exc))

    # -- the session --

    def _begin(self) -> None:
        if self.server.scenario.client.tls is TlsMode.IMPLICIT:
            self._start_tls("implicit TLS", False, self.server.scenario.certificate)
        else:
            self.queue.extend(self.playback.start())
            self._pump()

    def _pump(self) -> None:
        """Perform queued actions until one must wait; when there are none, read on."""
        while not self.closed and self.waiting is None:
            if self.queue:
                self._perform(self.queue.popleft())
            elif self.playback.finished:
                self._end()
                return
            elif not self._next_event():
                self._wait_for_client()
                return
        if self.closed and self.waiting is None:
            self._end()

    def _next_event(self) -> bool:
        """Take what the client sent meanwhile, then hand the parser's next event to the
        playback; False when the parser needs more bytes."""
        if self.held or self.held_eof or self.tls_unread:
            self._take_held()
            if self.closed:
                return True
        try:
            event = self.parser.next_event()
        except RemoteProtocolError as exc:
            if self.parser.eof and self.parser.in_body:
                # The client gave up on the message by closing: abortive, but no rule forbids
                # it, so it passes where the rest of the script is optional.
                self._note(f"the client closed the connection inside the message ({exc})")
                self.queue.extend(self.playback.on_close())
            else:
                reply = exc.reply if isinstance(exc, MessageTooLarge) else None
                self.queue.extend(self.playback.on_error("protocol", str(exc), reply=reply))
            return True
        if isinstance(event, NeedData):
            return False
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
        self.queue.extend(actions)
        return True

    def _wait_for_client(self) -> None:
        """Wait for the client: each wait lasts limits.read at most (a silence step sets its
        own), the whole session limits.total, so a client that drips bytes cannot hold us."""
        now = self.loop.time()
        if self.read_session_due is None:
            self.read_session_due = now + self.total
        remaining = self.read_session_due - now
        silence = self.playback.silence_wait()
        wait = min(self.read_timeout, remaining)
        self.silence_due = silence is not None and silence <= remaining
        if silence is not None and self.silence_due:
            wait = silence
        self.waiting = "client"
        self._wait(now + max(wait, 0.0), self._client_silent)

    def _client_silent(self) -> None:
        self.waiting = None
        if self.silence_due:
            self.queue.extend(self.playback.on_silence())
        elif self.read_session_due is not None and self.loop.time() >= self.read_session_due:
            message = f"the session went past limits.total = {self.total:g} s"
            self.queue.extend(self.playback.on_error("timeout", message))
        else:
            self.queue.extend(self.playback.on_timeout(self.read_timeout))
        self._pump()

    def _received(self, data: bytes) -> None:
        if self.waiting == "handshake":
            self._handshake_input(data, eof=not data)
        elif self.waiting == "client":
            self._cancel_wait()
            self.waiting = None
            self._take(data, eof=not data)
            self._pump()
        elif self.waiting == "gives up":  # after a stall or half-close fault: record only
            if data:
                self._record(Direction.CLIENT, self._decrypt(data)[0])
            else:
                self._note("client closed its side")
                self._end()
        elif not self.greeted and data:
            # Before the greeting: record it now (the client talked first), parse it after.
            assert self.session is not None
            if not self.session.talked_first:
                self.session.talked_first = True
                self._note(
                    "the client sent this before the greeting (RFC 5321 §4.3.1: SHOULD wait)"
                )
            plain, ended = self._decrypt(data)
            self._record(Direction.CLIENT, plain)
            self.parser.receive_data(plain)
            self.held_eof = self.held_eof or ended
        else:
            self._hold(data)

    def _hold(self, data: bytes) -> None:
        if not data:
            self.held_eof = True
            return
        self.held.append(data)
        self.held_size += len(data)
        if self.held_size > HELD_LIMIT and self.transport is not None:
            self.transport.pause_reading()  # the client waits in TCP, not in our memory

    def _pop_held(self) -> tuple[bytes, bool]:
        """What was held during a scripted wait (raw bytes, and whether the client closed),
        emptied; reading goes on if it was paused."""
        held, eof = b"".join(self.held), self.held_eof
        self.held, self.held_size, self.held_eof = [], 0, False
        if self.transport is not None and not self.gone:
            self.transport.resume_reading()
        return held, eof

    def _take_held(self) -> None:
        held, eof = self._pop_held()
        if held or self.tls_unread:
            self.tls_unread = False
            self._take(held, eof=False)
        if eof and not self.closed:
            self._take(b"", eof=True)

    def _take(self, data: bytes, *, eof: bool) -> None:
        """Record and parse bytes from the client; ``eof``: it ended the connection."""
        try:
            plain, ended = self._decrypt(data)
        except ssl.SSLError as exc:
            self.playback.on_error("tls", f"TLS error: {exc!r}", send_abort=False)
            self.closed = True
            return
        if plain:
            self._record(Direction.CLIENT, plain)
            self.parser.receive_data(plain)
        if eof or ended:
            if self.reset_by_client is not None:
                self._note(f"connection reset by the client: {self.reset_by_client!r}")
                self.reset_by_client = None
            self._note("client closed its side")
            self.parser.receive_data(b"")

    def _decrypt(self, data: bytes) -> tuple[bytes, bool]:
        """The client's bytes as plaintext (under TLS: every complete record so far), and
        whether the client ended TLS."""
        if self.tls is None:
            return data, False
        if data:
            self.tls.feed(data)
        plain, ended = self.tls.read()
        self._flush_tls()
        return plain, ended

    def _lost(self, exc: Exception | None) -> None:
        """The connection is gone (a reset, or the close the script made)."""
        if self.waiting == "handshake":
            self._handshake_failed(
                ConnectionError("the client closed the connection during the TLS handshake")
            )
        elif self.waiting == "client":
            # A reset is how many clients close (SO_LINGER 0, or unread data at close): judged
            # as a close, fine where the rest of the script is optional.
            self._cancel_wait()
            self.waiting = None
            self.reset_by_client = exc
            self._take(b"", eof=True)
            self._pump()
            if not self.ended:
                self._end()
        elif self.waiting == "gives up":
            self._end()
        else:  # a scripted wait, or a client that does not read: no write can reach it now
            self._cancel_wait()
            self.waiting = None
            if not self.closed:
                self._note(f"connection lost while writing: {exc!r}")
                self.playback.on_close(while_writing=True)
                self.closed = True
            self._end()

    # -- actions --

    def _perform(self, item: _Item) -> None:
        if isinstance(item, Send):
            self._send(item)
        elif isinstance(item, _Write):
            self._write(item.data)
        elif isinstance(item, _Pause):
            self._pause(item.seconds, item.what)
        elif isinstance(item, Delay):
            where = f" (line {item.line})" if item.line else ""
            self._pause(item.seconds, f"the delay step{where}")
        elif isinstance(item, BeginData):
            self.parser.start_data()
        elif isinstance(item, StartTls):
            if self.parser.pending:
                # RFC 3207 §6 / CVE-2011-0411: nothing may follow STARTTLS before the handshake.
                self.queue.clear()
                self.queue.extend(
                    self.playback.on_error(
                        "protocol",
                        f"the client sent {self.parser.pending[:60]!r} after STARTTLS, before the "
                        "TLS handshake (RFC 3207 §6: STARTTLS must end a pipelined group)",
                    )
                )
                return
            self._start_tls("STARTTLS", item.may_refuse, item.certificate)
        elif isinstance(item, Close):
            self.closed = True
            self._note("server closed the connection")
            self._close_transport()

    def _send(self, action: Send) -> None:
        assert self.session is not None
        self.session.writes += 1
        plan = self.server.faults
        faults = plan.for_write(self.session.writes) if plan else []
        for fault in faults:
            if fault.kind == "delay":
                action = replace(action, delay=action.delay + fault.seconds)
        ending = next((f for f in faults if f.kind in ENDING_KINDS), None)
        if ending is not None:
            self._end_with_fault(ending)
            return
        if self.data_reply_due:
            self.data_reply_due = False
            self.session.data_accepted = self.session.data_accepted or action.data[:1] == b"2"
        if not (faults or action.delay or action.split or action.every_byte):
            self._write(action.data)  # the common case: one piece, no wait
            return
        where = f" (line {action.line})" if action.line else ""
        items: list[_Item] = []
        if action.delay:
            items.append(_Pause(action.delay, f"the delay before a write{where}"))
        for pause, piece in write_pieces(action, faults):
            if pause:
                items.append(_Pause(pause, f"a pause inside a write{where}"))
            items.append(_Write(piece))
        self.queue.extendleft(reversed(items))

    def _write(self, data: bytes) -> None:
        self.greeted = True
        # ``gone`` comes a loop turn after a failed send; ``is_closing`` says so at once, so the
        # pieces of a split write stop at the first that cannot go out.
        assert self.transport is not None
        if self.gone or self.reset_by_client is not None or self.transport.is_closing():
            # The client closed while we were still answering (e.g. replies to a pipelined
            # group it gave up on): judged like a close, fine if only optional steps remain.
            self._note(f"connection lost while writing: {self.reset_by_client!r}")
            self.playback.on_close(while_writing=True)
            self.closed = True
            self.queue.clear()
            return
        self.transport.write(self.tls.encrypt(data) if self.tls is not None else data)
        self._record(Direction.SERVER, data)
        if self.write_paused:  # the client is not reading: wait for it, limits.read at most
            self.waiting = "drain"
            self._wait(self.loop.time() + self.read_timeout, self._client_not_reading)

    def _client_not_reading(self) -> None:
        self.waiting = None
        message = f"the client read nothing for {self.read_timeout:g} s"
        self.queue.clear()
        self.queue.extend(self.playback.on_error("timeout", message, send_abort=False))
        self._pump()

    def _pause(self, seconds: float, what: str) -> None:
        """A scripted wait; refused if the session's time limit cannot hold it.

        The server's own waits alone going past ``limits.total`` (or a NaN) mean no client can
        finish the script: a fault of the scenario (or of the ``delay`` faults laid over it),
        recorded as a harness error and the connection closed, so no client is failed for it."""
        assert self.session is not None
        if not self.waited + seconds <= self.total:
            self.session.harness_error = (
                f"{what}, {seconds:g} s, takes the server's own waiting (scripted delays and "
                f"pauses, delay faults) to {self.waited + seconds:g} s, past limits.total = "
                f"{self.total:g} s: no client can finish the script in time"
            )
            self._note(f"harness error: {self.session.harness_error}")
            self.playback.end_here()
            self.closed = True
            self.queue.clear()
            self._close_transport()
            return
        self.waited += seconds
        self.waiting = "pause"
        self._wait(self.loop.time() + seconds, self._resume)

    def _resume(self) -> None:
        self.waiting = None
        self._pump()

    def _end_with_fault(self, fault: Fault) -> None:
        """Do a session-ending fault instead of the scripted write; the script stops here."""
        assert self.session is not None and self.transport is not None
        plan = self.server.faults
        self.session.fault = f"{fault} (seed {plan.seed if plan else '?'})"
        self._note(f"fault injected: {fault}")
        self.playback.end_here()
        self.queue.clear()
        self.closed = True
        if fault.kind == "421":
            self._write(b"421 4.3.2 smtp-harness: fault injected, closing\r\n")
        elif fault.kind == "reset":
            self.transport.abort()  # RST, not FIN
            return
        if fault.kind == "half-close":
            if self.tls is not None:
                self.transport.write(self.tls.close_notify())
            if self.transport.can_write_eof():
                self.transport.write_eof()
        if fault.kind in ("half-close", "stall"):
            # Read on, answer nothing, until the client gives up.
            self.waiting = "gives up"
            self._wait(self.loop.time() + self.total, self._end)
            return
        self._close_transport()

    # -- TLS --

    def _start_tls(self, what: str, may_refuse: bool, certificate: Certificate) -> None:
        self.tls = TlsLayer(self.server.tls_material.server_context(certificate))
        self.handshake = (what, may_refuse, certificate)
        self.waiting = "handshake"
        self._wait(self.loop.time() + self.read_timeout, self._handshake_timed_out)
        held, eof = self._pop_held()  # a ClientHello sent behind our 220 is among them
        self._handshake_input(held, eof=eof)

    def _handshake_input(self, raw: bytes, *, eof: bool = False) -> None:
        assert self.tls is not None
        if raw:
            self.tls.feed(raw)
        try:
            done = self.tls.handshake()
        except ssl.SSLError as exc:
            self._flush_tls()  # send our alert, so the client learns why
            self._handshake_failed(exc)
            return
        self._flush_tls()
        if done:
            self._handshake_done()
        elif eof:
            self._handshake_failed(
                ConnectionError("the client closed the connection during the TLS handshake")
            )

    def _handshake_timed_out(self) -> None:
        self._handshake_failed(
            TimeoutError(f"TLS handshake not done within {self.read_timeout:g} s")
        )

    def _handshake_failed(self, exc: BaseException) -> None:
        assert self.handshake is not None
        what, may_refuse, certificate = self.handshake
        self._cancel_wait()
        self.waiting = None
        self.closed = True
        self.queue.clear()
        if certificate.must_refuse:
            # What the client must do with a certificate it cannot validate (RFC 8314 §5.3):
            # abort the handshake (an alert, or a close) and send nothing in TLS.
            self.playback.end_here()
            self._note(f"the client refused {describe(certificate)} ({what}): {exc!r}")
        elif may_refuse and isinstance(exc, ConnectionError):
            # The script allows a client to refuse TLS here by closing (tls: {may_refuse: true}).
            self.playback.end_here()
            self._note(f"the client closed instead of starting TLS (allowed here): {exc!r}")
        else:
            self.playback.on_error("tls", f"{what} handshake failed: {exc!r}", send_abort=False)
            if not isinstance(exc, ConnectionError):
                self._note(f"{what} handshake failed: {exc!r}")
        self._pump()

    def _handshake_done(self) -> None:
        assert self.handshake is not None and self.tls is not None
        what, _may_refuse, certificate = self.handshake
        self._cancel_wait()
        self.waiting = None
        self.tls_on = True
        self.tls_unread = True  # records that came behind the client's Finished
        self._note(f"{what} handshake done ({self.tls.version})")
        if certificate.must_refuse:
            # RFC 3207 §4.1: a client that finds the security too weak "SHOULD issue an SMTP
            # QUIT command immediately after the TLS negotiation is complete": so QUIT (or a
            # close) is still fine; anything else means it accepted the certificate.
            accepted = describe(certificate)
            self._note(f"the client completed the TLS handshake with {accepted}")
            self.playback.only_quit_from_now(
                f"the client accepted {accepted} ({what}) and went on inside TLS",
                hint="RFC 8314 §5.3: MUAs MUST validate TLS server certificates according to "
                "[RFC7817] and PKIX [RFC5280]; RFC 3207 §4.1: if the security is not high enough "
                "the client SHOULD QUIT immediately after the TLS negotiation",
                rule="R-TLS-10",
            )
        if what == "implicit TLS":
            self.queue.extend(self.playback.start())
        self._pump()

    def _flush_tls(self) -> None:
        assert self.tls is not None
        pending = self.tls.outgoing()
        if pending and self.transport is not None and not self.gone:
            self.transport.write(pending)

    # -- the timer, records, the end --

    def _wait(self, when: float, then: Callable[[], None]) -> None:
        """Call ``then`` at ``when``, on the connection's one timer."""
        self.on_due = then
        self.deadline.set(when)

    def _wait_expired(self) -> None:
        then, self.on_due = self.on_due, None
        if then is not None:
            self._guard(then)

    def _cancel_wait(self) -> None:
        self.on_due = None
        self.deadline.clear()

    def _guard(self, step: Callable[[], None]) -> None:
        """Run a step of the session; an exception in it is the harness's, never the client's."""
        try:
            step()
        except Exception as exc:
            assert self.session is not None
            self.session.harness_error = harness_error(exc)
            self._note(f"harness error: {self.session.harness_error}")
            self.closed = True
            self._end()

    def _record(self, direction: Direction, data: bytes) -> None:
        assert self.session is not None
        self.server._record(self.session, direction, data, self.tls_on)

    def _note(self, text: str) -> None:
        self._record(Direction.NOTE, text.encode())

    def _end(self) -> None:
        """The session is over: complete its record, close, and let the client go."""
        if self.ended:
            return
        self.ended = True
        self.closed = True
        self._cancel_wait()
        session, playback = self.session, self.playback
        assert session is not None
        session.failure = playback.failure
        session.complete = playback.finished and playback.failure is None
        session.pending = playback.pending_steps()
        session.server_closed = playback.hung_up and playback.failure is None
        session.helo_for_ehlo = playback.helo_for_ehlo
        session.helo_after_tls = playback.helo_after_tls
        session.talked_first = session.talked_first or playback.talked_first
        if playback.failure is not None:
            self._note(f"FAILED: {playback.failure.message}")
        session.done.set()
        self._close_transport()

    def stop(self) -> None:
        """The server is closing: end the session where it is."""
        if self.session is not None and not self.ended:
            self.session.stopped = True
            self._note("server stopped")
            self.ended = True
            self.closed = True
            self._cancel_wait()
            self.session.done.set()
        if self.transport is not None:
            self.transport.abort()

    def _close_transport(self) -> None:
        """Close; if unsent data is stuck (a client that does not read), reset instead, so the
        socket does not outlive the session waiting for a reader that never comes."""
        transport = self.transport
        if transport is None or self.gone:
            return
        if transport.get_write_buffer_size() > 0:
            transport.abort()
        elif not transport.is_closing():
            transport.close()
            self.force_close = self.loop.call_later(CLOSE_GRACE, self._force_close)

    def _force_close(self) -> None:
        if not self.gone and self.transport is not None:
            self.transport.abort()


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
