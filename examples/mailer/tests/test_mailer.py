"""The mailer's tests: against a Gmail-like profile server, the example's own scenario, and
scenarios of smtp-harness's corpus by id. The fixtures come from smtp-harness's pytest plugin
(installed with the package); no network, only 127.0.0.1."""

from __future__ import annotations

import smtplib
from pathlib import Path

import mailer
import pytest

HERE = Path(__file__).parent
PASSWORD = "abcd efgh ijkl mnop"  # a Gmail app password has this shape


def settings(server, username="alice@example.com", password=PASSWORD):
    return mailer.SmtpSettings(
        host=server.host,
        port=server.port,
        username=username,
        password=password,
        ca_file=server.ca_path,  # trust the test CA that smtp-harness made for this run
    )


def send_report(server, **overrides):
    return mailer.send(
        settings(server, **overrides),
        sender="Alice <alice@example.com>",
        to=["Bob <bob@example.net>"],
        cc=["carol@example.org"],
        bcc=["dave@example.com"],
        subject="Quarterly report",
        body="The numbers are in.\n.A line that starts with a dot.\n",
    )


def test_sends_through_gmail(smtp_profile):
    server = smtp_profile("gmail", users={"alice@example.com": PASSWORD})
    refused = send_report(server)
    assert refused == {}
    message = server.wait_message()
    assert message.tls and message.auth_user == "alice@example.com"
    assert message.mail_from == "alice@example.com"
    assert message.rcpt_to == ["bob@example.net", "carol@example.org", "dave@example.com"]
    assert message.message["Subject"] == "Quarterly report"
    assert "Bcc" not in message.message


def test_reports_a_refused_recipient(smtp_profile):
    server = smtp_profile("gmail", fail={"rcpt": {2: 550}})  # Gmail refuses the 2nd RCPT
    refused = send_report(server)
    assert list(refused) == ["carol@example.org"]
    assert server.wait_message().rcpt_to == ["bob@example.net", "dave@example.com"]


def test_spam_verdict_from_163(smtp_profile):
    server = smtp_profile("163", fail={"dot": 554})  # 163.com's "554 DT:SPM ..." after the data
    with pytest.raises(smtplib.SMTPDataError) as raised:
        send_report(server)
    assert raised.value.smtp_code == 554
    assert b"DT:SPM" in raised.value.smtp_error


def test_follows_the_script(smtp_server_factory):
    server = smtp_server_factory(HERE / "send-with-copies.yaml")
    send_report(server)
    server.assert_followed()


def test_gmail_587_from_the_corpus(smtp_server_factory):
    server = smtp_server_factory("servers.gmail.starttls-587-send")  # by id, from the package
    mailer.send(
        settings(server),
        sender="Alice <alice@example.com>",
        to=["Bob <bob@example.net>"],
        subject="via smtp.gmail.com:587",
        body="Sent after STARTTLS and AUTH.\n",
    )
    server.assert_followed()
