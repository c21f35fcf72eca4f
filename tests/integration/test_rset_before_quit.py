"""An RSET the script does not list is a NOOP immediately before QUIT (RFC 5321 §4.1.1.5:
"effectively equivalent to a NOOP ... immediately before a QUIT"), and nowhere else."""

from __future__ import annotations

import pytest

from fake_servers.tls import TlsMaterial
from harness.results import Verdict
from harness.scenario.loader import parse_scenario
from harness.scenario.model import Outcome

from .conftest import READ, RawClient, run

SCRIPT = """
version: 1
id: test.rset-before-quit
limits: {total: 5, read: 1}
client:
  mail_from: a@example.com
  rcpt_to: [b@example.com]
  message: "Subject: t\\n\\nhello\\n"
expect: {outcome: failed}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250 ENHANCEDSTATUSCODES"]
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 2.1.0 ok"
  - any_of:
      - - client: "RCPT TO:<b@example.com>"
        - server: "550 5.1.1 no such user"
      - - client: QUIT
        - server: "221 2.0.0 bye"
        - close: true
  - client: {match: QUIT, optional: true}
  - server: "221 2.0.0 bye"
"""

HELLO = (READ, b"EHLO c.example.com\r\n", READ, b"MAIL FROM:<a@example.com>\r\n", READ)


def _run(tls: TlsMaterial, *tail: bytes | str) -> tuple[Verdict, RawClient, str]:
    client = RawClient(*HELLO, *tail, report=Outcome.FAILED)
    result = run(parse_scenario(SCRIPT, "rset.yaml"), client, tls)
    return result.verdict, client, result.message


@pytest.mark.parametrize(
    "tail",
    [
        (b"RCPT TO:<b@example.com>\r\n", READ, b"RSET\r\n", READ, b"QUIT\r\n", READ),
        (b"RSET\r\n", READ, b"QUIT\r\n", READ),  # giving up mid-transaction, RSET first
        (b"RCPT TO:<b@example.com>\r\n", READ, b"RSET\r\n", READ),  # then just closing
    ],
    ids=["after-the-refusal", "instead-of-rcpt", "then-close"],
)
def test_rset_right_before_quit_passes(
    tls_material: TlsMaterial, tail: tuple[bytes | str, ...]
) -> None:
    verdict, client, message = _run(tls_material, *tail)
    assert verdict is Verdict.PASS, message
    rset_reply = client.replies[3] if tail[0] == b"RSET\r\n" else client.replies[4]
    assert rset_reply.code == 250 and rset_reply.text.startswith("2.0.0")  # enhanced: advertised


def test_rset_followed_by_anything_but_quit_fails(tls_material: TlsMaterial) -> None:
    # A client that resets the transaction and then sends RCPT as if MAIL still stood.
    verdict, _, message = _run(
        tls_material, b"RSET\r\n", READ, b"RCPT TO:<b@example.com>\r\n", READ
    )
    assert verdict is Verdict.FAIL
    assert "after the RSET taken as the one before QUIT" in message


def test_rset_where_quit_cannot_come_fails(tls_material: TlsMaterial) -> None:
    # Before MAIL the script allows no QUIT, so an unlisted RSET there is not waved through.
    client = RawClient(READ, b"EHLO c.example.com\r\n", READ, b"RSET\r\n", READ)
    result = run(parse_scenario(SCRIPT, "rset.yaml"), client, tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None and result.failure.actual == "RSET"
