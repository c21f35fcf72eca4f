"""The ``aiosmtplib`` adapter (optional dependency: ``pip install aiosmtplib``).

As aiosmtplib's documentation tells an application: ``sendmail()`` for an ASCII message (its
documented input), ``send_message()`` for one with 8-bit content or a non-ASCII address (it then
adds BODY=8BITMIME and SMTPUTF8, or downgrades the body to 7 bit without 8BITMIME). Options are
passed through unchecked, so DSN parameters go out only when DSN was advertised, ENVID as xtext.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
from typing import Any

from harness.adapters.base import Capabilities, Target
from harness.adapters.smtplib_adapter import dsn_options, needs_smtputf8
from harness.errors import AdapterError
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask, TlsMode

__all__ = ["AiosmtplibAdapter"]


class AiosmtplibAdapter:
    name = "aiosmtplib"
    capabilities = Capabilities()

    def __init__(self) -> None:
        try:
            import aiosmtplib
        except ImportError as exc:
            raise AdapterError(
                "the aiosmtplib adapter needs aiosmtplib: pip install aiosmtplib"
            ) from exc
        self._lib: Any = aiosmtplib

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        lib = self._lib
        recipients: dict[str, int] = {}
        replies: list[int] = []
        failure: ClientOutcome | None = None

        def failed(code: int | None, message: str) -> ClientOutcome:
            return ClientOutcome.failure(code, message, recipients, replies)

        client = lib.SMTP(
            hostname=target.host,
            port=target.port,
            local_hostname=task.ehlo_name,  # None: aiosmtplib's own default
            use_tls=task.tls is TlsMode.IMPLICIT,
            start_tls=False,
            tls_context=target.ssl_context,
            timeout=target.timeout,
        )
        try:
            await client.connect()
            if task.tls is TlsMode.STARTTLS:
                await client.starttls(tls_context=target.ssl_context)  # EHLOs first if needed
            if task.auth is not None:
                if not client.supported_auth_methods:
                    await client.ehlo()  # after STARTTLS the old extensions are gone
                offered = [m.upper() for m in client.supported_auth_methods]
                preferred = [m for m in task.auth.mechanisms if m in offered]
                if task.auth.token and ("XOAUTH2" in preferred[:1] or not task.auth.password):
                    await client.auth_xoauth2(task.auth.username, task.auth.token)
                elif preferred:
                    method = getattr(client, "auth_" + preferred[0].lower().replace("-", ""))
                    await method(task.auth.username, task.auth.password)
                else:
                    await client.login(task.auth.username, task.auth.password)
            for op in task.operations:
                if op.kind == "send":
                    if failure is not None:
                        await client.rset()
                    try:
                        # The library's own EHLO-or-HELO step, as sendmail() would run it, so
                        # that the extension check below sees the session's real list.
                        await client._ehlo_or_helo_if_needed()
                        mail_options, rcpt_options = (
                            dsn_options(task) if client.supports_extension("dsn") else ([], [])
                        )
                        if task.message.isascii() and not needs_smtputf8(task):
                            errors, _ = await client.sendmail(
                                task.mail_from,
                                list(task.rcpt_to),
                                task.message,
                                mail_options=mail_options,
                                rcpt_options=rcpt_options,
                            )
                        else:
                            errors, _ = await client.send_message(
                                email.message_from_bytes(task.message, policy=email.policy.default),
                                sender=task.mail_from,
                                recipients=list(task.rcpt_to),
                                mail_options=mail_options,
                                rcpt_options=rcpt_options,
                            )
                        recipients.update({r: 250 for r in task.rcpt_to if r not in errors})
                        recipients.update({r: resp.code for r, resp in errors.items()})
                    except lib.SMTPRecipientsRefused as exc:
                        for refused in exc.recipients:
                            recipients[refused.recipient] = refused.code
                        first = exc.recipients[0]
                        failure = failed(first.code, first.message)
                    except lib.SMTPResponseException as exc:
                        failure = failed(exc.code, exc.message)
                else:
                    try:
                        replies.append((await self._operation(client, op.kind, op.argument)).code)
                    except lib.SMTPResponseException as exc:  # aiosmtplib raises on 4xx/5xx
                        if exc.code == 421:
                            raise
                        replies.append(exc.code)
            # As aiosmtplib's own `async with SMTP()` does: an odd reply to QUIT, or none, once
            # the work is done is harmless (R-QUIT-1). Found by `smtp-harness fuzz`: calling
            # quit() bare made a 252 to QUIT look like a failed delivery.
            with contextlib.suppress(
                lib.SMTPServerDisconnected, lib.SMTPResponseException, lib.SMTPTimeoutError
            ):
                await client.quit()
        except lib.SMTPResponseException as exc:
            return failed(exc.code, exc.message)
        except (lib.SMTPException, OSError, TimeoutError, ValueError) as exc:
            return failed(None, f"{type(exc).__name__}: {exc}")
        finally:
            client.close()
        if failure is not None:
            return failure
        return ClientOutcome.success(task, recipients, replies)

    @staticmethod
    async def _operation(client: Any, kind: str, argument: str) -> Any:
        if kind == "vrfy":
            return await client.vrfy(argument)
        if kind == "expn":
            return await client.expn(argument)
        if kind == "noop":
            return await client.noop()
        if kind == "rset":
            return await client.rset()
        args = [argument.encode()] if argument else []
        return await client.execute_command(b"HELP", *args)
