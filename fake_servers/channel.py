"""The server's byte channel: plain TCP, upgraded to TLS in place with ``ssl.MemoryBIO``.

Why not ``StreamWriter.start_tls``: bytes that arrive between our last read and the switch (the
client's ClientHello, sent as soon as it has read our 220) land in the StreamReader's buffer,
where the new TLS layer never sees them, and the handshake stalls. Here every byte read from the
socket goes through one place, so the handshake starts with whatever is already buffered.
"""

from __future__ import annotations

import asyncio
import ssl
import time

__all__ = ["Channel"]

READ_SIZE = 65536


class Channel:
    """Reads and writes one connection's bytes, in clear or through TLS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()

    @property
    def tls_version(self) -> str | None:
        return self._tls.version() if self._tls is not None else None

    async def read(self) -> bytes:
        """The next bytes from the client (decrypted under TLS); ``b""`` at EOF."""
        if self._tls is None:
            return await self.reader.read(READ_SIZE)
        while True:
            try:
                return self._tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                self._flush()
                data = await self.reader.read(READ_SIZE)
                if not data:
                    return b""
                self._incoming.write(data)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    def write(self, data: bytes) -> None:
        if self._tls is None:
            self.writer.write(data)
        else:
            self._tls.write(data)
            self._flush()

    async def drain(self) -> None:
        await self.writer.drain()

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self.writer.write(pending)

    async def start_tls(
        self, context: ssl.SSLContext, timeout: float, already_read: bytes = b""
    ) -> None:
        """Do the server side of the handshake.

        Args:
            already_read: raw bytes read from the socket but not yet used (part of the
                ClientHello, for implicit TLS or a client that did not wait).

        Raises:
            ssl.SSLError, ConnectionError, TimeoutError: the handshake failed.
        """
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        if already_read:
            self._incoming.write(already_read)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._tls.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                await self.writer.drain()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"TLS handshake not done within {timeout:g} s") from None
                data = await asyncio.wait_for(self.reader.read(READ_SIZE), remaining)
                if not data:
                    raise ConnectionError(
                        "the client closed the connection during the TLS handshake"
                    ) from None
                self._incoming.write(data)
            except ssl.SSLError:
                self._flush()  # send our alert, so the client learns why
                raise

    def half_close(self) -> None:
        """Stop sending and keep reading: under TLS a close_notify first (RFC 8446 §6.1 lets the
        peer go on sending after it), then the TCP FIN either way."""
        if self._tls is not None:
            try:
                self._tls.unwrap()
            except ssl.SSLWantReadError:  # sent ours; the client's close_notify is still to come
                pass
            except (ssl.SSLError, OSError):
                pass
            self._flush()
        if self.writer.can_write_eof():
            self.writer.write_eof()

    def close(self) -> None:
        """Close; if unsent data is stuck (a client that does not read), reset instead, so the
        socket does not outlive the session waiting for a reader that never comes."""
        transport = self.writer.transport
        if transport.get_write_buffer_size() > 0:
            transport.abort()
        else:
            self.writer.close()
