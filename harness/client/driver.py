"""The asyncio driver of the reference client: ClientMachine on the transport level.

Bytes from the server come in through ``data_received``, go to the sans-IO ``ClientMachine``,
and what it answers is written at once, inside the callback. Only three things leave the
callback: the TLS handshake after STARTTLS (``loop.start_tls``, awaited by ``deliver``), a
server that does not read (the transport paused writing: what the machine wants to send next
waits for ``resume_writing``, and no input is taken meanwhile, as a blocked ``drain`` did), and
the end, one Future. One timer per connection, moved forward by progress, stands for the limit
on each wait: for a reply, for the server to read, for the close.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from harness.client.machine import (
    ClientAction,
    ClientMachine,
    CloseConnection,
    StartTls,
    Write,
    local_refusal,
)
from harness.client.variant import STRICT, ClientVariant
from harness.deadline import Deadline
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask, Outcome, TlsMode

__all__ = ["RFC_5321_TIMEOUT", "ClientConfig", "deliver", "deliver_blocking"]

# RFC 5321 §4.5.3.2: the shortest of the client timeouts it recommends is 2 minutes (DATA
# initiation), the longest 10 (the reply to the final dot). One figure keeps the driver simple;
# the harness passes the scenario's own limit instead.
RFC_5321_TIMEOUT = 300.0
CLOSE_GRACE = 1.0  # seconds a closed connection may take to flush (or end TLS) before a reset


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Where and how to connect.

    Attributes:
        host, port: the server.
        ssl_context: for STARTTLS and implicit TLS; None means the system's default trust.
        server_hostname: the name to verify in the server certificate.
        timeout: seconds to wait for any one reply (and for the TLS handshake).
    """

    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    timeout: float = RFC_5321_TIMEOUT


async def deliver(
    task: ClientTask,
    config: ClientConfig,
    *,
    machine_class: type[ClientMachine] = ClientMachine,
    variant: ClientVariant = STRICT,
) -> ClientOutcome:
    """Run one session for ``task`` against ``config``; never raises for server behaviour.

    Every failure (refusal, protocol error, timeout, TLS error, lost connection) comes back as
    a ``ClientOutcome`` with outcome ``failed``. ``machine_class`` lets a test run a changed
    state machine (e.g. a deliberately broken one) over the same sockets; ``variant`` picks the
    legal choices (HELO, no pipelining, ...).
    """
    if variant.refuse_before_connect and (reason := local_refusal(task, variant)):
        return ClientOutcome(outcome=Outcome.FAILED, message=f"refused before connecting: {reason}")
    outcome = await _session(task, config, machine_class, variant)
    if variant.exit_delay:
        await asyncio.sleep(variant.exit_delay)  # a program slow to exit after its session
    return outcome


async def _session(
    task: ClientTask,
    config: ClientConfig,
    machine_class: type[ClientMachine],
    variant: ClientVariant,
) -> ClientOutcome:
    loop = asyncio.get_running_loop()
    implicit = task.tls is TlsMode.IMPLICIT
    needs_tls = task.tls is not TlsMode.NONE
    ctx = config.ssl_context or (ssl.create_default_context() if needs_tls else None)
    hostname = config.server_hostname or config.host

    def make_machine(local: tuple[str, int] | None) -> ClientMachine:
        ehlo_name = (
            _ascii_domain(task.ehlo_name)
            if task.ehlo_name
            else _address_literal(local[0] if local else "127.0.0.1")
        )
        # A changed machine written against the plain signature keeps working: ``variant`` is
        # passed only when one is asked for.
        if variant == STRICT:
            return machine_class(task, ehlo_name=ehlo_name)
        return machine_class(task, ehlo_name=ehlo_name, variant=variant)

    connection = _Connection(loop, make_machine, config.timeout)
    try:
        await connection.connect(
            config.host,
            config.port,
            ssl=ctx if implicit else None,
            server_hostname=hostname if implicit else None,
            ssl_handshake_timeout=config.timeout if implicit else None,
        )
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        connection.abandon()
        machine = ClientMachine(task, ehlo_name="[127.0.0.1]", variant=variant)
        machine.fail(f"could not connect: {exc!r}")
        assert machine.outcome is not None
        return machine.outcome
    try:
        while await connection.next_step is not None:  # a StartTls; None: closed
            assert ctx is not None  # only a STARTTLS task starts TLS
            await connection.start_tls(ctx, hostname)
    finally:
        connection.abandon()  # cancelled, or a harness error: close, do not wait
    assert connection.machine is not None and connection.machine.outcome is not None
    return connection.machine.outcome


