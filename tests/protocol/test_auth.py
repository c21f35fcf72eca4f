"""SASL encodings: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195); R-PLAIN-1, R-LOGIN-1, R-CRAM-1."""

from __future__ import annotations

import base64

import pytest

from harness.errors import RemoteProtocolError
from harness.protocol import (
    cram_md5_digest,
    cram_md5_response,
    decode_base64,
    decode_plain,
    login_response,
    plain_response,
)

# RFC 2195 §2 example.
RFC2195_USER = "tim"
RFC2195_PASSWORD = "tanstaaftanstaaf"
RFC2195_CHALLENGE = b"<1896.697170952@postoffice.reston.mci.net>"
RFC2195_CHALLENGE_B64 = b"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
RFC2195_DIGEST = "b913a602c7eda7a495b4e6e7334d3890"
RFC2195_RESPONSE_B64 = b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"


def test_cram_md5_rfc2195_example() -> None:
    challenge = decode_base64(RFC2195_CHALLENGE_B64)
    assert challenge == RFC2195_CHALLENGE
    assert cram_md5_digest(RFC2195_PASSWORD, challenge) == RFC2195_DIGEST
    response = cram_md5_response(RFC2195_USER, RFC2195_PASSWORD, challenge)
    assert response == RFC2195_RESPONSE_B64
    assert decode_base64(response) == b"tim " + RFC2195_DIGEST.encode()


def test_cram_md5_digest_is_lower_case_hex() -> None:
    digest = cram_md5_digest("secret", b"<1.2@host>")
    assert len(digest) == 32
    assert digest == digest.lower()
    int(digest, 16)


@pytest.mark.parametrize(
    ("user", "password", "authzid", "raw"),
    [
        pytest.param("tim", "tanstaaftanstaaf", "", b"\0tim\0tanstaaftanstaaf", id="no-authzid"),
        pytest.param("tim", "secret", "admin", b"admin\0tim\0secret", id="authzid"),
        pytest.param("user@example.com", "", "", b"\0user@example.com\0", id="empty-password"),
        pytest.param("jörg", "pässwörd", "", "\0jörg\0pässwörd".encode(), id="utf8"),
    ],
)
def test_plain_round_trip(user: str, password: str, authzid: str, raw: bytes) -> None:
    response = plain_response(user, password, authzid)
    assert response == base64.b64encode(raw)
    assert b"\n" not in response and b"\r" not in response
    assert decode_plain(response) == (authzid, user, password)


def test_plain_rfc4616_shape() -> None:
    assert plain_response("tim", "tanstaaftanstaaf") == b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b"", id="empty"),
        pytest.param(base64.b64encode(b"tim\0secret"), id="two-fields"),
        pytest.param(base64.b64encode(b"a\0b\0c\0d"), id="four-fields"),
        pytest.param(base64.b64encode(b"no-nul-at-all"), id="one-field"),
        pytest.param(b"!!!notbase64", id="not-base64"),
        pytest.param(b"AHRpbQB0YW5zdGFh\r\nZnRhbnN0YWFm", id="wrapped-base64"),
        pytest.param(b"AHRpbQB0YW5zdGFhZnRhbnN0YWF", id="bad-padding"),
        pytest.param(b"*", id="cancel"),
    ],
)
def test_decode_plain_errors(text: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as excinfo:
        decode_plain(text)
    assert excinfo.type is RemoteProtocolError


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        pytest.param(b"", b"", id="empty"),
        pytest.param(b"VXNlcm5hbWU6", b"Username:", id="login-prompt"),
        pytest.param(b"dXNlcm5hbWU6", b"username:", id="netease-prompt"),
        pytest.param(b"VXNlciBOYW1lAA==", b"User Name\0", id="aiosmtpd-prompt"),
    ],
)
def test_decode_base64(text: bytes, decoded: bytes) -> None:
    assert decode_base64(text) == decoded


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b"NTLM supported", id="exchange-non-base64-334"),
        pytest.param(b"VXNlcm5h\nbWU6", id="wrapped"),
        pytest.param(b"VXNlcm5hbWU", id="missing-padding"),
        pytest.param(b"*", id="cancel"),
    ],
)
def test_decode_base64_errors(text: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as excinfo:
        decode_base64(text)
    assert excinfo.type is RemoteProtocolError


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        pytest.param("tim", b"dGlt", id="username"),
        pytest.param("tanstaaftanstaaf", b"dGFuc3RhYWZ0YW5zdGFhZg==", id="password"),
        pytest.param("", b"", id="empty"),
        pytest.param("ü", b"w7w=", id="utf8"),
    ],
)
def test_login_response(value: str, encoded: bytes) -> None:
    assert login_response(value) == encoded
    assert decode_base64(encoded).decode() == value
