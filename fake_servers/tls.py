"""Certificates for a run: one trustme CA and one leaf for localhost/127.0.0.1/::1.

They are made once per process (``TlsMaterial.shared()``), never per scenario: making a key is
the slow part of TLS, and scenarios must not pay for it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import ssl
import tempfile
import threading
from typing import ClassVar

import trustme

__all__ = ["SERVER_NAMES", "TlsMaterial"]

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


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
        fd, self.ca_path = tempfile.mkstemp(prefix="smtp-harness-ca-", suffix=".pem")
        with os.fdopen(fd, "wb") as f:
            f.write(self._ca.cert_pem.bytes())
        self._server_context: ssl.SSLContext | None = None
        self._client_context: ssl.SSLContext | None = None
        self._closed = False

    @classmethod
    def shared(cls) -> TlsMaterial:
        """The material for this process, made on first use and removed at exit."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
                atexit.register(cls._shared.close)
            return cls._shared

    def server_context(self) -> ssl.SSLContext:
        """A server-side context with the leaf certificate (made once, then reused)."""
        if self._server_context is None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._leaf.configure_cert(ctx)
            self._server_context = ctx
        return self._server_context

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
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.ca_path)
