"""Run an asyncio server on its own event loop in a thread, for blocking code and pytest.

Both controllers (the scripted server's and the profiles') are built on this one class.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any, Generic, Protocol, TypeVar

from harness.errors import HarnessError

__all__ = ["AsyncServer", "ThreadedServer"]


class AsyncServer(Protocol):
    host: str
    port: int

    async def start(self) -> None: ...

    async def close(self) -> None: ...


S = TypeVar("S", bound=AsyncServer)


class ThreadedServer(Generic[S]):
    """Start and stop ``server`` from synchronous code; ``with`` starts and stops it.

    Args:
        server: the asyncio server (not started).
        ready_timeout: seconds ``start()`` waits for the server to listen.
    """

    def __init__(self, server: S, *, ready_timeout: float = 5.0) -> None:
        self.server = server
        self.ready_timeout = ready_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.findings_fail_the_test = True  # read by the pytest plugin when the test ends

    def allow_findings(self) -> None:
        """This test drives a client that breaks the rules on purpose and checks the sessions
        itself: the pytest plugin still shows the transcripts, but its findings do not fail the
        test. ``assert_followed()`` still raises."""
        self.findings_fail_the_test = False

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

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
                f"the server did not start within {self.ready_timeout} s; "
                "try increasing ready_timeout"
            ) from None

    @property
    def running(self) -> bool:
        return self._loop is not None and self._loop.is_running()

    def _call(self, coro: Any, timeout: float) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

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
