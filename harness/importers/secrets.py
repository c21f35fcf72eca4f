"""Stand-ins for what must not reach a scenario file.

Passwords and OAuth tokens are always replaced by generated ones: the file's task hands the
client the stand-in, and the AUTH step checks the client's answer against it, so a replay needs
no real secret (a CRAM-MD5 digest is recomputed by the client from the stand-in). With
``redact_message`` the addresses become ``user1@example.com``, ``user2@example.com`` ... (the
same address always the same stand-in, in the envelope and in the message), and every body
line becomes generated text of the same shape (and the Subject says "redacted").
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

__all__ = ["Redactor"]

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def _generated(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


@dataclass
class Redactor:
    redact_message: bool = False
    _addresses: dict[str, str] = field(default_factory=dict)

    def password(self) -> str:
        return _generated("password")

    def token(self) -> str:
        return _generated("token")

    def address(self, address: str) -> str:
        """The stand-in for an address (itself unless addresses are redacted)."""
        if not self.redact_message or not address:
            return address
        key = address.lower()
        if key not in self._addresses:
            self._addresses[key] = f"user{len(self._addresses) + 1}@example.com"
        return self._addresses[key]

    def text(self, text: str) -> str:
        """``text`` with every address in it replaced by its stand-in."""
        if not self.redact_message:
            return text
        return _ADDRESS.sub(lambda m: self.address(m.group()), text)

    def message(self, message: bytes) -> bytes:
        """The message with addresses replaced in its header and its body lines made up.

        The shape stays: the header fields and their order, the number of body lines, and a
        leading "." where a line had one (dot-stuffing is what many scenarios are about)."""
        if not self.redact_message:
            return message
        head, sep, body = message.partition(b"\r\n\r\n")
        if not sep:
            head, body = message, b""
        fields = [
            b"Subject: redacted"
            if line.lower().startswith(b"subject:")
            else self.text(line.decode("utf-8", "replace")).encode("utf-8")
            for line in head.split(b"\r\n")
        ]
        lines = body.split(b"\r\n")
        made_up = [
            b"" if not line else (b"." if line.startswith(b".") else b"") + b"line %d" % (i + 1)
            for i, line in enumerate(lines)
        ]
        return b"\r\n".join(fields) + sep + b"\r\n".join(made_up)
