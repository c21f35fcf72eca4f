"""The public strategies generate what they say, and the protocol core reads it as it must."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from harness.errors import RemoteProtocolError
from harness.fuzz.strategies import (
    INVALID_KINDS,
    MAX_WRITE_PAUSES,
    auth_challenges,
    ehlo_replies,
    invalid_framings,
    replies,
    segmentations,
    valid_framings,
)
from harness.protocol import NEED_DATA, ConnectionClosed, Extensions, Reply, ReplyParser
from harness.protocol.auth import decode_base64


def pieces(data: bytes, seg: object) -> list[bytes]:
    """The writes a segmentation makes of ``data`` (as the scripted server would)."""
    split = getattr(seg, "split", None)
    if getattr(seg, "every_byte", False):
        return [data[i : i + 1] for i in range(len(data))]
    bounds = [0, *(split or ()), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def parse_all(chunks: list[bytes], parser: ReplyParser) -> list[Reply]:
    got: list[Reply] = []
    for chunk in [*chunks, b""]:
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not NEED_DATA:
            if isinstance(event, ConnectionClosed):
                return got
            assert isinstance(event, Reply)
            got.append(event)
    return got


@given(st.data())
def test_a_valid_framing_parses_to_its_reply_under_any_segmentation(data: st.DataObject) -> None:
    reply = data.draw(replies())
    framing = data.draw(valid_framings(reply))
    seg = data.draw(segmentations(framing.data))
    assert framing.valid and framing.terminated and not framing.closes
    got = parse_all(pieces(framing.data, seg), ReplyParser())
    # "250 " and "250" both end a reply with empty text.
    assert got == [reply]


@given(st.data())
def test_an_invalid_framing_raises_only_the_typed_protocol_error(data: st.DataObject) -> None:
    reply = data.draw(replies())
    framing = data.draw(invalid_framings(reply))
    assert framing.kind in INVALID_KINDS
    seg = data.draw(segmentations(framing.data))
    # A strict parser (RFC line limit: 512 octets) refuses every defect, and only with this error.
    try:
        parse_all(pieces(framing.data, seg), ReplyParser(max_line=512))
    except RemoteProtocolError:
        return
    raise AssertionError(f"{framing.kind} framing was accepted: {framing.data!r}")


@given(ehlo_replies(required=(b"AUTH LOGIN",)))
def test_ehlo_replies_keep_the_required_line_and_offer_no_other_mechanism(reply: Reply) -> None:
    ext = Extensions.from_reply(reply)
    assert ext.auth_mechanisms == ("LOGIN",)
    assert reply.code == 250


@given(auth_challenges("LOGIN"))
def test_login_challenges_are_two_base64_prompts(challenge: object) -> None:
    lines = challenge.lines  # type: ignore[attr-defined]
    assert len(lines) == 2
    for line in lines:
        assert line.startswith(b"334 ") and line.endswith(b"\r\n")
        decode_base64(line[4:-2])  # raises on anything but base64


@given(st.data())
def test_the_pauses_of_one_write_add_up_to_a_tenth_of_a_second_at_most(data: st.DataObject) -> None:
    # Long writes included: an over-long line cut one byte per write must not pause a
    # millisecond per byte (5 s for 5000 bytes, near the fuzz cases' time limit).
    payload = b"x" * data.draw(st.integers(1, 5000))
    max_pause = data.draw(st.sampled_from([0.01, 0.05]))
    seg = data.draw(segmentations(payload, max_pause=max_pause))
    gaps = len(pieces(payload, seg)) - 1
    assert seg.pause * gaps <= MAX_WRITE_PAUSES + 1e-9, seg
