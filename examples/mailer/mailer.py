"""A small application that sends mail: the example the README's pytest section is built on.

It does what most applications do: builds a message with To, Cc and Bcc recipients, connects
to a submission server, upgrades with STARTTLS (verifying the certificate against a CA file),
logs in and sends. Its tests (tests/test_mailer.py) run it against smtp-harness servers.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses

__all__ = ["SmtpSettings", "build_message", "send"]


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to submit mail.

    Attributes:
        ca_file: the CA certificate to trust for the server's certificate; None: the system's.
    """

    host: str
    port: int
    username: str
    password: str
    ca_file: str | None = None
    timeout: float = 10.0


def build_message(
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    *,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if bcc:
        message["Bcc"] = ", ".join(bcc)
    message["Subject"] = subject
    message.set_content(body)
    return message


def send(
    settings: SmtpSettings,
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    *,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
) -> dict[str, tuple[int, bytes]]:
    """Send one message; returns the recipients the server refused (empty if none).

    Raises:
        smtplib.SMTPException, ssl.SSLError, OSError: the message was not sent.
    """
    message = build_message(sender, to, subject, body, cc=cc, bcc=bcc)
    recipients = [*to, *cc, *bcc]
    context = ssl.create_default_context(cafile=settings.ca_file)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        smtp.starttls(context=context)
        smtp.login(settings.username, settings.password)
        del message["Bcc"]  # the blind copies stay blind
        data = message.as_bytes(policy=policy.SMTP)  # CRLF line ends, as SMTP requires
        envelope_from = getaddresses([sender])[0][1]
        envelope_to = [address for _, address in getaddresses(recipients)]
        return smtp.sendmail(envelope_from, envelope_to, data)
