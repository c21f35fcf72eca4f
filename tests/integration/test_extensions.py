"""XOAUTH2, BDAT and DSN end to end: the reference client, and raw clients where it has no say."""

from __future__ import annotations

from fake_servers.tls import TlsMaterial
from harness.adapters.reference import ReferenceAdapter
from harness.protocol.auth import xoauth2_response
from harness.report.text import format_failure
from harness.results import Verdict
from harness.scenario.loader import parse_scenario
from harness.scenario.model import Outcome

from .conftest import CLOSE, READ, RawClient, run

XOAUTH2 = """
version: 1
id: test.xoauth2-error
limits: {total: 5, read: 1}
client:
  mail_from: a@example.com
  rcpt_to: [b@example.com]
  auth: {username: a@example.com, token: ya29.token}
expect: {outcome: failed, code: 535}
exchange:
  - server: "220 smtp.gmail.com ESMTP"
  - client: "EHLO {domain}"
  - server: ["250-smtp.gmail.com", "250 AUTH LOGIN PLAIN XOAUTH2"]
  - auth:
      mechanism: XOAUTH2
      error: '{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}'
      reply: ["535-5.7.8 Username and Password not accepted.", "535 5.7.8 https://support.google.com/"]
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""


def test_reference_client_answers_the_xoauth2_error_with_an_empty_line(
    tls_material: TlsMaterial,
) -> None:
    result = run(parse_scenario(XOAUTH2, "x.yaml"), ReferenceAdapter(), tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)


def test_cancelling_the_xoauth2_error_gets_501_and_is_no_failure(tls_material: TlsMaterial) -> None:
    # RFC 4954 §4: "*" cancels any exchange, and the server "MUST reject the AUTH command by
    # sending a 501 reply"; the login failed either way, which the client reports.
    ir = xoauth2_response("a@example.com", "ya29.token")
    client = RawClient(
        *(READ, b"EHLO c.example.com\r\n", READ, b"AUTH XOAUTH2 " + ir + b"\r\n", READ),
        *(b"*\r\n", READ, b"QUIT\r\n", READ),
        report=Outcome.FAILED,
    )
    result = run(parse_scenario(XOAUTH2, "x.yaml"), client, tls_material)
    assert [r.code for r in client.replies][-2:] == [501, 221]
    assert result.failure is None, format_failure(result)
    assert result.verdict is not Verdict.FAIL, format_failure(result)


def test_a_wrong_token_fails(tls_material: TlsMaterial) -> None:
    ir = xoauth2_response("a@example.com", "stale")
    client = RawClient(READ, b"EHLO c.example.com\r\n", READ, b"AUTH XOAUTH2 " + ir + b"\r\n", READ)
    result = run(parse_scenario(XOAUTH2, "x.yaml"), client, tls_material, show_secrets=True)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None and "token='stale'" in result.failure.actual


BDAT = """
version: 1
id: test.bdat
limits: {total: 5, read: 1}
client:
  mail_from: a@example.com
  rcpt_to: [b@example.com]
  message: "Subject: t\\n\\n.dot\\n"
expect: {outcome: delivered}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250 CHUNKING"]
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 ok"
  - any_of:
      - [{client: DATA}, {server: "354 go"}, {client: {data: message, compare: exact}}, {server: "250 queued"}]
      - [{client: {bdat: message, compare: exact}}, {server: "250 queued"}]
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""

_HEAD = (
    READ,
    b"EHLO c.example.com\r\n",
    READ,
    b"MAIL FROM:<a@example.com>\r\n",
    READ,
    b"RCPT TO:<b@example.com>\r\n",
    READ,
)


def test_data_and_bdat_are_both_accepted(tls_material: TlsMaterial) -> None:
    scenario = parse_scenario(BDAT, "b.yaml")
    assert run(scenario, ReferenceAdapter(), tls_material).verdict is Verdict.PASS
    chunked = RawClient(
        *_HEAD, b"BDAT 12\r\nSubject: t\r\n", READ, b"BDAT 8 LAST\r\n\r\n.dot\r\n", READ, CLOSE
    )
    result = run(scenario, chunked, tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)


def test_dot_stuffing_inside_bdat_is_a_failure(tls_material: TlsMaterial) -> None:
    stuffed = RawClient(*_HEAD, b"BDAT 21 LAST\r\nSubject: t\r\n\r\n..dot\r\n", READ, CLOSE)
    result = run(parse_scenario(BDAT, "b.yaml"), stuffed, tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None and "BDAT" in result.failure.message


def test_bdat_without_chunking_fails(tls_material: TlsMaterial) -> None:
    scenario = parse_scenario(BDAT.replace('"250 CHUNKING"', '"250 8BITMIME"'), "b.yaml")
    result = run(scenario, RawClient(*_HEAD, b"BDAT 3 LAST\r\nhi\n", READ, CLOSE), tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None and "R-BDAT-1" in result.failure.hint


DSN = """
version: 1
id: test.dsn
limits: {total: 5, read: 1}
client:
  mail_from: a@example.com
  rcpt_to: [b+1@example.com]
  message: "Subject: t\\n\\nhi\\n"
  dsn: {notify: [SUCCESS, FAILURE], ret: HDRS, envid: "id=1"}
expect: {outcome: delivered}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250 DSN"]
  - client: "MAIL FROM:<a@example.com> RET=HDRS ENVID=id+3D1"
  - server: "250 ok"
  - client: "RCPT TO:<b+1@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2B1@example.com"
  - server: "250 ok"
  - client: DATA
  - server: "354 go"
  - client: {data: message}
  - server: "250 queued"
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""


def test_reference_client_requests_dsn_with_xtext(tls_material: TlsMaterial) -> None:
    result = run(parse_scenario(DSN, "d.yaml"), ReferenceAdapter(), tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)


def test_dsn_parameters_without_dsn_advertised_fail(tls_material: TlsMaterial) -> None:
    scenario = parse_scenario(
        DSN.replace('"250 DSN"', '"250 8BITMIME"').replace(" RET=HDRS ENVID=id+3D1", ""), "d.yaml"
    )
    client = RawClient(
        READ, b"EHLO c.example.com\r\n", READ, b"MAIL FROM:<a@example.com> RET=HDRS\r\n", READ
    )
    result = run(scenario, client, tls_material)
    assert result.verdict is Verdict.FAIL
    assert result.failure is not None and "DSN was not advertised" in result.failure.hint
