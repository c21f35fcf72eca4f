"""The recording proxy: one client session relayed to a real server, its events kept.

The proxy works in lockstep: it passes one client line to the server, then the server's whole
reply back (each piece as it arrives, so split writes reach the client as they were written),
then the next line. A pipelining client still works: its later commands wait in the socket.
After DATA's 354 it passes the message through to the final ``.``. After STARTTLS's 220 both
legs turn to TLS: the client gets the harness's certificate (it must trust the harness CA
file), the server is verified against ``upstream_ca`` (or the system's CAs).

Every read has a deadline, so a silent peer ends the recording instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field

from fake_servers.tls import TlsMaterial
from harness.errors import HarnessError
from harness.importers.events import Command, Content, Event, Reply, ServerClosed, TlsStarted
from harness.protocol.data import dot_unstuff

__all__ = ["RecordingError", "RecordingProxy"]

HOST = "127.0.0.1"
_MAX_LINE = 1 << 20


class RecordingError(HarnessError):
    """The session could not be relayed (the upstream is unreachable, a TLS failure ...)."""


@dataclass
class RecordingProxy:
    """Relays the first session that connects and keeps its events.

    Args:
        upstream: (host, port) of the real server.
        tls: the harness certificate material the client side presents.
        upstream_ca: a CA file to verify the server with (None: the system's CAs).
        listen_port: the local port (0: any free one; see ``port`` once started).
        timeout: seconds any one read may take.
    """

    upstream: tuple[str, int]
    tls: TlsMaterial
    upstream_ca: str | None = None
    listen_port: int = 0
    timeout: float = 60.0
    events: list[Event] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _done: asyncio.Future[None] | None = None

    async def start(self) -> int:
        """Listen on 127.0.0.1; the port."""
        self._done = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(
            self._session, HOST, self.listen_port, limit=_MAX_LINE
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def wait(self) -> list[Event]:
        """Wait for the first session to end; its events.

        Raises:
            RecordingError: the session could not be relayed.
        """
        assert self._done is not None and self._server is not None
        try:
            await self._done
        finally:
            self._server.close()
            await self._server.wait_closed()
        return self.events

    async def _session(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        assert self._done is not None
        if self._done.done() or self.events:  # one session per recording
            client_w.close()
            return
        error: BaseException | None = None
        upstream_w: asyncio.StreamWriter | None = None
        try:
            host, port = self.upstream
            try:
                upstream_r, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, limit=_MAX_LINE), self.timeout
                )
                upstream_w = writer
            except (OSError, TimeoutError) as exc:
                raise RecordingError(
                    f"cannot connect to the upstream {host}:{port}: {exc}"
                ) from exc
            await self._relay(client_r, client_w, upstream_r, writer)
        except RecordingError as exc:
            error = exc
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            error = RecordingError(f"the session broke off: {exc!r}")
        finally:
            for leg in (client_w, upstream_w):
                if leg is not None:
                    leg.close()
                    with contextlib.suppress(OSError, ssl.SSLError):
                        await leg.wait_closed()
            if not self._done.done():
                if error is not None:
                    self._done.set_exception(error)
                else:
                    self._done.set_result(None)

    async def _relay(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        upstream_r: asyncio.StreamReader,
        upstream_w: asyncio.StreamWriter,
    ) -> None:
        buffer = bytearray()
        reply = await self._reply(upstream_r, client_w, buffer)
        if reply is None:
            return
        while True:
            line = await asyncio.wait_for(client_r.readline(), self.timeout)
            if not line:
                return  # the client closed
            text = line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
            self.events.append(Command(text=text))
            upstream_w.write(line)
            await upstream_w.drain()
            verb = text.split(" ", 1)[0].upper()
            if verb == "STARTTLS":
                # The client starts its handshake as soon as it reads the 220: its first bytes
                # must stay in the socket for the TLS layer, not land in the stream's buffer.
                _reading(client_w).pause_reading()
            reply = await self._reply(upstream_r, client_w, buffer)
            if reply is None:
                return
            if verb == "STARTTLS" and reply.code == 220:
                await self._start_tls(client_w, upstream_w)
                self.events.append(TlsStarted())
            elif verb == "STARTTLS":
                _reading(client_w).resume_reading()
            elif verb == "DATA" and reply.code == 354:
                await self._message(client_r, upstream_w)
                if await self._reply(upstream_r, client_w, buffer) is None:
                    return
            elif verb == "QUIT":
                return

    async def _reply(
        self, upstream_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, buffer: bytearray
    ) -> Reply | None:
        """Pass one whole reply to the client, piece by piece; None when the server closed."""
        writes: list[tuple[bytes, float]] = []
        start = last = time.monotonic()
        while True:
            end = _reply_end(bytes(buffer))
            if end is not None:
                data = bytes(buffer[:end])
                del buffer[:end]
                if not writes:
                    writes.append((data, last - start))
                reply = Reply(data=data, writes=tuple(writes))
                self.events.append(reply)
                return reply
            piece = await asyncio.wait_for(upstream_r.read(65536), self.timeout)
            now = time.monotonic()
            if not piece:
                if buffer:
                    client_w.write(bytes(buffer))
                self.events.append(ServerClosed())
                return None
            writes.append((piece, now - last))
            last = now
            buffer += piece
            client_w.write(piece)
            await client_w.drain()

    async def _message(
        self, client_r: asyncio.StreamReader, upstream_w: asyncio.StreamWriter
    ) -> None:
        wire = bytearray()
        while True:
            line = await asyncio.wait_for(client_r.readline(), self.timeout)
            if not line:
                raise RecordingError("the client closed inside the message")
            upstream_w.write(line)
            if line == b".\r\n":
                break
            wire += line
        await upstream_w.drain()
        self.events.append(Content(message=dot_unstuff(bytes(wire))))

    async def _start_tls(
        self, client_w: asyncio.StreamWriter, upstream_w: asyncio.StreamWriter
    ) -> None:
        context = ssl.create_default_context(cafile=self.upstream_ca)
        try:
            await asyncio.wait_for(
                upstream_w.start_tls(context, server_hostname=self.upstream[0]), self.timeout
            )
        except (ssl.SSLError, OSError) as exc:
            raise RecordingError(
                f"TLS with the upstream failed: {exc} (give its CA with --upstream-ca)"
            ) from exc
        try:
            await asyncio.wait_for(client_w.start_tls(self.tls.server_context()), self.timeout)
        except (ssl.SSLError, OSError) as exc:
            raise RecordingError(
                f"TLS with the client failed: {exc} (it must trust {self.tls.ca_path})"
            ) from exc


def _reading(writer: asyncio.StreamWriter) -> asyncio.ReadTransport:
    """The transport of a socket stream, which reads as well as writes."""
    transport = writer.transport
    assert isinstance(transport, asyncio.ReadTransport)
    return transport


def _reply_end(data: bytes) -> int | None:
    """The length of the first complete reply in ``data`` (its last line "NNN " or "NNN"), or
    None while it is incomplete."""
    at = 0
    while True:
        end = data.find(b"\n", at)
        if end < 0:
            return None
        line = data[at:end].rstrip(b"\r")
        if len(line) < 4 or line[3:4] != b"-":
            return end + 1
        at = end + 1
