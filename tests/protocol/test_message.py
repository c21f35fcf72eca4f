"""Message content compared by meaning (harness.protocol.message): the legal rewrites of a mail
user agent pass, every change a reader would see fails."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest

from harness.protocol.message import compare_content, repeated_fields

TASK = (
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.com>, carol@example.net\r\n"
    "Subject: Grüße aus Köln, a subject long enough to be folded by a generator that folds\r\n"
    "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
    "Message-ID: <task.1@example.com>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    ".leading dot\r\n"
    "trailing space   \r\n"
    "café\r\n"
    "\r\n"
    "\r\n"
).encode()


def _rewritten(cte: str, **headers: str) -> bytes:
    """The task as a library would send it: parsed, then generated anew with ``cte``."""
    original = email.message_from_bytes(TASK, policy=email.policy.default)
    assert isinstance(original, EmailMessage)
    out = EmailMessage()
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        out[name] = headers.pop(name, str(original[name]))
    for name, value in headers.items():
        out[name] = value
    out.set_content(original.get_content(), cte=cte)
    return out.as_bytes(policy=email.policy.SMTP)


@pytest.mark.parametrize("cte", ["quoted-printable", "base64", "8bit"])
def test_a_regenerated_message_has_the_same_content(cte: str) -> None:
    rewritten = _rewritten(cte, **{"X-Mailer": "test 1.0"})
    assert rewritten != TASK
    assert compare_content(TASK, rewritten) is None


def test_the_same_bytes_have_the_same_content() -> None:
    assert compare_content(TASK, TASK) is None


def test_a_changed_subject_is_a_difference() -> None:
    difference = compare_content(TASK, _rewritten("base64", Subject="something else"))
    assert difference is not None and difference.what.startswith("header subject: expected")


def test_a_missing_header_is_a_difference() -> None:
    without_to = TASK.replace(b"To: Bob <bob@example.com>, carol@example.net\r\n", b"")
    difference = compare_content(TASK, without_to)
    assert difference is not None and difference.what.startswith("header to: missing")


def test_an_address_compares_by_its_parts() -> None:
    quoted = TASK.replace(b"From: Alice <", b'From: "Alice" <')
    assert compare_content(TASK, quoted) is None
    other = TASK.replace(b"From: Alice <alice@", b"From: Alice <alicia@")
    assert compare_content(TASK, other) is not None


def test_a_date_compares_as_the_instant() -> None:
    same = TASK.replace(b"Mon, 01 Jan 2024 12:00:00 +0000", b"Mon, 1 Jan 2024 13:00:00 +0100")
    assert compare_content(TASK, same) is None
    later = TASK.replace(b"12:00:00", b"12:00:01")
    assert compare_content(TASK, later) is not None


@pytest.mark.parametrize(
    "old, new",
    [
        (b".leading dot\r\n", b"leading dot\r\n"),  # the dot lost to missing stuffing
        (b"trailing space   \r\n", b"trailing space\r\n"),  # not encoding whitespace
        (b"caf\xc3\xa9\r\n", b"caf?\r\n"),  # a locale that cannot write UTF-8
    ],
)
def test_a_changed_body_line_is_a_difference(old: bytes, new: bytes) -> None:
    changed = TASK[: TASK.rindex(old)] + new + TASK[TASK.rindex(old) + len(old) :]
    assert compare_content(TASK, changed) is not None


@pytest.mark.parametrize(
    "end", [b"\r\n\r\n", b"\r\n\r\n\r\n\r\n", b"\r\n"], ids=["dropped", "added", "all gone"]
)
def test_empty_lines_at_the_end_count_only_with_end_lines(end: bytes) -> None:
    changed = TASK.removesuffix(b"\r\n\r\n\r\n") + end
    assert compare_content(TASK, changed) is None
    difference = compare_content(TASK, changed, end_lines=True)
    assert difference is not None and "lines" in difference.what


def test_the_difference_names_the_body_line() -> None:
    unstuffed = TASK.replace(b".leading dot", b"leading dot")
    difference = compare_content(TASK, unstuffed)
    assert difference is not None
    assert (difference.body_line, difference.expected_line) == (1, ".leading dot")


def test_a_final_line_break_is_what_smtp_adds() -> None:
    assert (
        compare_content(b"Subject: x\r\n\r\nlast words", b"Subject: x\r\n\r\nlast words\r\n")
        is None
    )


def test_format_flowed_is_read_as_the_joined_lines() -> None:
    task = b"Subject: x\r\n\r\none long line of text\r\n"
    flowed = (
        b"Subject: x\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n"
        b"one long \r\nline of text\r\n"
    )
    assert compare_content(task, flowed) is None
    assert compare_content(task, flowed.replace(b"; format=flowed", b"")) is not None


def test_another_media_type_is_a_difference() -> None:
    html = TASK.replace(b"text/plain", b"text/html")
    assert compare_content(TASK, html) is not None


def test_a_composing_client_is_compared_on_subject_and_body() -> None:
    composed = _rewritten(
        "quoted-printable", Date="Tue, 02 Jan 2024 08:00:00 +0000", **{"Message-ID": "<new@x>"}
    )
    assert compare_content(TASK, composed) is not None  # a sending client must keep them
    assert compare_content(TASK, composed, composed=True) is None
    wrong = _rewritten("base64", Subject="another subject")
    assert compare_content(TASK, wrong, composed=True) is not None


def test_fields_allowed_once_appear_once() -> None:
    twice = b"Date: Tue, 02 Jan 2024 08:00:00 +0000\r\n" + TASK
    assert repeated_fields(twice, TASK) == ["date"]
    assert repeated_fields(TASK, TASK) == []
    received_twice = b"Received: a\r\nReceived: b\r\n" + TASK  # trace fields may repeat
    assert repeated_fields(received_twice, TASK) == []
    # A given message that already has two is passed on as it came.
    assert repeated_fields(twice, twice) == []


def test_a_message_without_headers_is_compared_as_a_body() -> None:
    assert compare_content(b"hello\r\n", b"hello\r\n") is None
    assert compare_content(b"hello\r\n", b"hullo\r\n") is not None


def test_unreadable_content_gives_a_difference_not_an_exception() -> None:
    junk = b"From: <<<@@@>>>\r\nContent-Type: ;;;===\r\nDate: not a date\r\n\r\n\xff\xfe\r\n"
    assert compare_content(TASK, junk) is not None
    assert compare_content(junk, junk) is None


def test_every_corpus_message_carries_its_own_content_by_the_full_comparison() -> None:
    """``compare_content`` answers "no difference" for equal bytes without parsing them; that is
    right only because the full comparison finds none either: checked for every message of the
    corpus in every mode. (``repeated_fields`` needs no such check: equal counts never exceed.)"""
    from harness.corpus import corpus_path
    from harness.protocol import message
    from harness.scenario.loader import load_scenarios

    messages = {s.client.message for s in load_scenarios([corpus_path()]) if s.client.message}
    assert len(messages) > 20
    for m in messages:
        for composed in (False, True):
            for end_lines in (False, True):
                assert message._compare_parsed(m, m, composed=composed, end_lines=end_lines) is None
