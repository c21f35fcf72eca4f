"""SASL encodings for SMTP AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from harness.errors import RemoteProtocolError

__all__ = [
    "cram_md5_digest",
    "cram_md5_response",
    "decode_base64",
    "decode_plain",
    "decode_xoauth2",
    "login_response",
    "plain_response",
    "xoauth2_response",
]


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def decode_base64(text: bytes) -> bytes:
    """Decode one base64 line strictly (RFC 4954 §4: a response that does not decode gets 501).

    Raises:
        RemoteProtocolError: not valid base64 (wrapped lines included).
    """
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RemoteProtocolError(f"not valid base64: {text[:60]!r}") from exc


def plain_response(username: str, password: str, authzid: str = "") -> bytes:
    """base64(``authzid NUL authcid NUL passwd``), RFC 4616 §2."""
    return _b64(f"{authzid}\0{username}\0{password}".encode())


def decode_plain(text: bytes) -> tuple[str, str, str]:
    """Decode a PLAIN response into ``(authzid, username, password)``.

    Raises:
        RemoteProtocolError: not base64, or not three NUL-separated fields.
    """
    parts = decode_base64(text).split(b"\0")
    if len(parts) != 3:
        raise RemoteProtocolError(
            f"PLAIN response must be authzid NUL user NUL password (RFC 4616 §2), got {len(parts)} field(s)"
        )
    authzid, user, password = (p.decode("utf-8", "replace") for p in parts)
    return authzid, user, password


def login_response(value: str) -> bytes:
    """One LOGIN answer (the username, then the password), base64."""
    return _b64(value.encode())


def cram_md5_digest(password: str, challenge: bytes) -> str:
    """Lower-case hex HMAC-MD5 of the decoded challenge, keyed with the password (RFC 2195 §2)."""
    return hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()


def cram_md5_response(username: str, password: str, challenge: bytes) -> bytes:
    """base64(``user SP digest``) for a decoded CRAM-MD5 challenge."""
    return _b64(f"{username} {cram_md5_digest(password, challenge)}".encode())


def xoauth2_response(username: str, token: str) -> bytes:
    """base64(``user=U ^A auth=Bearer T ^A ^A``): Google's and Microsoft's XOAUTH2 format."""
    return _b64(f"user={username}\x01auth=Bearer {token}\x01\x01".encode())


def decode_xoauth2(text: bytes) -> tuple[str, str]:
    """Decode an XOAUTH2 response into ``(user, token)``.

    Raises:
        RemoteProtocolError: not base64, or not ``user=...^Aauth=Bearer ...^A^A``.
    """
    raw = decode_base64(text).decode("utf-8", "replace")
    if not raw.endswith("\x01\x01"):
        raise RemoteProtocolError(
            f"XOAUTH2 response must end with two ^A (\\x01) characters: {raw!r}"
        )
    fields = dict(f.partition("=")[::2] for f in raw[:-2].split("\x01"))
    token = fields.get("auth", "")
    if set(fields) != {"user", "auth"} or not token.startswith("Bearer "):
        raise RemoteProtocolError(
            f"XOAUTH2 response must be user=...^Aauth=Bearer ...^A^A: {raw!r}"
        )
    return fields["user"], token[len("Bearer ") :]
