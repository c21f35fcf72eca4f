"""DATA transparency: to_crlf, dot_stuff, dot_unstuff, encode_data (RFC 5321 §4.5.2, §4.1.1.4).

Rules: R-LINE-1 (lone CR/LF become CRLF), R-TX-6 (final CRLF), R-DOT-1 (dot-stuffing).
"""

from __future__ import annotations

import pytest

from harness.protocol import dot_stuff, dot_unstuff, encode_data, to_crlf
from harness.protocol.data import END_OF_DATA, bare_line_end_offsets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(b"", b"", id="empty"),
        pytest.param(b"abc", b"abc", id="no-line-end"),
        pytest.param(b"a\r\nb\r\n", b"a\r\nb\r\n", id="already-crlf"),
        pytest.param(b"a\nb\n", b"a\r\nb\r\n", id="bare-lf"),
        pytest.param(b"a\rb\r", b"a\r\nb\r\n", id="bare-cr"),
        pytest.param(b"a\r\r\nb", b"a\r\n\r\nb", id="cr-crlf"),
        pytest.param(b"a\n\rb", b"a\r\n\r\nb", id="lf-cr"),
        pytest.param(b"a\r\n\nb", b"a\r\n\r\nb", id="crlf-lf"),
        pytest.param(b"\n\n", b"\r\n\r\n", id="two-lf"),
        pytest.param(b"\r", b"\r\n", id="lone-cr"),
    ],
)
def test_to_crlf(text: bytes, expected: bytes) -> None:
    assert to_crlf(text) == expected


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        pytest.param(b"", b"", id="empty-message"),
        pytest.param(b"hello\r\n", b"hello\r\n", id="plain"),
        pytest.param(b"hello", b"hello\r\n", id="no-final-crlf"),
        pytest.param(b"a\r\nb", b"a\r\nb\r\n", id="no-final-crlf-two-lines"),
        pytest.param(b".", b"..\r\n", id="lone-dot-no-crlf"),
        pytest.param(b".\r\n", b"..\r\n", id="lone-dot-line"),
        pytest.param(b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n", id="lone-dot-line-inside"),
        pytest.param(b"..\r\n", b"...\r\n", id="two-dot-line"),
        pytest.param(b".foo\r\n..bar\r\n", b"..foo\r\n...bar\r\n", id="leading-dots"),
        pytest.param(b"a.b\r\n .c\r\n", b"a.b\r\n .c\r\n", id="inner-dots-untouched"),
        pytest.param(b"a\nb\n", b"a\r\nb\r\n", id="bare-lf"),
        pytest.param(b"a\rb\r", b"a\r\nb\r\n", id="bare-cr"),
        pytest.param(b"a\n.\nb", b"a\r\n..\r\nb\r\n", id="lf-dot-lf"),
        pytest.param(b"a\r.\rb", b"a\r\n..\r\nb\r\n", id="cr-dot-cr"),
        pytest.param(b"\r\n", b"\r\n", id="one-empty-line"),
        pytest.param(b"\n", b"\r\n", id="one-bare-lf"),
        pytest.param(b"a\r\n\r\n", b"a\r\n\r\n", id="trailing-empty-line"),
        pytest.param(b"\xc7\xeb\r\n\x00", b"\xc7\xeb\r\n\x00\r\n", id="8bit-and-nul-untouched"),
    ],
)
def test_dot_stuff(message: bytes, wire: bytes) -> None:
    assert dot_stuff(message) == wire
    assert encode_data(message) == wire + b".\r\n"
    assert bare_line_end_offsets(wire) == []


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        pytest.param(b"", b"", id="empty"),
        pytest.param(b"hello\r\n", b"hello\r\n", id="plain"),
        pytest.param(b"..\r\n", b".\r\n", id="lone-dot-line"),
        pytest.param(b"...\r\n", b"..\r\n", id="two-dot-line"),
        pytest.param(b"a\r\n..b\r\n", b"a\r\n.b\r\n", id="inner-line"),
        pytest.param(b"a.b\r\n", b"a.b\r\n", id="inner-dot"),
        pytest.param(b".a\r\n.b", b"a\r\nb", id="no-final-crlf"),
        pytest.param(b"\r\n..\r\n\r\n", b"\r\n.\r\n\r\n", id="empty-lines"),
        # Only CRLF separates lines on the wire: a dot after a bare LF is not at a line start.
        pytest.param(b"a\n..b\r\n", b"a\n..b\r\n", id="bare-lf-not-a-line-start"),
    ],
)
def test_dot_unstuff(wire: bytes, message: bytes) -> None:
    assert dot_unstuff(wire) == message


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        pytest.param(b"", b".\r\n", id="empty"),
        pytest.param(b"hi", b"hi\r\n.\r\n", id="no-final-crlf"),
        pytest.param(b"hi\r\n", b"hi\r\n.\r\n", id="final-crlf"),
        pytest.param(b".", b"..\r\n.\r\n", id="lone-dot"),
        pytest.param(b"hi\n.\n", b"hi\r\n..\r\n.\r\n", id="bare-lf-dot"),
    ],
)
def test_encode_data(message: bytes, wire: bytes) -> None:
    assert encode_data(message) == wire
    assert wire.endswith(END_OF_DATA)


@pytest.mark.parametrize(
    ("wire", "offsets"),
    [
        pytest.param(b"", [], id="empty"),
        pytest.param(b"a\r\nb\r\n", [], id="clean"),
        pytest.param(b"a\nb", [1], id="lf"),
        pytest.param(b"a\rb", [1], id="cr"),
        pytest.param(b"\r\r\n\n", [0, 3], id="cr-crlf-lf"),
        pytest.param(b"x\n.\n", [1, 3], id="lf-dot-lf"),
    ],
)
def test_bare_line_end_offsets(wire: bytes, offsets: list[int]) -> None:
    assert bare_line_end_offsets(wire) == offsets
