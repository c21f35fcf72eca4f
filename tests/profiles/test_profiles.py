"""Server profiles over real sockets and real TLS: what each profile answers, what it checks on
the wire, what it hands the test, and the failure knobs.

Broken clients are written byte by byte with ``Wire`` (a blocking socket); correct ones are
smtplib. Every wire check has a test that a broken client fails it and one that the legal
variants (HELO, no pipelining, pipelining where advertised, BODY=8BITMIME) pass it.
"""

from __future__ import annotations

import base64
import smtplib
import socket
from collections.abc import Iterator

import pytest

from fake_servers.findings import NoClientError, ServerFindingError
from fake_servers.profiles import PROFILES, ProfileController, Said
from fake_servers.profiles.knobs import parse_cli_knob, parse_knobs
from fake_servers.tls import TlsMaterial

MESSAGE = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def tls() -> Iterator[TlsMaterial]:
    material = TlsMaterial()
    yield material
    material.close()


@pytest.fixture
def serve(tls: TlsMaterial) -> Iterator[object]:
    started: list[ProfileController] = []

    def make(name: str, **options: object) -> ProfileController:
        options.setdefault("read_timeout", 5.0)
        server = ProfileController(name, tls=tls, **options)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


_OPEN: list[Wire] = []


@pytest.fixture(autouse=True)
def close_wires() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


