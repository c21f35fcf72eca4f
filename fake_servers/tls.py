"""Certificates for a run: one trustme CA and one leaf for localhost/127.0.0.1/::1, and on
demand the certificates a verifying client must refuse (expired, wrong host, unknown CA ...).

They are made once per process (``TlsMaterial.shared()``), never per scenario, and never stored:
making a key is the slow part of TLS, and scenarios must not pay for it.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
from typing import ClassVar

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.scenario.model import Certificate

__all__ = ["SERVER_NAMES", "WRONG_HOST", "TlsMaterial", "describe"]

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
WRONG_HOST = "wrong-host.invalid"  # RFC 2606: a name that can never be the server's
_DAY = datetime.timedelta(days=1)


class TlsMaterial:
    """A CA, a server certificate signed by it, and the contexts and files clients need.

    Attributes:
        ca_path: a PEM file with the CA certificate, for clients that take a CA file.
    """

    _shared: ClassVar[TlsMaterial | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._ca = trustme.CA(organization_name="smtp-harness test CA")
        self._leaf = self._ca.issue_cert(*SERVER_NAMES)
        self._ca_path: str | None = None  # written on first use: a plain-only run leaves none
        self._server_contexts: dict[Certificate, ssl.SSLContext] = {}
        self._client_context: ssl.SSLContext | None = None
        self._closed = False

    @property
    def ca_path(self) -> str:
        """The CA certificate as a PEM file (made on first use, removed by ``close``)."""
        with self._lock:
            if self._ca_path is None:
                fd, self._ca_path = tempfile.mkstemp(prefix="smtp-harness-ca-", suffix=".pem")
                with os.fdopen(fd, "wb") as f:
                    f.write(self._ca.cert_pem.bytes())
            return self._ca_path

    @classmethod
    def shared(cls) -> TlsMaterial:
        """The material for this process, made on first use and removed at exit."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
                atexit.register(cls._shared.close)
            return cls._shared

    def server_context(self, certificate: Certificate = Certificate.GOOD) -> ssl.SSLContext:
        """A server-side context presenting ``certificate`` (each made once, then reused)."""
        with self._lock:
            ctx = self._server_contexts.get(certificate)
            if ctx is None:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                _configure(ctx, self._ca, certificate)
                self._server_contexts[certificate] = ctx
            return ctx

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this CA (made once, then reused).

        Built from a bare SSLContext on purpose: ``create_default_context`` would also load the
        system's CA store, which costs ~30 ms and trusts nothing we need.
        """
        if self._client_context is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and hostname
            self._ca.configure_trust(ctx)
            self._client_context = ctx
        return self._client_context

    def close(self) -> None:
        """Delete the CA file."""
        if not self._closed:
            self._closed = True
            if self._ca_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._ca_path)


def describe(certificate: Certificate) -> str:
    """The certificate in words, for failure messages: "an expired certificate (...)"."""
    return {
        Certificate.GOOD: "the good certificate",
        Certificate.INTERMEDIATE: "a good certificate signed by an intermediate CA",
        Certificate.UNTRUSTED_CA: "a certificate signed by a CA it was not told to trust",
        Certificate.WRONG_HOST: f"a certificate for another host ({WRONG_HOST}, not localhost or 127.0.0.1)",
        Certificate.EXPIRED: "an expired certificate (valid until yesterday)",
        Certificate.NOT_YET_VALID: "a certificate that is not valid yet (valid from tomorrow)",
        Certificate.SELF_SIGNED: "a self-signed certificate",
        Certificate.INCOMPLETE_CHAIN: "a certificate whose chain is incomplete (the server left out the intermediate CA)",
    }[certificate]


def _configure(ctx: ssl.SSLContext, ca: trustme.CA, certificate: Certificate) -> None:
    """Load the key and chain for ``certificate`` into a server context. ``ca`` is the CA the
    clients trust; everything else is made here, with a fresh key."""
    now = datetime.datetime.now(datetime.UTC)
    if certificate is Certificate.SELF_SIGNED:
        _load(ctx, *_self_signed(now))
        return
    if certificate is Certificate.UNTRUSTED_CA:
        trustme.CA(organization_name="smtp-harness untrusted CA").issue_cert(
            *SERVER_NAMES
        ).configure_cert(ctx)
        return
    if certificate in (Certificate.INTERMEDIATE, Certificate.INCOMPLETE_CHAIN):
        leaf = ca.create_child_ca().issue_cert(*SERVER_NAMES)
        if certificate is Certificate.INTERMEDIATE:
            leaf.configure_cert(ctx)  # the leaf, then the intermediate
        else:
            _load(ctx, leaf.private_key_pem.bytes(), leaf.cert_chain_pems[0].bytes())
        return
    names: tuple[str, ...] = SERVER_NAMES
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    if certificate is Certificate.WRONG_HOST:
        names = (WRONG_HOST,)
    elif certificate is Certificate.EXPIRED:
        not_before, not_after = now - 30 * _DAY, now - _DAY
    elif certificate is Certificate.NOT_YET_VALID:
        not_before, not_after = now + _DAY, now + 30 * _DAY
    leaf = ca.issue_cert(*names, not_before=not_before, not_after=not_after)
    leaf.configure_cert(ctx)


def _self_signed(now: datetime.datetime) -> tuple[bytes, bytes]:
    """A leaf for the server's names that is its own issuer (trustme only makes CA-signed ones)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + 30 * _DAY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _load(ctx: ssl.SSLContext, key_pem: bytes, chain_pem: bytes) -> None:
    """load_cert_chain reads files only: write the PEM to a private temporary file, then delete it."""
    fd, path = tempfile.mkstemp(prefix="smtp-harness-cert-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem + chain_pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
