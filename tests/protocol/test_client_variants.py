"""The reference client's legal variants, at the state-machine level: replies in, bytes out.

Each switch of ``ClientVariant`` is checked against the strict default on the same replies, so a
test fails if the switch does nothing as well as if it does the wrong thing.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from harness.client.compose import QP_LINE, regenerate_message
from harness.client.machine import ClientMachine, CloseConnection, StartTls, Write, local_refusal
from harness.client.variant import STRICT, VARIANTS, ClientVariant, parse_variant
from harness.errors import AdapterError
from harness.outcome import ClientOutcome
from harness.protocol.data import dot_unstuff
from harness.scenario.model import ClientTask, Credentials, DsnRequest, Outcome, TlsMode

MESSAGE = b"From: a@example.com\nTo: b@example.com\nSubject: hi\n\nhello\n"
TASK = ClientTask(mail_from="a@example.com", rcpt_to=("b@example.com",), message=MESSAGE)
CLOSE = b"<close>"
EHLO_PIPELINING = b"250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
EHLO_PLAIN = b"250 mx.example.com\r\n"


class Session:
    """One machine and what it wrote: ``say(reply)`` returns the commands it answered with."""

    def __init__(self, task: ClientTask = TASK, variant: ClientVariant = STRICT) -> None:
        self.machine = ClientMachine(task, ehlo_name="[127.0.0.1]", variant=variant)

    def say(self, reply: bytes) -> list[bytes]:
        return _written(self.machine.receive_data(reply))

    @property
    def outcome(self) -> ClientOutcome:
        assert self.machine.outcome is not None
        return self.machine.outcome


def _written(actions: list[Write | StartTls | CloseConnection]) -> list[bytes]:
    out: list[bytes] = []
    for action in actions:
        if isinstance(action, Write):
            out += [line + b"\r\n" for line in action.data.split(b"\r\n")[:-1]]
        elif isinstance(action, CloseConnection):
            out.append(CLOSE)
        else:
            out.append(b"<starttls>")
    return out


def deliver_lockstep(s: Session, hello: bytes = EHLO_PLAIN) -> list[bytes]:
    """Greeting, hello and a successful transaction, one reply at a time; all that was sent."""
    sent = s.say(b"220 mx.example.com ESMTP\r\n")
    sent += s.say(hello)
    sent += s.say(b"250 ok\r\n")  # MAIL
    sent += s.say(b"250 ok\r\n")  # RCPT
    sent += s.say(b"354 go\r\n")  # DATA
    sent += s.say(b"250 queued\r\n")  # end of data
    return sent


# -- helo --


def test_helo_variant_says_helo_when_no_extension_is_needed() -> None:
    assert Session().say(b"220 mx\r\n") == [b"EHLO [127.0.0.1]\r\n"]
    helo = Session(variant=VARIANTS["helo"])
    assert helo.say(b"220 mx\r\n") == [b"HELO [127.0.0.1]\r\n"]
    assert helo.say(EHLO_PLAIN) == [b"MAIL FROM:<a@example.com>\r\n"]


@pytest.mark.parametrize(
    "task",
    [
        replace(TASK, tls=TlsMode.STARTTLS),
        replace(TASK, auth=Credentials(username="a", password="p")),
        replace(TASK, dsn=DsnRequest(notify=("NEVER",))),
        replace(TASK, rcpt_to=("bö@example.com",)),
        replace(TASK, message=MESSAGE + "grüße\n".encode()),
    ],
    ids=["starttls", "auth", "dsn", "smtputf8", "8bitmime"],
)
def test_helo_variant_says_ehlo_when_the_task_needs_an_extension(task: ClientTask) -> None:
    assert Session(task, VARIANTS["helo"]).say(b"220 mx\r\n") == [b"EHLO [127.0.0.1]\r\n"]


def test_helo_variant_with_a_regenerated_8bit_message_needs_no_8bitmime() -> None:
    task = replace(TASK, message=MESSAGE + "grüße\n".encode())
    s = Session(task, parse_variant("helo+regenerate"))
    assert s.say(b"220 mx\r\n") == [b"HELO [127.0.0.1]\r\n"]
    assert s.say(EHLO_PLAIN) == [b"MAIL FROM:<a@example.com>\r\n"]  # no BODY=8BITMIME


# -- pipelining --


def test_no_pipelining_variant_sends_lock_step_although_pipelining_is_advertised() -> None:
    strict = Session()
    strict.say(b"220 mx\r\n")
    assert strict.say(EHLO_PIPELINING) == [
        b"MAIL FROM:<a@example.com>\r\n",
        b"RCPT TO:<b@example.com>\r\n",
        b"DATA\r\n",
    ]
    s = Session(variant=VARIANTS["no-pipelining"])
    s.say(b"220 mx\r\n")
    assert s.say(EHLO_PIPELINING) == [b"MAIL FROM:<a@example.com>\r\n"]
    assert s.say(b"250 ok\r\n") == [b"RCPT TO:<b@example.com>\r\n"]
    assert s.say(b"250 ok\r\n") == [b"DATA\r\n"]


# -- QUIT after an error, RSET before QUIT --


@pytest.mark.parametrize(
    ("replies", "code"),
    [
        ([b"554 no service\r\n"], 554),
        ([b"220 mx\r\n", EHLO_PLAIN, b"550 no such sender\r\n"], 550),
        ([b"220 mx\r\n", EHLO_PLAIN, b"250 ok\r\n", b"550 no such user\r\n"], 550),
    ],
    ids=["greeting", "mail", "rcpt"],
)
def test_no_quit_variant_closes_without_quit_after_an_error(
    replies: list[bytes], code: int
) -> None:
    strict, variant = Session(), Session(variant=VARIANTS["no-quit"])
    for reply in replies:
        last_strict, last_variant = strict.say(reply), variant.say(reply)
    assert last_strict == [b"QUIT\r\n"]
    assert last_variant == [CLOSE]
    assert variant.outcome.outcome is Outcome.FAILED and variant.outcome.code == code


def test_no_quit_variant_still_quits_after_a_delivery() -> None:
    s = Session(variant=VARIANTS["no-quit"])
    assert deliver_lockstep(s)[-1] == b"QUIT\r\n"


def test_no_quit_variant_refused_auth_closes() -> None:
    task = replace(TASK, auth=Credentials(username="a", password="p"))
    s = Session(task, VARIANTS["no-quit"])
    s.say(b"220 mx\r\n")
    assert s.say(b"250-mx\r\n250 AUTH PLAIN\r\n")[0].startswith(b"AUTH PLAIN ")
    assert s.say(b"535 5.7.8 bad credentials\r\n") == [CLOSE]
    assert s.outcome.code == 535


def test_rset_quit_variant_sends_rset_and_waits_before_quit() -> None:
    assert deliver_lockstep(Session())[-1] == b"QUIT\r\n"
    s = Session(variant=VARIANTS["rset-quit"])
    assert deliver_lockstep(s)[-1] == b"RSET\r\n"
    assert s.say(b"250 ok\r\n") == [b"QUIT\r\n"]
    assert s.say(b"221 bye\r\n") == [CLOSE]
    assert s.outcome.outcome is Outcome.DELIVERED


def test_rset_quit_variant_after_a_refused_transaction_and_not_before_a_session() -> None:
    s = Session(variant=VARIANTS["rset-quit"])
    s.say(b"220 mx\r\n")
    s.say(EHLO_PLAIN)
    assert s.say(b"550 no\r\n") == [b"RSET\r\n"]
    assert s.say(b"500 what\r\n") == [b"QUIT\r\n"]  # whatever RSET got, the session ends
    # Before EHLO/HELO was accepted there is no session to reset.
    assert Session(variant=VARIANTS["rset-quit"]).say(b"554 go away\r\n") == [b"QUIT\r\n"]


# -- regenerated message --


def _sent_message(s: Session, hello: bytes = EHLO_PLAIN) -> bytes:
    sent = deliver_lockstep(s, hello)
    at = sent.index(b"DATA\r\n") + 1
    end = sent.index(b".\r\n", at)
    return dot_unstuff(b"".join(sent[at:end])).replace(b"\r\n", b"\n")


def test_strict_client_sends_the_message_as_given() -> None:
    assert _sent_message(Session()) == MESSAGE


GIVEN_IDS = b"Date: Mon, 01 Jan 2024 12:00:00 +0000\nMessage-ID: <given@example.org>\n"


def test_regenerate_variant_keeps_the_given_ids_and_adds_the_missing_ones() -> None:
    given = _sent_message(
        Session(replace(TASK, message=GIVEN_IDS + MESSAGE), VARIANTS["regenerate"])
    )
    parsed = email.message_from_bytes(given, policy=email.policy.default)
    assert parsed["Date"] == "Mon, 01 Jan 2024 12:00:00 +0000"
    assert parsed["Message-ID"] == "<given@example.org>"
    assert parsed["MIME-Version"] == "1.0" and parsed.get_content_type() == "text/plain"
    missing = _sent_message(Session(variant=VARIANTS["regenerate"]))
    parsed = email.message_from_bytes(missing, policy=email.policy.default)
    assert parsed["Date"] and parsed["Message-ID"].endswith("@example.com>")
    assert parsed.get_content() == "hello\n"


def test_compose_variant_stamps_its_own_date_message_id_and_mime_headers() -> None:
    task = replace(TASK, message=GIVEN_IDS + MESSAGE)
    sent = _sent_message(Session(task, VARIANTS["compose"]))
    parsed = email.message_from_bytes(sent, policy=email.policy.default)
    assert parsed["Date"] != "Mon, 01 Jan 2024 12:00:00 +0000"
    assert parsed["Message-ID"] != "<given@example.org>"
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed["MIME-Version"] == "1.0"
    assert parsed.get_content_type() == "text/plain"
    assert parsed["Subject"] == "hi" and parsed["To"] == "b@example.com"
    assert len(parsed.get_all("Date")) == len(parsed.get_all("Message-ID")) == 1  # replaced
    assert parsed.get_content() == "hello\n"


def test_regenerate_variant_encodes_long_lines_and_8bit_as_quoted_printable() -> None:
    body = "x" * 200 + "\ngrüße. und .punkt\n"
    task = replace(
        TASK, message=b"Subject: long\nContent-Type: text/plain; charset=utf-8\n\n" + body.encode()
    )
    sent = _sent_message(Session(task, VARIANTS["regenerate"]), EHLO_PLAIN)
    assert sent.isascii()
    assert all(len(line) <= QP_LINE for line in sent.split(b"\n"))
    parsed = email.message_from_bytes(sent, policy=email.policy.default)
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content() == body


def test_regenerate_variant_mail_from_has_no_body_8bitmime_for_an_encoded_body() -> None:
    task = replace(TASK, message=MESSAGE + "grüße\n".encode())
    strict = Session(task)
    strict.say(b"220 mx\r\n")
    assert strict.say(EHLO_PIPELINING)[0] == b"MAIL FROM:<a@example.com> BODY=8BITMIME\r\n"
    s = Session(task, VARIANTS["regenerate"])
    s.say(b"220 mx\r\n")
    assert s.say(EHLO_PIPELINING)[0] == b"MAIL FROM:<a@example.com>\r\n"


def test_regenerate_keeps_fields_bytes_and_multipart_bodies() -> None:
    now = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    folded = b"Subject: a long\n subject\nX-Odd:  spaced  \n\nbody\n"
    out = regenerate_message(folded, domain="example.org", now=now)
    assert out.startswith(b"Subject: a long\n subject\nX-Odd:  spaced  \nDate: Mon, 06 May 2030")
    assert out.endswith(b"Content-Transfer-Encoding: 7bit\n\nbody\n")
    multipart = b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\nx\n--b--\n'
    out = regenerate_message(multipart, domain="example.org", now=now)
    header, _, body = out.partition(b"\n\n")
    assert body == b"--b\n\nx\n--b--\n"
    assert b'Content-Type: multipart/mixed; boundary="b"' in header
    assert b"Content-Transfer-Encoding" not in header  # a multipart body is left alone
    headerless = regenerate_message(b"QUIT\nFrom: x\n", domain="example.org", now=now)
    assert headerless.endswith(b"\n\nQUIT\nFrom: x\n")  # no field on line 1: all is body


# -- local refusal and SMTPUTF8 --


def test_local_refusal_names_crlf_and_only_refuses_non_ascii_without_smtputf8() -> None:
    assert local_refusal(replace(TASK, rcpt_to=("b@example.com\r\nRSET",))) is not None
    utf8 = replace(TASK, rcpt_to=("bö@example.com",))
    assert local_refusal(utf8) is None
    assert "SMTPUTF8" in (local_refusal(utf8, VARIANTS["no-smtputf8"]) or "")
    assert local_refusal(TASK, VARIANTS["no-smtputf8"]) is None


def test_no_smtputf8_variant_refuses_although_the_server_offers_it() -> None:
    task = replace(TASK, rcpt_to=("bö@example.com",))
    ehlo = b"250-mx\r\n250 SMTPUTF8\r\n"
    strict = Session(task)
    strict.say(b"220 mx\r\n")
    assert strict.say(ehlo) == [b"MAIL FROM:<a@example.com> SMTPUTF8\r\n"]
    s = Session(task, VARIANTS["no-smtputf8"])
    assert s.say(b"220 mx\r\n") == [b"EHLO [127.0.0.1]\r\n"]
    assert s.say(ehlo) == [b"QUIT\r\n"]
    s.say(b"221 bye\r\n")
    assert s.outcome.outcome is Outcome.FAILED and "SMTPUTF8" in (s.outcome.message or "")


# -- lost connection --


def test_lost_connection_variant_reports_the_loss_not_the_last_code() -> None:
    task = replace(TASK, rcpt_to=("b@example.com", "c@example.com"))
    outcomes = []
    for variant in (STRICT, VARIANTS["lost-connection"]):
        s = Session(task, variant)
        s.say(b"220 mx\r\n")
        s.say(EHLO_PIPELINING)
        s.say(b"250 ok\r\n550 no\r\n550 no\r\n")
        s.say(b"")  # the server hung up before answering DATA
        outcomes.append(s.outcome)
    assert outcomes[0].code == 550
    assert outcomes[1].outcome is Outcome.FAILED and outcomes[1].code is None
    assert "closed" in (outcomes[1].message or "")


# -- AUTH mechanism order --

AUTH_EHLO = b"250-mx\r\n250 AUTH CRAM-MD5 PLAIN LOGIN XOAUTH2\r\n"


def _first_auth(variant: ClientVariant, mechanisms: tuple[str, ...] = ()) -> bytes:
    creds = Credentials(username="a", password="p", mechanisms=mechanisms)
    s = Session(replace(TASK, auth=creds), variant)
    s.say(b"220 mx\r\n")
    return s.say(AUTH_EHLO)[0].split()[1]


def test_auth_order_variants_pick_other_offered_mechanisms() -> None:
    assert _first_auth(STRICT) == b"CRAM-MD5"
    assert _first_auth(VARIANTS["auth-last"]) == b"LOGIN"  # XOAUTH2 needs a token
    seeded = {_first_auth(ClientVariant(auth_order="seeded", seed=n)) for n in range(20)}
    assert seeded == {b"CRAM-MD5", b"PLAIN", b"LOGIN"}  # only usable, offered ones
    assert _first_auth(VARIANTS["auth-seeded"]) == _first_auth(VARIANTS["auth-seeded"])


def test_auth_order_keeps_the_mechanism_the_task_names() -> None:
    for variant in (STRICT, VARIANTS["auth-last"], VARIANTS["auth-seeded"]):
        assert _first_auth(variant, ("PLAIN",)) == b"PLAIN"


def test_auth_last_falls_back_to_the_next_offered_after_504() -> None:
    s = Session(replace(TASK, auth=Credentials(username="a", password="p")), VARIANTS["auth-last"])
    s.say(b"220 mx\r\n")
    assert s.say(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n") == [b"AUTH LOGIN\r\n"]
    assert s.say(b"504 not that one\r\n")[0].startswith(b"AUTH PLAIN ")


# -- names --


def test_parse_variant_combines_names_and_rejects_unknown_ones() -> None:
    both = parse_variant("helo+no-quit")
    assert both == ClientVariant(helo=True, quit_after_error=False)
    assert both.describe() == "helo=True, quit_after_error=False"
    assert STRICT.describe() == "strict"
    with pytest.raises(AdapterError, match=r"no reference client variant named 'hello'.*helo"):
        parse_variant("helo+hello")


def test_every_named_variant_differs_from_strict() -> None:
    assert all(v != STRICT for v in VARIANTS.values())
