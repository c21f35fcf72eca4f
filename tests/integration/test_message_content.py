"""Messages that a client regenerates: legal rewrites pass, over real sockets, and the wire
checks (dot-stuffing, RFC 5322 §3.6 single fields) still catch what is wrong."""

from __future__ import annotations

import email.policy
import email.utils
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import Capabilities
from harness.adapters.reference import ReferenceAdapter
from harness.client.machine import ClientMachine
from harness.corpus import corpus_path
from harness.protocol.data import encode_data, to_crlf
from harness.report.text import format_failure
from harness.results import Verdict
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import ClientTask

from .conftest import run

# Scenarios whose message a mail library may legally rewrite (issue 10 lists the first four).
REWRITABLE = [
    "data/dot-stuffing.yaml",
    "data/no-final-newline.yaml",
    "framing/text-line-998-octets.yaml",
    "transaction/mail-rcpt-exact-syntax.yaml",
    "data/dot-last-line.yaml",
    "transaction/trailing-empty-lines-kept.yaml",
    "extensions/8bitmime-not-advertised.yaml",
]


def _parsed(message: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


class Rewriting(ClientMachine):
    """Sends ``rewrite(message)`` instead of the task's message (and judges that one for 8-bit
    content, as a library that encodes first and sends second does)."""

    def __init__(self, task: ClientTask, **kwargs: Any) -> None:
        super().__init__(replace(task, message=self.rewrite(task)), **kwargs)

    def rewrite(self, task: ClientTask) -> bytes:
        raise NotImplementedError


class Regenerating(Rewriting):
    """A high-level library: keeps every header of the message it is given, adds MIME-Version
    and X-Mailer, refolds and RFC 2047-encodes the headers and sends the body quoted-printable."""

    def rewrite(self, task: ClientTask) -> bytes:
        given = _parsed(task.message)
        out = EmailMessage()
        for name, value in given.items():
            if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version"):
                out[name] = value
        out["X-Mailer"] = "regenerating-test-client 1.0"
        out.set_content(given.get_content(), cte="quoted-printable")
        return out.as_bytes(policy=email.policy.SMTP)


class Lossy(Rewriting):
    """Writes every non-ASCII character as "?" (a program run in the C locale)."""

    def rewrite(self, task: ClientTask) -> bytes:
        return task.message.decode().encode("ascii", "replace")


class Composing(Rewriting):
    """A mail user agent: writes a new message from the task's subject and body, with its own
    Date, Message-ID and From, the body in base64."""

    def rewrite(self, task: ClientTask) -> bytes:
        given = _parsed(task.message)
        out = EmailMessage()
        out["From"] = task.mail_from
        out["To"] = ", ".join(task.rcpt_to)
        if given["Subject"] is not None:
            out["Subject"] = str(given["Subject"])
        out["Date"] = email.utils.formatdate(0)
        out["Message-ID"] = "<composed.1@client.example>"
        body = given.get_body(preferencelist=("plain",))
        assert body is not None
        out.set_content(body.get_content(), cte="base64")
        return out.as_bytes(policy=email.policy.SMTP)


class ComposingAdapter(ReferenceAdapter):
    capabilities = Capabilities(composes_message=True)


class AddsASecondHeader(ClientMachine):
    """Puts one more Subject (or ``FIELD``) line before the message: RFC 5322 §3.6 allows one."""

    field = b"Subject: added by the client\r\n"

    def message_wire(self) -> bytes:
        return encode_data(self.field + self.task.message)


class AddsASecondDate(AddsASecondHeader):
    field = b"Date: Tue, 02 Jan 2024 08:00:00 +0000\r\n"


class AddsAHeaderNoStuffing(ClientMachine):
    """Adds a header line and never dot-stuffs."""

    def message_wire(self) -> bytes:
        text = b"X-Mailer: careless 0.1\r\n" + to_crlf(self.task.message)
        return (text if text.endswith(b"\r\n") else text + b"\r\n") + b".\r\n"


@pytest.mark.parametrize("name", REWRITABLE)
def test_a_regenerated_message_passes(name: str, tls_material: TlsMaterial) -> None:
    result = run(load_scenario(corpus_path() / name), ReferenceAdapter(Regenerating), tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)
    assert "quoted-printable" in result.transcript.render()  # the bytes really were rewritten


@pytest.mark.parametrize("name", REWRITABLE)
def test_a_composed_message_passes_for_a_client_that_declares_it(
    name: str, tls_material: TlsMaterial
) -> None:
    scenario = load_scenario(corpus_path() / name)
    result = run(scenario, ComposingAdapter(Composing), tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)
    # Undeclared, the new Date/From/Message-ID are changes to the message it was given.
    if b"Date:" in scenario.client.message:
        assert run(scenario, ReferenceAdapter(Composing), tls_material).verdict is Verdict.FAIL


def test_a_downgrade_that_loses_characters_fails(tls_material: TlsMaterial) -> None:
    """RFC 6152 §3: converting to 7 bit must not lose information; "?" for "ü" does."""
    scenario = load_scenario(corpus_path() / "extensions/8bitmime-not-advertised.yaml")
    result = run(scenario, ReferenceAdapter(Lossy), tls_material)
    assert result.verdict is Verdict.FAIL and result.failure is not None
    assert "body line 1: expected 'Grüße" in result.failure.hint


@pytest.mark.parametrize(
    "name, machine",
    [
        ("regressions/fuzz-quit-416-after-delivery.yaml", AddsASecondHeader),  # compare: any
        ("data/dot-stuffing.yaml", AddsASecondDate),
        ("framing/text-line-998-octets.yaml", AddsASecondHeader),
    ],
)
def test_a_field_allowed_once_sent_twice_fails_in_every_mode(
    name: str, machine: type[ClientMachine], tls_material: TlsMaterial
) -> None:
    result = run(load_scenario(corpus_path() / name), ReferenceAdapter(machine), tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None and "RFC 5322 §3.6" in result.failure.hint


DOTS = """
version: 1
id: test.dots
limits: {total: 5, read: 1}
client:
  mail_from: a@example.com
  rcpt_to: [b@example.com]
  message: "Subject: dots\\n\\nfirst\\n..two\\n%s"
expect: {outcome: [delivered, failed]}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: "250 mx.example.com"
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 ok"
  - client: DATA
  - server: "354 go"
  - client: {data: message}
  - server: "250 queued"
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""


def test_the_dot_stuffing_hint_names_the_wire_line_that_lacks_it(
    tls_material: TlsMaterial,
) -> None:
    scenario = parse_scenario(DOTS % ".three\\n", "dots.yaml")
    result = run(scenario, ReferenceAdapter(AddsAHeaderNoStuffing), tls_material)
    assert result.verdict is Verdict.FAIL and result.failure is not None
    # Wire lines: X-Mailer, Subject, "", first, ..two, .three - the sixth is the culprit;
    # "..two" is a legal wire line (for the content ".two") and must not be blamed.
    assert "wire line 6 starts with '.' but was not dot-stuffed" in result.failure.hint
    assert "'.three'" in result.failure.hint


def test_the_dot_stuffing_hint_aligns_on_the_body_after_added_headers(
    tls_material: TlsMaterial,
) -> None:
    scenario = parse_scenario(DOTS % "", "dots.yaml")
    result = run(scenario, ReferenceAdapter(AddsAHeaderNoStuffing), tls_material)
    assert result.verdict is Verdict.FAIL and result.failure is not None
    assert "body line 2: expected '..two', got '.two'" in result.failure.hint
    assert "not dot-stuffed (RFC 5321 §4.5.2)" in result.failure.hint


def test_correct_stuffing_after_added_headers_is_not_blamed(tls_material: TlsMaterial) -> None:
    scenario = parse_scenario(DOTS % ".three\\n", "dots.yaml")
    assert run(scenario, ReferenceAdapter(Regenerating), tls_material).verdict is Verdict.PASS


def test_a_lone_dot_sent_unstuffed_after_added_headers_is_explained(
    tls_material: TlsMaterial,
) -> None:
    scenario = load_scenario(corpus_path() / "data/dot-stuffing.yaml")
    result = run(scenario, ReferenceAdapter(AddsAHeaderNoStuffing), tls_material)
    assert result.verdict is Verdict.FAIL and result.failure is not None
    assert "the DATA ended before body line 2 (b'.')" in result.failure.hint
