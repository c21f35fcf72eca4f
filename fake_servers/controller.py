"""A threaded controller: runs a ScriptedServer on its own event loop, for blocking code.

with ServerController(scenario) as server:
    smtplib.SMTP(server.host, server.port) ...
    session = server.wait_session(timeout=5)
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from fake_servers.scripted import ScriptedServer, Session
from fake_servers.tls import TlsMaterial
from harness.errors import HarnessError
from harness.scenario.model import Scenario

__all__ = ["ServerController"]


class ServerController:
    """Start and stop a ScriptedServer from synchronous code.

    Args:
        scenario: what to play.
        tls: certificates (default: the process's shared ones).
        host, port: where to listen (127.0.0.1 and a free port by default).
        ready_timeout: seconds ``start()`` waits for the server to listen.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        tls: TlsMaterial | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_timeout: float = 5.0,
    ) -> None:
        self.tls = tls or TlsMaterial.shared()
        self.server = ScriptedServer(scenario, tls=self.tls, host=host, port=port)
        self.ready_timeout = ready_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def ca_path(self) -> str:
        """The CA file a client must trust for STARTTLS or implicit TLS."""
        return self.tls.ca_path

    @property
    def sessions(self) -> list[Session]:
        return self.server.sessions

    def start(self) -> None:
        """Start listening; returns once the port is open.

        Raises:
            HarnessError: the server did not start within ``ready_timeout`` seconds.
        """
        loop = asyncio.new_event_loop()
        self._loop = loop
        started: Future[None] = Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="smtp-harness-server", daemon=True)
        self._thread.start()
        try:
            started.result(self.ready_timeout)
        except TimeoutError:
            self.stop()
            raise HarnessError(
                f"the scripted server did not start within {self.ready_timeout} s; "
                "try increasing ready_timeout"
            ) from None

    def _call(self, coro: Any, timeout: float) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def wait_session(self, timeout: float = 10.0) -> Session | None:
        """The first session once it has ended, or None if none ended in time."""
        return self._call(self.server.first_session(timeout), timeout + 1.0)  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Close the server and every session, stop the loop and the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self.server.close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not loop.is_running():
            loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> ServerController:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
