"""The pure-Python ceiling: the least an asyncio SMTP server can do to take a plain smtplib send.

Greeting, EHLO/HELO, MAIL, RCPT, DATA (the body is skipped up to CRLF.CRLF), RSET, NOOP, QUIT,
and STARTTLS when given a TLS context (implicit TLS: ``serve(tls=..., implicit=True)``). No
checks, no transcript: every line gets its canned reply. For benchmarks only.
"""

from __future__ import annotations

import asyncio
import ssl

OK = b"250 2.0.0 Ok\r\n"
REPLIES = {
    b"EHLO": b"250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    b"HELO": b"250 localhost\r\n",
    b"MAIL": OK,
    b"RCPT": OK,
    b"RSET": OK,
    b"NOOP": OK,
    b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    b"QUIT": b"221 2.0.0 Bye\r\n",
    b"STARTTLS": b"454 4.7.0 TLS not available\r\n",
}
BEFORE_TLS = {
    **REPLIES,
    b"EHLO": b"250-localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n",
    b"STARTTLS": b"220 2.0.0 Ready to start TLS\r\n",
}


class MinimalSmtp(asyncio.Protocol):
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls, self.buf, self.in_data = tls, b"", False
        self.replies = REPLIES if tls is None else BEFORE_TLS

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.write(b"220 localhost ESMTP minimal\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out = []
        while True:
            if self.in_data:  # the message: skip to the lone dot (buf starts after DATA's CRLF)
                end = (b"\r\n" + self.buf).find(b"\r\n.\r\n")
                if end < 0:
                    break
                self.buf, self.in_data = self.buf[end + 3 :], False
                out.append(b"250 2.0.0 Ok: queued\r\n")
                continue
            line, sep, self.buf = self.buf.partition(b"\r\n")
            if not sep:
                self.buf = line
                break
            verb = line.split(b" ", 1)[0].upper()
            out.append(self.replies.get(verb, b"502 5.5.2 Command not recognized\r\n"))
            self.in_data = verb == b"DATA"
            if verb == b"QUIT" or (verb == b"STARTTLS" and self.replies is BEFORE_TLS):
                self.transport.write(b"".join(out))
                if verb == b"QUIT":
                    self.transport.close()
                else:  # what the client sends next is its ClientHello: nothing is left in buf
                    self.replies = REPLIES
                    self.upgrading = asyncio.ensure_future(self._upgrade())
                return
        if out:
            self.transport.write(b"".join(out))

    async def _upgrade(self) -> None:
        loop = asyncio.get_running_loop()
        tls = await loop.start_tls(self.transport, self, self.tls, server_side=True)  # type: ignore[arg-type]
        self.transport = tls  # type: ignore[assignment]


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tls: ssl.SSLContext | None = None,
    implicit: bool = False,
) -> asyncio.Server:
    """Listen on ``host:port`` (port 0: any free one); ``implicit``: TLS from the first byte."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: MinimalSmtp(None if implicit else tls), host, port, ssl=tls if implicit else None
    )
