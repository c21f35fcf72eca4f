"""A real SMTP server for recording and import tests: aiosmtpd on 127.0.0.1 with STARTTLS (its
own trustme CA, not the harness's) and AUTH PLAIN, LOGIN, CRAM-MD5 and XOAUTH2, which accepts
one user, refuses RCPT to ``nobody@...`` with 550, and queues everything else."""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import socket
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USER, PASSWORD, TOKEN = "alice@example.com", "real-Secret-9f3b", "ya29.real-token-77aa"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    ca_file: str
    messages: list[bytes]


class _Handler:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(bytes(envelope.original_content or b""))
        return "250 2.0.0 Ok: queued as 4F2A1"

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        challenge = f"<{int.from_bytes(os.urandom(4), 'big')}@upstream.test>".encode()
        response = await server.challenge_auth(challenge)
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=False)
        user, _, digest = response.decode().rpartition(" ")
        wanted = hmac.new(PASSWORD.encode(), challenge, "md5").hexdigest()
        return AuthResult(success=user == USER and digest == wanted, handled=False)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        raw = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth("")
        assert isinstance(raw, bytes)
        ok = raw == f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01".encode()
        return AuthResult(success=ok, handled=False)


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


class _QuietSession(Session):
    """aiosmtpd 1.4 sets the deprecated ``login_data`` on every successful AUTH, and its
    DeprecationWarning (an error under pytest) would break the session in the server thread."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _SMTP(SMTP):
    def _create_session(self) -> Session:
        return _QuietSession(self.loop)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def upstream() -> Iterator[Upstream]:
    ca = trustme.CA(organization_name="upstream test CA")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", HOST).configure_cert(context)
    handler = _Handler()
    controller = _Controller(
        handler,
        hostname=HOST,
        port=_free_port(),
        server_hostname="mx.upstream.test",
        tls_context=context,
        require_starttls=False,
        auth_require_tls=False,
        authenticator=_authenticate,
    )
    with tempfile.NamedTemporaryFile(suffix=".pem", delete=False) as f:
        f.write(ca.cert_pem.bytes())
    controller.start()
    try:
        yield Upstream(HOST, controller.port, f.name, handler.messages)
    finally:
        controller.stop()
        os.unlink(f.name)
