"""The server's own findings are graded as the runner grades (the pytest fixtures, ``serve``): a
SHOULD not followed is a ``non-strict`` finding that does not fail the application's test, and
a legal choice (HELO, RFC 5321 §3.2) never fails it. Real smtplib and sockets on 127.0.0.1."""

from __future__ import annotations

import contextlib
import smtplib
import socket

import pytest
from test_serve import serve  # noqa: F401  (the fixture; tests/ is on sys.path)

from fake_servers.controller import ServerController
from harness.judge import judge_server_side
from harness.results import Verdict
from harness.scenario.loader import parse_scenario

EXCHANGE = """
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250 8BITMIME"]
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 ok"
  - client: DATA
  - server: "354 go"
  - client: {data: message, compare: any}
  - server: "250 queued"
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""


def scenario(id: str, *, level: str = "must", held: bool = False) -> str:
    greeting = (
        '  - delay: 0.4\n  - server: "220 mx.example.com ESMTP"'
        if held
        else ('  - server: "220 mx.example.com ESMTP"')
    )
    return f"""
version: 1
id: {id}
level: {level}
limits: {{total: 10, read: 5}}
client: {{mail_from: a@example.com, rcpt_to: [b@example.com]}}
expect: {{outcome: delivered}}
exchange:
{greeting}{EXCHANGE}"""


def send(server: ServerController, rcpt: str = "b@example.com", *, helo: bool = False) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        if helo:
            client.helo("client.example.com")
        # On a departure the server hangs up and smtplib raises: the finding says why.
        with contextlib.suppress(smtplib.SMTPException):
            client.sendmail("a@example.com", [rcpt], b"Subject: x\r\n\r\nhi\r\n")


def test_a_should_level_departure_is_non_strict_and_does_not_fail_the_test() -> None:
    with ServerController(parse_scenario(scenario("test.should", level="should"), "s.yaml")) as s:
        send(s, rcpt="carol@example.com")  # the script wants bob
        s.wait_session()
        s.assert_followed()  # a SHOULD: no ServerFindingError
        [finding] = s.findings()
    assert finding.grade == "non-strict"
    assert not finding.fails
    assert finding.got == "rcpt TO:<carol@example.com>"  # smtplib sends lower-case verbs
    assert "[non-strict: does not fail the test]" in finding.render()


def test_the_same_departure_at_must_level_still_fails() -> None:
    with ServerController(parse_scenario(scenario("test.must"), "m.yaml")) as s:
        send(s, rcpt="carol@example.com")
        s.wait_session()
        [finding] = s.findings()
        with pytest.raises(AssertionError, match="carol"):
            s.assert_followed()
    assert finding.grade == "fail" and finding.fails


def test_helo_on_an_ehlo_scenario_is_not_exercised_never_failed() -> None:
    # An ehlo.* scenario answered with HELO: RFC 5321 §3.2 allows it, so it cannot fail, but
    # the EHLO reply it is about was never read: the runner says not-exercised, and so must this.
    with ServerController(parse_scenario(scenario("ehlo.test-helo"), "h.yaml")) as s:
        send(s, helo=True)
        session = s.wait_session()
        s.assert_followed()
        [finding] = s.findings()
    assert finding.grade == "not-exercised", finding.render()
    assert (finding.expected, finding.got) == ("EHLO", "HELO (RFC 5321 §3.2 allows it)")
    assert judge_server_side(s.server.scenario, session.evidence()).verdict is (
        Verdict.NOT_EXERCISED
    )


def test_talking_before_a_held_greeting_is_a_non_strict_finding() -> None:
    lines = [b"MAIL FROM:<a@example.com>", b"RCPT TO:<b@example.com>", b"DATA"]
    with ServerController(parse_scenario(scenario("test.held", held=True), "g.yaml")) as s:
        with socket.create_connection((s.host, s.port), timeout=5) as sock:
            sock.sendall(b"EHLO c.example.com\r\n")  # before the greeting, held back 0.4 s
            replies = sock.makefile("rb")
            for _ in range(3):  # the greeting and the two-line EHLO reply
                replies.readline()
            for line in lines:
                sock.sendall(line + b"\r\n")
                replies.readline()
            sock.sendall(b"Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n")
            replies.readline()
            replies.readline()
        s.wait_session()
        s.assert_followed()
        [finding] = s.findings()
    assert finding.grade == "non-strict"
    assert finding.rule == "R-GREET-2"
    assert finding.got == "commands before the greeting"


def test_serve_prints_a_should_level_departure_as_non_strict_and_exits_0(
    serve,  # noqa: F811
    tmp_path,
) -> None:
    path = tmp_path / "should.yaml"
    path.write_text(scenario("test.serve-should", level="should"))
    s = serve(str(path), "--once")
    port = int(s.until(r"connect to   127\.0\.0\.1:(\d+)")[1])
    with (
        smtplib.SMTP("127.0.0.1", port, timeout=10) as client,
        contextlib.suppress(smtplib.SMTPException),
    ):
        client.sendmail("a@example.com", ["carol@example.com"], b"Subject: x\r\n\r\nhi\r\n")
    code, out = s.finish()
    assert "[1] verdict: NON-STRICT - unexpected command" in out, out
    assert out.splitlines()[-1] == "summary: 1 session(s): 1 non-strict"
    assert code == 0