class _Connection(asyncio.Protocol):
    """One session of the reference client: the machine, its transport and its one timer.

    ``next_step`` is the Future ``deliver`` waits on: it resolves to a ``StartTls`` when the
    machine asks for TLS, to None once the connection is closed, or to the exception a
    callback raised (a fault of the harness, never the server's)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        make_machine: Callable[[tuple[str, int] | None], ClientMachine],
        timeout: float,
    ) -> None:
        self.loop = loop
        self.make_machine = make_machine
        self.timeout = timeout
        self.machine: ClientMachine | None = None
        self.transport: asyncio.Transport | None = None
        self.next_step: asyncio.Future[StartTls | None] = loop.create_future()
        self.connecting: asyncio.Task[object] | None = None  # the task in connect()
        self.connect_expired = False
        self.over_tls = False
        self.held: list[ClientAction] = []  # actions waiting for the server to read
        self.write_paused = False
        self.handshaking = False  # the transport is loop.start_tls's until it returns
        self.closing = False  # we closed; waiting for connection_lost
        self.gone = False  # connection_lost was called
        self.deadline = Deadline(loop, self._expired)  # the one timer, for every wait

    async def connect(self, host: str, port: int, **options: Any) -> None:
        """``loop.create_connection`` (and implicit TLS's handshake) within ``timeout``, on the
        connection's own timer rather than a timeout context of its own.

        Raises:
            TimeoutError: not connected in time.
            OSError, ssl.SSLError: refused, unreachable, the handshake failed.
        """
        task = asyncio.current_task()
        assert task is not None
        self.connecting = task
        self.over_tls = options.get("ssl") is not None  # implicit TLS: TLS from the first byte
        self._progress()
        try:
            await self.loop.create_connection(lambda: self, host, port, **options)
        except asyncio.CancelledError:
            # Our timer's cancel, and no one else's (as asyncio.timeout tells them apart).
            if self.connect_expired and task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            self.connecting = None

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, so no isinstance).
        self.transport = cast(asyncio.Transport, transport)
        try:
            self.machine = self.make_machine(transport.get_extra_info("sockname"))
        except Exception as exc:
            self._crash(exc)
            return
        self._progress()

    def data_received(self, data: bytes) -> None:
        machine = self.machine
        if machine is None or machine.finished:
            return
        self._progress()
        try:
            self._perform(machine.receive_data(data))
        except Exception as exc:
            self._crash(exc)

    def eof_received(self) -> bool:
        machine = self.machine
        if machine is not None and not machine.finished:
            try:
                self._perform(machine.receive_data(b""))
            except Exception as exc:
                self._crash(exc)
        # Plain: keep our half open, the machine closes when it is done (the stream reader did
        # the same); over TLS asyncio closes anyway and warns about True.
        return not self.over_tls

    def pause_writing(self) -> None:
        # The server does not read what we wrote: wait for it, taking in nothing meanwhile (as
        # a blocked ``drain`` did), ``timeout`` at most from now.
        self.write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()
        self._progress()

    def resume_writing(self) -> None:
        self.write_paused = False
        # Not from inside the transport's write callback: a close or reset there makes asyncio
        # (3.11) report the connection lost twice.
        self.loop.call_soon(self._resume)

    def _resume(self) -> None:
        if self.write_paused or self.closing or self.gone or self.transport is None:
            return
        self.transport.resume_reading()
        self._progress()
        held, self.held = self.held, []
        if held:
            try:
                self._perform(held)
            except Exception as exc:
                self._crash(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.deadline.cancel()
        if self.handshaking:
            return  # loop.start_tls reports it; start_tls() goes on from there
        machine = self.machine
        if machine is not None and not machine.finished:
            try:
                if exc is not None:
                    machine.fail(f"connection error: {exc!r}")
                else:
                    machine.receive_data(b"")
            except Exception as error:
                self._crash(error)
                return
        self._resolve(None)

    # -- what the machine asks for --

    def _perform(self, actions: list[ClientAction]) -> None:
        machine, transport = self.machine, self.transport
        assert machine is not None and transport is not None
        for index, action in enumerate(actions):
            if isinstance(action, CloseConnection):  # never waits: unsent bytes are reset
                self._close()
                return
            if self.write_paused:  # a write or TLS: it and the rest wait for resume_writing
                self.held.extend(actions[index:])
                return
            if isinstance(action, Write):
                if transport.is_closing():
                    lost = ConnectionResetError("Connection lost")
                    self._perform(machine.fail(f"could not send: {lost!r}"))
                    return
                try:
                    transport.write(action.data)
                except OSError as exc:
                    self._perform(machine.fail(f"could not send: {exc!r}"))
                    return
            elif isinstance(action, StartTls):
                self.handshaking = True
                transport.pause_reading()  # nothing more is read in plain text
                self._resolve(action)
                return
        if machine.finished:
            self._close()

    async def start_tls(self, ctx: ssl.SSLContext, hostname: str) -> None:
        """Upgrade the connection (after the 220 to STARTTLS), then let the machine go on."""
        assert self.transport is not None and self.machine is not None
        self.next_step = self.loop.create_future()
        if self.gone:  # the server closed behind its 220 (what drain said before start_tls)
            lost = ConnectionResetError("Connection lost")
            self.handshaking = False
            self.machine.fail(f"TLS handshake failed: {lost!r}")
            self._resolve(None)
            return
        try:
            transport = await self.loop.start_tls(
                self.transport,
                self,
                ctx,
                server_hostname=hostname,
                ssl_handshake_timeout=self.timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.handshaking = False
            self.gone = True  # start_tls closed the socket; what it reports later is moot
            self.machine.fail(f"TLS handshake failed: {exc!r}")
            self._resolve(None)
            return
        self.handshaking = False
        self.over_tls = True
        assert transport is not None
        self.transport = transport
        if self.gone:
            self.machine.fail("connection error: the connection was lost after the TLS handshake")
            self._resolve(None)
            return
        self._progress()
        try:
            self._perform(self.machine.tls_established())
        except Exception as exc:
            self._crash(exc)

    # -- the timer, the end --

    def _progress(self) -> None:
        """Something happened: the current wait starts again, ``timeout`` from now."""
        self.deadline.set(self.loop.time() + self.timeout)

    def _expired(self) -> None:
        if self.gone or self.handshaking:  # start_tls has its own limit and re-arms after
            return
        if self.connecting is not None:
            self.connect_expired = True
            self.connecting.cancel()
            return
        if self.closing:
            assert self.transport is not None
            self.transport.abort()  # the close did not finish in time
            return
        machine = self.machine
        assert machine is not None
        if self.held or self.write_paused:
            self.held = []
            message = f"could not send: the server read nothing for {self.timeout:g} s"
        else:
            message = f"no reply from the server within {self.timeout:g} s"
        try:
            self._perform(machine.fail(message))
        except Exception as exc:
            self._crash(exc)

    def _close(self) -> None:
        if self.closing:
            return
        self.closing = True
        self.held = []
        if self.gone or self.transport is None:
            self._resolve(None)
            return
        transport = self.transport
        if transport.get_write_buffer_size() > 0:
            # The server is not reading: reset, so what is unsent (a message we reported as
            # not sent, say) never reaches it later.
            transport.abort()
            return
        transport.close()
        if self.over_tls:  # TLS waits for the server's close_notify, briefly
            self.deadline.set(self.loop.time() + CLOSE_GRACE)
        # A plain close is done in the next loop turn; the deadline still stands guard.

    def abandon(self) -> None:
        """``deliver`` is leaving: close what is still open, without waiting."""
        self.deadline.cancel()
        if self.transport is not None and not self.gone and not self.transport.is_closing():
            self.transport.close()

    def _resolve(self, step: StartTls | None) -> None:
        if not self.next_step.done():
            self.next_step.set_result(step)

    def _crash(self, exc: Exception) -> None:
        """A callback raised: a fault of the harness, so ``deliver`` raises it."""
        if not self.next_step.done():
            self.next_step.set_exception(exc)
        if self.transport is not None and not self.gone:
            self.transport.abort()


def deliver_blocking(task: ClientTask, config: ClientConfig) -> ClientOutcome:
    """``deliver`` for code without an event loop."""
    return asyncio.run(deliver(task, config))


def _ascii_domain(name: str) -> str:
    """RFC 5321 §2.3.5, RFC 6531 §3.7.1: the EHLO domain is ASCII, so U-labels become A-labels."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name  # not a domain we can convert; send it and let the server judge


def _address_literal(ip: str) -> str:
    """RFC 5321 §4.1.3: ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``."""
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"
