"""The ``smtplib`` adapter: the standard library's client, driven the usual way, in a thread.

``SMTP``/``SMTP_SSL`` with the run's CA context, ``starttls()`` then ``ehlo()``, ``login()`` (or
``auth()`` with the task's preferred mechanism), ``sendmail()``, ``verify()``, ``expn()``,
``noop()``, ``rset()``, ``HELP`` through ``docmd`` (``help()`` drops the reply code), ``quit()``.

smtplib passes MAIL and RCPT options through as given, so the adapter does what an application
must: DSN parameters only when DSN was advertised, ENVID as xtext, and for non-ASCII addresses the
options ``send_message()`` itself adds (SMTPUTF8 and BODY=8BITMIME, or a refusal without SMTPUTF8).
A 421 to a command ends the session: ``rset()``, ``noop()`` and friends return it instead of raising.

TLS is driven with the run's verifying context: ``starttls(context=...)`` and
``SMTP_SSL(context=...)``. Called without a context, as many examples do, smtplib verifies
nothing (``ssl._create_stdlib_context()``: CERT_NONE, no host-name check) and fails every
``tls.refuse-*`` scenario; tests/integration/test_certificates.py runs it that way to show it.
The timeout is ``Target.timeout`` (the task's ``client.timeout`` when set), passed to ``SMTP``.
"""

from __future__ import annotations

import contextlib
import smtplib

from harness.adapters.base import Capabilities, Target, in_own_thread
from harness.client.machine import xtext
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask, TlsMode

__all__ = ["SmtplibAdapter", "dsn_options", "needs_smtputf8"]


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "backslashreplace") if isinstance(message, bytes) else message


class SmtplibAdapter:
    name = "smtplib"
    capabilities = Capabilities()

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        return await in_own_thread(lambda: self._deliver(task, target))

    def _deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        recipients: dict[str, int] = {}
        replies: list[int] = []
        failure: ClientOutcome | None = None
        name = task.ehlo_name  # None: smtplib's own default (socket.getfqdn())
        client: smtplib.SMTP | None = None

        def failed(code: int | None, message: str) -> ClientOutcome:
            return ClientOutcome.failure(code, message, recipients, replies)

        try:
            if task.tls is TlsMode.IMPLICIT:
                client = smtplib.SMTP_SSL(
                    target.host,
                    target.port,
                    local_hostname=name,
                    timeout=target.timeout,
                    context=target.ssl_context,
                )
            else:
                client = smtplib.SMTP(
                    target.host, target.port, local_hostname=name, timeout=target.timeout
                )
            client.ehlo_or_helo_if_needed()
            if task.tls is TlsMode.STARTTLS:
                client.starttls(context=target.ssl_context)
                client.ehlo()
            if task.auth is not None:
                offered = client.esmtp_features.get("auth", "").upper().split()
                preferred = [m for m in task.auth.mechanisms if m in offered]
                if task.auth.token and ("XOAUTH2" in preferred[:1] or not task.auth.password):
                    # smtplib has no XOAUTH2 encoder; the documented way is auth() with a callable.
                    creds = f"user={task.auth.username}\x01auth=Bearer {task.auth.token}\x01\x01"
                    client.auth(
                        "XOAUTH2", lambda challenge=None: creds if challenge is None else ""
                    )
                elif preferred:  # the task names a mechanism: use smtplib's own encoder for it
                    client.user, client.password = task.auth.username, task.auth.password
                    encoder = getattr(client, "auth_" + preferred[0].lower().replace("-", "_"))
                    client.auth(preferred[0], encoder)
                else:
                    client.login(task.auth.username, task.auth.password)
            for op in task.operations:
                if op.kind == "send":
                    if failure is not None:
                        code, text = client.rset()
                        if code == 421:
                            return failed(code, _text(text))
                    try:
                        mail_options, rcpt_options = (
                            dsn_options(task) if client.has_extn("dsn") else ([], [])
                        )
                        if needs_smtputf8(task):  # what send_message() does for such addresses
                            if not client.has_extn("smtputf8"):
                                raise smtplib.SMTPNotSupportedError(
                                    "a non-ASCII address needs SMTPUTF8, not advertised"
                                )
                            mail_options += ["SMTPUTF8", "BODY=8BITMIME"]
                        refused = client.sendmail(
                            task.mail_from,
                            list(task.rcpt_to),
                            task.message,
                            mail_options,
                            rcpt_options,
                        )
                        recipients.update({r: 250 for r in task.rcpt_to if r not in refused})
                        recipients.update({r: code for r, (code, _) in refused.items()})
                    except smtplib.SMTPRecipientsRefused as exc:
                        recipients.update({r: code for r, (code, _) in exc.recipients.items()})
                        first = next(iter(exc.recipients.values()))
                        failure = failed(first[0], _text(first[1]))
                    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                        failure = failed(exc.smtp_code, _text(exc.smtp_error))
                else:
                    code, text = _operation(client, op.kind, op.argument)
                    replies.append(code)
                    if code == 421:  # the server is closing (RFC 5321 §3.8): nothing more to send
                        return failed(code, _text(text))
            with contextlib.suppress(smtplib.SMTPServerDisconnected):
                client.quit()  # no 221 after the work is done is harmless (R-QUIT-1)
        except smtplib.SMTPResponseException as exc:
            return failed(exc.smtp_code, _text(exc.smtp_error))
        except (TimeoutError, smtplib.SMTPException, OSError, ValueError) as exc:
            return failed(None, f"{type(exc).__name__}: {exc}")
        finally:
            if client is not None:
                client.close()
        if failure is not None:
            return failure
        return ClientOutcome.success(task, recipients, replies)


def _operation(client: smtplib.SMTP, kind: str, argument: str) -> tuple[int, bytes]:
    if kind == "vrfy":
        return client.verify(argument)
    if kind == "expn":
        return client.expn(argument)
    if kind == "noop":
        return client.noop()
    if kind == "rset":
        return client.rset()
    return client.docmd("HELP", argument)


def needs_smtputf8(task: ClientTask) -> bool:
    """Whether the envelope has a non-ASCII address (RFC 6531 §3.4)."""
    return not "".join([task.mail_from, *task.rcpt_to]).isascii()


def dsn_options(task: ClientTask) -> tuple[list[str], list[str]]:
    """DSN parameters as an application writes them for sendmail(): the libraries pass options
    through unchecked, so the caller sends them only when DSN was advertised (RFC 3461 §4) and
    writes ENVID as xtext."""
    if task.dsn is None:
        return [], []
    mail = ([f"RET={task.dsn.ret}"] if task.dsn.ret else []) + (
        [f"ENVID={xtext(task.dsn.envid)}"] if task.dsn.envid else []
    )
    rcpt = ["NOTIFY=" + ",".join(task.dsn.notify)] if task.dsn.notify else []
    return mail, rcpt