class Wire:
    """A client that sends exactly the bytes it is given and reads whole replies."""

    def __init__(self, server: ProfileController, tls: TlsMaterial) -> None:
        _OPEN.append(self)
        self.tls = tls
        self.sock: socket.socket = socket.create_connection((server.host, server.port), timeout=5)
        if server.profile.tls == "implicit":
            self.starttls()
        self.buffer = b""

    def starttls(self) -> None:
        self.sock = self.tls.client_context().wrap_socket(self.sock, server_hostname="localhost")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """One complete reply (all its lines), or b"" if the server closed."""
        while True:
            lines = self.buffer.split(b"\r\n")
            for i, line in enumerate(lines[:-1]):
                if len(line) < 4 or line[3:4] == b" ":
                    end = sum(len(x) + 2 for x in lines[: i + 1])
                    out, self.buffer = self.buffer[:end], self.buffer[end:]
                    return out
            data = self.sock.recv(65536)
            if not data:
                return b""
            self.buffer += data

    def cmd(self, line: bytes) -> bytes:
        self.send(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def session(server: ProfileController, tls: TlsMaterial) -> Wire:
    wire = Wire(server, tls)
    assert wire.reply()[:3] == b"220"
    return wire


def rules(server: ProfileController, *, settle: bool = True) -> list[str]:
    """The rule ids of the failing findings (after the sessions end, unless ``settle=False``)."""
    if settle:
        server.settle(5)
    return [f.rule.split()[0].rstrip(",") for f in server.findings() if f.fails]


def plain(user: str, password: str) -> bytes:
    return base64.b64encode(f"\0{user}\0{password}".encode())


# --- the profiles' data --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_reply_names_its_source(name: str) -> None:
    for what, said in PROFILES[name].replies().items():
        assert isinstance(said, Said)
        assert said.source.strip(), f"{name}.{what} has no source"
        assert all(line[:3] == said.lines[0][:3] for line in said.lines), f"{name}.{what}"
        assert all(line[3:4] == "-" for line in said.lines[:-1]), f"{name}.{what}: continuation"
        assert said.lines[-1][3:4] in (" ", ""), f"{name}.{what}: last line"


def test_the_required_profiles_exist() -> None:
    assert {"gmail", "gmail-465", "outlook", "office365", "163", "qq", "postfix"} <= set(PROFILES)


# --- correct clients pass, and the test gets what arrived ------------------------------------


@pytest.mark.parametrize("name", ["gmail", "outlook", "163", "postfix"])
def test_smtplib_with_starttls_and_login_sends_through(serve, tls, name: str) -> None:
    server = serve(name)
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.starttls(context=tls.client_context())
        client.login("a@example.com", "pw")
        client.sendmail("a@example.com", ["b@example.net", "c@example.org"], MESSAGE)
        client.sendmail("a@example.com", ["d@example.net"], MESSAGE)  # a second message
    first, second = server.messages
    assert first.rcpt_to == ["b@example.net", "c@example.org"]
    assert second.rcpt_to == ["d@example.net"]
    assert first.tls and first.tls_version and first.auth_user == "a@example.com"
    assert first.message["Subject"] == "hi"
    assert first.message.get_content() == "hello\n"
    assert first.content == MESSAGE
    server.assert_followed()


@pytest.mark.parametrize("name", ["gmail-465", "qq"])
def test_implicit_tls_profiles(serve, tls, name: str) -> None:
    server = serve(name)
    with smtplib.SMTP_SSL(server.host, server.port, timeout=5, context=tls.client_context()) as c:
        c.login("a@example.com", "pw")
        c.sendmail("a@example.com", ["b@example.net"], MESSAGE)
    assert server.wait_message().tls
    server.assert_followed()


def test_users_are_checked_and_a_wrong_password_gets_the_verbatim_535(serve, tls) -> None:
    server = serve("gmail", users={"a@example.com": "right"})
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.starttls(context=tls.client_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            client.login("a@example.com", "wrong")
    assert raised.value.smtp_code == 535
    assert b"5.7.8  https://support.google.com/mail/?p=BadCredentials" in raised.value.smtp_error
    server.assert_followed()  # a refused login is the server's policy, not a client fault


def test_gmail_refuses_mail_in_clear_with_530(serve, tls) -> None:
    server = serve("gmail")
    wire = session(server, tls)
    assert b"AUTH" not in wire.cmd(b"EHLO client.example")
    assert wire.cmd(b"MAIL FROM:<a@example.com>").startswith(
        b"530 5.7.0 Must issue a STARTTLS command first."
    )
    wire.close()
    assert rules(server) == []  # legal: the client may try; the server refuses


def test_163_helo_then_ehlo_and_auth_login_with_lower_case_prompt(serve, tls) -> None:
    server = serve("163")
    wire = session(server, tls)
    assert wire.cmd(b"HELO client.example") == b"250 OK\r\n"
    assert wire.cmd(b"MAIL FROM:<a@163.com>").startswith(b"553 authentication is required")
    assert b"250-AUTH=LOGIN PLAIN" in wire.cmd(b"EHLO client.example")
    assert wire.cmd(b"AUTH LOGIN") == b"334 dXNlcm5hbWU6\r\n"
    assert wire.cmd(base64.b64encode(b"a@163.com")) == b"334 UGFzc3dvcmQ6\r\n"
    assert wire.cmd(base64.b64encode(b"code")) == b"235 Authentication successful\r\n"
    assert wire.cmd(b"MAIL FROM:<other@163.com>").startswith(b"553 Local user only")
    assert wire.cmd(b"MAIL FROM:<a@163.com>") == b"250 Mail OK\r\n"
    assert wire.cmd(b"QUIT") == b"221 Bye\r\n"
    wire.close()
    assert rules(server) == []
    non_strict = [f.message for f in server.findings() if not f.fails]
    assert non_strict == ["the password was sent in clear (the server allowed it)"]


def test_qq_answers_helo_with_three_lines(serve, tls) -> None:
    server = serve("qq")
    wire = session(server, tls)
    assert wire.cmd(b"HELO client.example").count(b"\r\n") == 3
    wire.close()


def test_outlook_refuses_auth_plain_with_504(serve, tls) -> None:
    server = serve("outlook")
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.starttls(context=tls.client_context())
        client.ehlo()
        code, text = client.docmd("AUTH", "PLAIN " + plain("a", "b").decode())
    assert code == 504 and text.startswith(b"5.7.4 Unrecognized authentication type")


def test_a_size_over_the_limit_gets_the_552(serve, tls) -> None:
    server = serve("gmail")
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.starttls(context=tls.client_context())
        client.login("a", "b")
        code, text = client.mail("a@example.com", ["SIZE=40000000"])
    assert code == 552 and b"5.2.3 Your message exceeded Google's" in text


# --- wire checks: broken clients fail, legal variants pass -----------------------------------


def test_a_bare_lf_in_the_message_is_r_line_1(serve, tls) -> None:
    server = serve("gmail")
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.starttls(context=tls.client_context())
        client.login("a", "b")
        client.sendmail("a@example.com", ["b@example.net"], b"Subject: x\n\nhello\n")
    assert rules(server) == ["R-LINE-1"]
    with pytest.raises(ServerFindingError) as raised:
        server.assert_followed()
    text = str(raised.value)
    assert "rule:     R-LINE-1" in text and "got:      a bare LF at octet 10" in text
    assert "transcript (time, TLS" in text


def test_postfix_refuses_a_bare_lf_with_521_and_closes(serve, tls) -> None:
    server = serve("postfix")
    with (
        smtplib.SMTP(server.host, server.port, timeout=5) as client,
        pytest.raises(smtplib.SMTPDataError) as raised,
    ):
        client.sendmail("a@example.com", ["b@example.net"], b"Subject: x\n\nhello\n")
    assert raised.value.smtp_code == 521
    assert rules(server) == ["R-LINE-1"]


def test_a_message_ended_by_lf_dot_lf_is_answered_not_waited_for(serve, tls) -> None:
    server = serve("postfix")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    wire.cmd(b"MAIL FROM:<a@example.com>")
    wire.cmd(b"RCPT TO:<b@example.net>")
    assert wire.cmd(b"DATA")[:3] == b"354"
    wire.send(b"Subject: x\n\nhello\n.\n")
    assert wire.reply().startswith(b"521 5.5.2")
    assert "R-LINE-1" in rules(server)


def test_a_bare_lf_in_a_command_is_r_line_1(serve, tls) -> None:
    server = serve("postfix")
    wire = session(server, tls)
    wire.send(b"EHLO c.example\n")
    assert wire.reply()[:3] in (b"521", b"421")
    assert rules(server) == ["R-LINE-1"]


def test_an_unstuffed_leading_dot_is_r_dot_1(serve, tls) -> None:
    server = serve("postfix")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    wire.cmd(b"MAIL FROM:<a@example.com>")
    wire.cmd(b"RCPT TO:<b@example.net>")
    wire.cmd(b"DATA")
    assert wire.cmd(b"Subject: x\r\n\r\n.hidden\r\n.")[:3] == b"250"
    wire.close()
    assert rules(server) == ["R-DOT-1"]


def test_a_stuffed_leading_dot_passes_and_arrives_unstuffed(serve, tls) -> None:
    server = serve("postfix")
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.sendmail("a@example.com", ["b@example.net"], b"Subject: x\r\n\r\n.hidden\r\n")
    assert server.wait_message().content == b"Subject: x\r\n\r\n.hidden\r\n"
    assert rules(server) == []


def test_8bit_data_needs_body_8bitmime(serve, tls) -> None:
    body = "Subject: x\r\n\r\nGrüße\r\n".encode()
    server = serve("postfix")
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.sendmail("a@example.com", ["b@example.net"], body)
        client.sendmail("a@example.com", ["b@example.net"], body, mail_options=["BODY=8BITMIME"])
    assert rules(server) == ["R-8BIT-1"]  # the first message only
    assert len(server.messages) == 2


def test_auth_before_starttls_where_offered_only_after_is_r_ext_1(serve, tls) -> None:
    server = serve("gmail")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    assert wire.cmd(b"AUTH PLAIN " + plain("a", "secret")).startswith(b"530 5.7.0")
    wire.close()
    findings = [f for f in server.findings() if f.fails]
    assert [f.rule.split()[0] for f in findings] == ["R-EXT-1"]
    assert "offered only after STARTTLS" in findings[0].expected
    assert "secret" not in findings[0].got and "<credentials>" in findings[0].got


def test_no_ehlo_after_starttls_is_r_tls_3(serve, tls) -> None:
    server = serve("gmail")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    assert wire.cmd(b"STARTTLS")[:3] == b"220"
    wire.starttls()
    assert wire.cmd(b"MAIL FROM:<a@example.com>")[:3] == b"503"
    wire.close()
    assert rules(server) == ["R-TLS-3"]


def test_bytes_after_starttls_before_the_handshake_are_r_tls_6(serve, tls) -> None:
    server = serve("gmail")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    wire.send(b"STARTTLS\r\nEHLO c.example\r\n")
    wire.reply()
    wire.close()
    assert "R-TLS-6" in rules(server)


def test_pipelining_without_pipelining_is_r_pipe_1(serve, tls) -> None:
    server = serve("163", fail={})  # 163 advertises PIPELINING: use HELO, which offers nothing
    wire = session(server, tls)
    wire.cmd(b"HELO c.example")
    wire.send(b"RSET\r\nNOOP\r\n")
    wire.reply()
    wire.reply()
    wire.close()
    assert rules(server) == ["R-PIPE-1"]


def test_pipelining_where_advertised_passes_but_data_must_end_the_group(serve, tls) -> None:
    server = serve("postfix")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    wire.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert [wire.reply()[:3] for _ in range(3)] == [b"250", b"250", b"354"]
    assert rules(server, settle=False) == []
    wire.send(b"Subject: x\r\n\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n")
    assert [wire.reply()[:3] for _ in range(3)] == [b"250", b"250", b"221"]
    assert rules(server) == ["R-PIPE-2"]  # NOOP with QUIT behind it


def test_mail_parameters_need_their_extension(serve, tls) -> None:
    server = serve("163")  # no SIZE, no SMTPUTF8, no DSN
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    wire.cmd(b"AUTH PLAIN " + plain("a@163.com", "x"))
    assert wire.cmd(b"MAIL FROM:<a@163.com> SIZE=100")[:3] == b"555"
    assert wire.cmd(b"MAIL FROM:<a@163.com> BODY=8BITMIME") == b"250 Mail OK\r\n"
    wire.close()
    assert rules(server) == ["R-EXT-1"]


def test_helo_instead_of_ehlo_and_lock_step_pass(serve, tls) -> None:
    server = serve("postfix")
    wire = session(server, tls)
    for line, code in [
        (b"HELO c.example", b"250"),
        (b"MAIL FROM:<a@example.com>", b"250"),
        (b"RCPT TO:<b@example.net>", b"250"),
        (b"DATA", b"354"),
        (b"Subject: x\r\n\r\nhi\r\n.", b"250"),
        (b"QUIT", b"221"),
    ]:
        assert wire.cmd(line)[:3] == code, line
    wire.close()
    assert rules(server) == []
    assert server.messages[0].helo == "c.example"


def test_rcpt_before_mail_is_r_tx_2_but_not_after_a_refused_mail(serve, tls) -> None:
    server = serve("gmail")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    wire.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n")  # pipelined: legal
    assert wire.reply()[:3] == b"530" and wire.reply()[:3] == b"503"
    assert rules(server, settle=False) == []
    wire.cmd(b"RSET")
    assert wire.cmd(b"RCPT TO:<b@example.net>")[:3] == b"503"
    wire.close()
    assert rules(server) == ["R-TX-2"]


def test_a_long_command_line_is_non_strict(serve, tls) -> None:
    server = serve("postfix")
    wire = session(server, tls)
    wire.cmd(b"NOOP " + b"x" * 600)
    wire.close()
    server.settle(5)
    assert rules(server) == []
    assert [f.rule.split()[0] for f in server.findings()] == ["R-LINE-3"]


def test_a_bcc_header_seen_by_the_to_recipients_is_non_strict(serve, tls) -> None:
    server = serve("postfix")
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.sendmail(
            "a@example.com",
            ["b@example.net", "hidden@example.org"],
            b"To: b@example.net\r\nBcc: hidden@example.org\r\nSubject: x\r\n\r\nhi\r\n",
        )
    server.settle(5)
    assert rules(server) == []
    (finding,) = server.findings()
    assert finding.grade == "non-strict" and "Bcc: hidden@example.org" in finding.got
    server.assert_followed()  # non-strict findings never fail


# --- failure knobs ---------------------------------------------------------------------------


def test_reply_x_to_the_nth_rcpt(serve, tls) -> None:
    server = serve("postfix", fail={"rcpt": {2: 554}})
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        refused = client.sendmail("a@example.com", ["b@x.org", "c@x.org", "d@x.org"], MESSAGE)
    assert refused == {"c@x.org": (554, b"5.7.1 <c@x.org>: Relay access denied")}
    assert server.wait_message().rcpt_to == ["b@x.org", "d@x.org"]


@pytest.mark.parametrize("stage", ["mail", "data", "dot"])
def test_421_at_a_stage_closes_the_connection(serve, tls, stage: str) -> None:
    server = serve("postfix", fail={stage: 421})
    with (
        smtplib.SMTP(server.host, server.port, timeout=5) as client,
        pytest.raises(
            (smtplib.SMTPSenderRefused, smtplib.SMTPDataError, smtplib.SMTPServerDisconnected)
        ),
    ):
        client.sendmail("a@example.com", ["b@example.net"], MESSAGE)
    server.settle(5)
    assert server.sessions[0].ended == "the server closed the connection"
    assert server.messages == []


def test_the_dot_knob_sends_163s_spam_verdict(serve, tls) -> None:
    server = serve("163", fail={"dot": 554})
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.login("a@163.com", "x")
        with pytest.raises(smtplib.SMTPDataError) as raised:
            client.sendmail("a@163.com", ["b@example.net"], MESSAGE)
    assert raised.value.smtp_error.startswith(b"DT:SPM 126 smtp2")


def test_greylisting_refuses_the_first_attempt_only(serve, tls) -> None:
    server = serve("postfix", fail={"greylist": True})
    for attempt in (1, 2):
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:
            if attempt == 1:
                with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
                    client.sendmail("a@example.com", ["b@example.net"], MESSAGE)
                assert raised.value.recipients["b@example.net"][0] == 451
            else:
                client.sendmail("a@example.com", ["b@example.net"], MESSAGE)
    assert len(server.messages) == 1 and server.messages[0].session == 2


def test_refuse_auth(serve, tls) -> None:
    server = serve("gmail", fail={"auth": 534})
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.starttls(context=tls.client_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
            client.login("a", "b")
    assert raised.value.smtp_code == 534
    assert b"Application-specific password required" in raised.value.smtp_error


def test_stall_leaves_the_client_waiting(serve, tls) -> None:
    server = serve("postfix", fail={"dot": "stall"})
    with (
        smtplib.SMTP(server.host, server.port, timeout=1) as client,
        pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)),
    ):
        client.sendmail("a@example.com", ["b@example.net"], MESSAGE)
    server.settle(5)
    assert server.messages == []
    assert "stalled at dot" in server.sessions[0].waiting_for


def test_a_reply_text_knob(serve, tls) -> None:
    server = serve("postfix", fail={"mail": "451-4.3.0 first line\n451 4.3.0 second line"})
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.ehlo()
        code, text = client.mail("a@example.com")
    assert (code, text) == (451, b"4.3.0 first line\n4.3.0 second line")


@pytest.mark.parametrize(
    ("fail", "words"),
    [
        ({"rpct": 550}, "fail['rpct']: unknown stage"),
        ({"rcpt": 99}, "a reply code is 200-599"),
        ({"rcpt": {0: 550}}, "keys count from 1"),
        ({"rcpt": "550 x\n551 y"}, "every line the same"),
        ({"rcpt": [550]}, "expected a reply code"),
    ],
)
def test_bad_knobs_are_clear_errors(fail: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[")):
        parse_knobs(fail)


def test_cli_knobs() -> None:
    assert parse_cli_knob("rcpt=550") == ("rcpt", 550)
    assert parse_cli_knob("rcpt#2=550") == ("rcpt", {2: 550})
    assert parse_cli_knob("data=stall") == ("data", "stall")
    assert parse_cli_knob("greylist") == ("greylist", True)
    with pytest.raises(ValueError, match="STAGE=CODE"):
        parse_cli_knob("rcpt")


# --- waiting ---------------------------------------------------------------------------------


def test_wait_message_without_a_client_is_a_clear_error(serve) -> None:
    server = serve("gmail")
    with pytest.raises(
        NoClientError, match=rf"^no client connected to 127\.0\.0\.1:{server.port} within 0\.2 s$"
    ):
        server.wait_message(timeout=0.2)


def test_wait_message_says_where_the_session_stopped(serve, tls) -> None:
    server = serve("gmail")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    with pytest.raises(
        NoClientError, match=r"still open, waiting for STARTTLS \(this server requires it\)"
    ):
        server.wait_message(timeout=0.2)
    wire.close()


def test_docs_profiles_md_is_up_to_date() -> None:
    from pathlib import Path

    from fake_servers.profiles.describe import profiles_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"
    assert docs.read_text(encoding="utf-8") == profiles_markdown(), (
        "run: python -m fake_servers.profiles.describe > docs/profiles.md"
    )


def test_auth_responses_not_base64_are_r_auth_5_but_bad_credentials_are_not(serve, tls) -> None:
    server = serve("163")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    assert wire.cmd(b"AUTH PLAIN " + base64.b64encode(b"no nul bytes")).startswith(b"535")
    assert wire.cmd(b"AUTH PLAIN =").startswith(b"535")  # an empty response
    assert wire.cmd(b"AUTH LOGIN") == b"334 dXNlcm5hbWU6\r\n"
    assert wire.cmd(b"not base64!").startswith(b"501")
    assert wire.cmd(b"AUTH LOGIN") == b"334 dXNlcm5hbWU6\r\n"
    assert wire.cmd(b"*").startswith(b"501 5.7.0 Authentication aborted")
    wire.cmd(b"QUIT")
    wire.close()
    assert rules(server) == ["R-AUTH-5"]
    assert server.sessions[0].ended == "the client sent QUIT"


def test_bdat_without_chunking_is_r_bdat_1(serve, tls) -> None:
    server = serve("postfix")
    wire = session(server, tls)
    wire.cmd(b"EHLO c.example")
    wire.cmd(b"MAIL FROM:<a@example.com>")
    wire.cmd(b"RCPT TO:<b@example.net>")
    wire.send(b"BDAT 4 LAST\r\nabcd")
    assert wire.reply()[:3] == b"502"
    wire.close()
    assert rules(server) == ["R-BDAT-1"]
