"""TLS for the scripted server without a TLS transport: ``ssl.SSLObject`` over two MemoryBIOs.

The connection feeds it the raw bytes it receives and writes out what it returns, so TLS can
start in the middle of a plain connection with whatever bytes are already there (the client's
ClientHello may arrive right behind our 220 to STARTTLS), and the plain and TLS halves of a
session go through one ``data_received``. No I/O here.
"""

from __future__ import annotations

import ssl

__all__ = ["TlsLayer"]

READ_SIZE = 65536


class TlsLayer:
    """The server side of one TLS session."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)

    @property
    def version(self) -> str | None:
        return self._tls.version()

    def feed(self, raw: bytes) -> None:
        """Bytes received from the client, still encrypted."""
        self._incoming.write(raw)

    def outgoing(self) -> bytes:
        """Bytes to send to the client (handshake messages, records, alerts)."""
        return self._outgoing.read()

    def handshake(self) -> bool:
        """Go on with the handshake on what was fed so far: True once it is done.

        Raises:
            ssl.SSLError: the handshake failed (our alert is in ``outgoing()``).
        """
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    def read(self) -> tuple[bytes, bool]:
        """The plaintext of every complete record fed so far, and whether the client ended TLS
        (a close_notify, or a close the TLS layer can tell).

        Raises:
            ssl.SSLError: a record that does not decrypt, or an alert from the client.
        """
        parts: list[bytes] = []
        while True:
            try:
                data = self._tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                return b"".join(parts), False
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b"".join(parts), True
            if not data:
                return b"".join(parts), True
            parts.append(data)

    def encrypt(self, data: bytes) -> bytes:
        """``data`` as TLS records, ready to send."""
        self._tls.write(data)
        return self._outgoing.read()

    def close_notify(self) -> bytes:
        """Our close_notify, ready to send; RFC 8446 §6.1 lets the client go on sending."""
        try:
            self._tls.unwrap()
        except ssl.SSLWantReadError:  # ours is out; the client's is still to come
            pass
        except (ssl.SSLError, OSError):
            pass
        return self._outgoing.read()
