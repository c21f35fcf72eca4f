"""The asyncio driver of the reference client: sockets, TLS, deadlines around ClientMachine."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from harness.client.machine import (
    ClientMachine,
    CloseConnection,
    StartTls,
    Write,
    local_refusal,
)
from harness.client.variant import STRICT, ClientVariant
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask, Outcome, TlsMode

__all__ = ["RFC_5321_TIMEOUT", "ClientConfig", "deliver", "deliver_blocking"]

# RFC 5321 §4.5.3.2: the shortest of the client timeouts it recommends is 2 minutes (DATA
# initiation), the longest 10 (the reply to the final dot). One figure keeps the driver simple;
# the harness passes the scenario's own limit instead.
RFC_5321_TIMEOUT = 300.0


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
    implicit = task.tls is TlsMode.IMPLICIT
    needs_tls = task.tls is not TlsMode.NONE
    ctx = config.ssl_context or (ssl.create_default_context() if needs_tls else None)
    hostname = config.server_hostname or config.host
    try:
        async with asyncio.timeout(config.timeout):  # no task, unlike wait_for
            reader, writer = await asyncio.open_connection(
                config.host,
                config.port,
                ssl=ctx if implicit else None,
                server_hostname=hostname if implicit else None,
                ssl_handshake_timeout=config.timeout if implicit else None,
            )
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        machine = ClientMachine(task, ehlo_name="[127.0.0.1]", variant=variant)
        machine.fail(f"could not connect: {exc!r}")
        assert machine.outcome is not None
        return machine.outcome
    local = writer.get_extra_info("sockname")
    ehlo_name = (
        _ascii_domain(task.ehlo_name)
        if task.ehlo_name
        else _address_literal(local[0] if local else "127.0.0.1")
    )
    # A changed machine written against the plain signature keeps working: ``variant`` is passed
    # only when one is asked for.
    machine = (
        machine_class(task, ehlo_name=ehlo_name)
        if variant == STRICT
        else machine_class(task, ehlo_name=ehlo_name, variant=variant)
    )
    try:
        await _run(machine, reader, writer, ctx, hostname, config.timeout)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    assert machine.outcome is not None
    return machine.outcome


async def _run(
    machine: ClientMachine,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ctx: ssl.SSLContext | None,
    hostname: str,
    timeout: float,
) -> None:
    while not machine.finished:
        try:
            async with asyncio.timeout(timeout):  # no task per read, unlike wait_for
                data = await reader.read(65536)
        except TimeoutError:
            actions = machine.fail(f"no reply from the server within {timeout:g} s")
        except (OSError, ssl.SSLError) as exc:
            actions = machine.fail(f"connection error: {exc!r}")
        else:
            actions = machine.receive_data(data)
        while actions:
            action = actions.pop(0)
            if isinstance(action, Write):
                try:
                    writer.write(action.data)
                    # Drain only when it can wait or fail: most writes leave nothing buffered.
                    if writer.transport.get_write_buffer_size() or writer.transport.is_closing():
                        async with asyncio.timeout(timeout):
                            await writer.drain()
                except (OSError, TimeoutError) as exc:
                    actions = machine.fail(f"could not send: {exc!r}")
            elif isinstance(action, StartTls):
                assert ctx is not None  # only a STARTTLS task starts TLS
                try:
                    await writer.start_tls(
                        ctx, server_hostname=hostname, ssl_handshake_timeout=timeout
                    )
                except (OSError, ssl.SSLError, TimeoutError) as exc:
                    actions = machine.fail(f"TLS handshake failed: {exc!r}")
                else:
                    actions += machine.tls_established()
            elif isinstance(action, CloseConnection):
                return


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
