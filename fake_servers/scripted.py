"""The scripted server: plays a scenario over real TCP (and TLS), byte-exact, with deadlines.

Every connection is a ``ScriptedConnection`` (``fake_servers/connection.py``) with a fresh
Playback: what the client sends goes to the sans-IO CommandParser and the Playback, and the
actions that come back are performed: writes (delayed, split), pauses, the TLS upgrade, close.
Nothing raises into the event loop: whatever goes wrong ends up in the session's record, as
its Failure or as a harness error, with the transcript so far.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from fake_servers.connection import ScriptedConnection
from fake_servers.limits import DEFAULT_MAX_CONNECTIONS, ConnectionGate, require_loopback
from fake_servers.playback import Failure, Script
from fake_servers.tls import TlsMaterial
from harness.faults import FaultPlan
from harness.judge import SessionEvidence
from harness.scenario.model import AnyOf, Certificate, Scenario, StartTls, Step, TlsMode, Unordered
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
    writes: int = 0  # the server's scripted writes so far (fault positions count these)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    number: int = 0  # 1-based, in the order the server accepted the connections

    def evidence(self) -> SessionEvidence:
        """What the judge needs of this session (``harness.judge``)."""
        return SessionEvidence(
            transcript=self.transcript,
            failure=self.failure,
            ended=self.done.is_set(),
            complete=self.complete,
            pending=tuple(self.pending),
            fault=self.fault,
            data_accepted=self.data_accepted,
            server_closed=self.server_closed,
            helo_for_ehlo=self.helo_for_ehlo,
            helo_after_tls=self.helo_after_tls,
            harness_error=self.harness_error,
            talked_first=self.talked_first,
        )


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
        self.script = Script.compile(scenario)  # once, for every connection
        self.composes_message = composes_message
        self.tls = tls
        self.host = require_loopback(host, allow_non_loopback=allow_non_loopback)
        self.port = port
        self.sessions: list[Session] = []
        self._on_entry = on_entry
        self.faults = faults
        self._server: asyncio.Server | None = None
        self._live: set[ScriptedConnection] = set()
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
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ScriptedConnection(self), self.host, self.port
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end every session still running."""
        if self._server is not None:
            self._server.close()
        live = list(self._live)
        for connection in live:
            connection.stop()
        if live:
            await asyncio.wait([c.lost for c in live], timeout=1.0)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> ScriptedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def first_session(self, timeout: float) -> Session | None:
        """The first session, once it has ended; None if no client connected in time."""
        try:  # asyncio.timeout, not wait_for: no task per wait
            async with asyncio.timeout(timeout):
                await self._first.wait()
            async with asyncio.timeout(timeout):
                await self.sessions[0].done.wait()
        except TimeoutError:
            return None
        return self.sessions[0]

    # -- connections (each one a ScriptedConnection) --

    def _open_session(self, connection: ScriptedConnection) -> Session:
        self.connections += 1
        session = Session(number=self.connections)
        session.waiting_for = connection.playback.pending_steps
        self.sessions.append(session)
        self._live.add(connection)
        self._first.set()
        return session

    def _close_session(self, connection: ScriptedConnection) -> None:
        self._live.discard(connection)

    def _record(self, session: Session, direction: Direction, data: bytes, tls: bool) -> None:
        session.transcript.add(direction, data, tls=tls)
        if self._on_entry is not None:
            self._on_entry(session, session.transcript.entries[-1])


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
