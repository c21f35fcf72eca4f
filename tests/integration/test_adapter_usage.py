"""Adapters drive each client as its own documentation tells an application to (docs/clients.md),
and scenarios are no stricter than the RFC: each case here was once listed as the client's
deviation although the adapter or the scenario was at fault. Run without the deviation lists, so
a listed entry cannot hide a regression."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import Target, load_adapter
from harness.adapters.command import CommandAdapter, CommandConfig
from harness.corpus import corpus_path
from harness.errors import ScenarioError
from harness.outcome import ClientOutcome
from harness.protocol.data import to_crlf
from harness.report.text import format_failure
from harness.results import Verdict
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import Outcome, Scenario

from .conftest import CLOSE, READ, RawClient, run

# (client, scenario): each passes once the adapter drives the client as documented.
ARTEFACTS = [
    ("smtplib", "extensions/dsn-not-advertised.yaml"),  # DSN only when advertised
    ("smtplib", "extensions/dsn-xtext-envid-orcpt.yaml"),  # ENVID as xtext
    ("smtplib", "extensions/smtputf8-non-ascii-local-part.yaml"),  # send_message()'s options
    ("smtplib", "regressions/q11-late-421-on-idle-connection.yaml"),  # rset() returns the 421
    ("aiosmtplib", "extensions/dsn-not-advertised.yaml"),
    ("aiosmtplib", "extensions/dsn-xtext-envid-orcpt.yaml"),
    ("aiosmtplib", "ehlo/fallback-helo-no-dsn-params.yaml"),  # no DSN after the HELO fallback
    ("aiosmtplib", "extensions/smtputf8-non-ascii-local-part.yaml"),  # send_message()
    ("aiosmtplib", "extensions/8bitmime-declared-body.yaml"),  # BODY=8BITMIME
    ("aiosmtplib", "extensions/8bitmime-not-advertised.yaml"),  # 7-bit downgrade
    ("swaks", "data/dot-stuffing.yaml"),  # the message goes in with a closing dot
    ("swaks", "data/dot-last-line.yaml"),
    ("swaks", "transaction/trailing-empty-lines-kept.yaml"),
    ("swaks", "framing/close-after-end-of-data-250.yaml"),  # accepted, then exit 6
    ("swaks", "framing/quit-no-221-pode.yaml"),
    ("swaks", "regressions/fuzz-quit-416-after-delivery.yaml"),
    # Scenarios that were stricter than the spec:
    ("smtplib", "regressions/q17-login-initial-response-ignored.yaml"),  # [MS-XLOGIN] MAY
    ("aiosmtplib", "regressions/q17-login-initial-response-ignored.yaml"),
]


@pytest.mark.parametrize(("client", "name"), ARTEFACTS)
def test_the_client_driven_as_documented_passes(
    client: str, name: str, tls_material: TlsMaterial
) -> None:
    if shutil.which(client) is None and client == "swaks":
        if os.environ.get("CI"):
            pytest.fail("swaks is not installed (see the README)")
        pytest.skip("swaks is not installed")
    result = run(load_scenario(corpus_path() / name), load_adapter(client), tls_material)
    assert result.verdict is Verdict.PASS, format_failure(result)


# --- the command config: closing_dot and outcome.delivered_output -----------------------------

# A stand-in client: prints the message file it was given, then exits 6 as swaks does when the
# server closes after accepting the message.
_PRINTS_AND_EXITS_6 = """\
name: printer
program: sh
args: [-c, 'cat "$1"; exit 6', sh, "{message_file}"]
tls: {none: []}
"""


def _deliver(config_text: str, tmp_path: Path, message: bytes) -> ClientOutcome:
    path = tmp_path / "client.yaml"
    path.write_text(config_text)
    adapter = CommandAdapter.from_file(path)
    task = replace(load_scenario(corpus_path() / "basic/null-sender.yaml").client, message=message)
    tls = TlsMaterial.shared()
    target = Target(host="127.0.0.1", port=9, ca_file=tls.ca_path, ssl_context=tls.client_context())
    return asyncio.run(adapter.deliver(task, target))


def _exactly(text: bytes) -> str:
    """A delivered_output pattern (YAML single-quoted) that matches only this whole output."""
    body = text.decode().replace(".", "\\.").replace("\r", "\\r").replace("\n", "\\n")
    return f"'\\A{body}\\Z'"


@pytest.mark.parametrize(
    ("message", "handed_over"),
    [
        (b"a\r\n.\r\n", b"a\r\n.\r\n.\r\n"),  # the message's own last "." line is kept
        (b"a\r\n", b"a\r\n.\r\n"),
        (b"no line end", b"no line end\r\n.\r\n"),
    ],
)
def test_closing_dot_ends_the_message_with_a_dot_line(
    tmp_path: Path, message: bytes, handed_over: bytes
) -> None:
    shows = f"outcome: {{delivered_output: {_exactly(handed_over)}}}\n"
    with_dot = _deliver(_PRINTS_AND_EXITS_6 + "closing_dot: true\n" + shows, tmp_path, message)
    assert with_dot.outcome is Outcome.DELIVERED, with_dot.message
    without = _deliver(_PRINTS_AND_EXITS_6 + shows, tmp_path, message)
    assert without.outcome is Outcome.FAILED  # handed over unchanged


def test_delivered_output_turns_a_failed_exit_into_delivered_only_when_it_matches(
    tmp_path: Path,
) -> None:
    matching = _PRINTS_AND_EXITS_6 + "outcome: {delivered_output: '^queued\\r?$'}\n"
    outcome = _deliver(matching, tmp_path, b"queued\r\n")
    assert outcome.outcome is Outcome.DELIVERED
    assert "exit status 6" in outcome.message
    outcome = _deliver(matching, tmp_path, b"refused\r\n")
    assert outcome.outcome is Outcome.FAILED
    assert outcome.message.startswith("exit status 6: ")
    assert _deliver(_PRINTS_AND_EXITS_6, tmp_path, b"queued\r\n").outcome is Outcome.FAILED


def test_delivered_output_must_be_a_regex(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    path.write_text(_PRINTS_AND_EXITS_6 + "outcome:\n  delivered_output: '(unclosed'\n")
    with pytest.raises(ScenarioError) as info:
        CommandConfig.from_file(path)
    assert str(info.value).startswith(f"{path}:6: outcome.delivered_output: invalid regex: ")


def test_swaks_config_declares_both_rules() -> None:
    config = CommandConfig.from_file(
        Path(__file__).parents[2] / "harness/adapters/clients/swaks.yaml"
    )
    assert config.closing_dot
    assert config.delivered_output is not None


# --- scenarios no stricter than the RFC, with hand-written clients ----------------------------

_B64 = base64.b64encode


def _xoauth2_error_in_plain_text() -> Scenario:
    """auth.xoauth2-gmail-json-error without its implicit TLS, for a hand-written client."""
    path = corpus_path() / "auth/xoauth2-gmail-json-error.yaml"
    text = path.read_text(encoding="utf-8")
    assert "  tls: implicit\n" in text
    return parse_scenario(text.replace("  tls: implicit\n", ""), str(path))


def test_xoauth2_error_challenge_may_be_cancelled(tls_material: TlsMaterial) -> None:
    # RFC 4954 §4: a client may cancel any exchange with "*"; the server answers 501.
    scenario = _xoauth2_error_in_plain_text()
    creds = scenario.client.auth
    assert creds is not None
    ir = _B64(f"user={creds.username}\x01auth=Bearer {creds.token}\x01\x01".encode())
    client = RawClient(
        READ,
        b"EHLO c.example.com\r\n",
        READ,
        b"AUTH XOAUTH2 " + ir + b"\r\n",
        READ,
        b"*\r\n",
        READ,
        b"QUIT\r\n",
        READ,
        report=Outcome.FAILED,
    )
    result = run(scenario, client, tls_material)
    assert [r.code for r in client.replies][-2:] == [501, 221]
    # RawClient reports no code, which no RFC requires: graded info, not a failure.
    assert result.verdict in (Verdict.PASS, Verdict.INFO), format_failure(result)
    assert "without saying the reply code" in result.message


def test_xoauth2_error_challenge_answered_with_text_still_fails(tls_material: TlsMaterial) -> None:
    scenario = _xoauth2_error_in_plain_text()
    creds = scenario.client.auth
    assert creds is not None
    ir = _B64(f"user={creds.username}\x01auth=Bearer {creds.token}\x01\x01".encode())
    client = RawClient(
        READ, b"EHLO c\r\n", READ, b"AUTH XOAUTH2 " + ir + b"\r\n", READ, b"abc\r\n", READ
    )
    assert run(scenario, client, tls_material).verdict is Verdict.FAIL


def _login_client(*answers: bytes, report: Outcome) -> RawClient:
    steps: list[bytes | str] = [READ, b"EHLO c.example.com\r\n", READ]
    steps += [b"AUTH LOGIN " + _B64(b"alice@example.com") + b"\r\n", READ]
    for answer in answers:
        steps += [answer + b"\r\n", READ]
    return RawClient(*steps, b"QUIT\r\n", READ, report=report)


def test_q17_a_client_may_assume_the_login_order(tls_material: TlsMaterial) -> None:
    # [MS-XLOGIN] §3.1.5.1: having sent the username, the client MAY take the next 334 for the
    # password prompt; the server here took the password for the user name: 535, failed.
    scenario = load_scenario(corpus_path() / "regressions/q17-login-initial-response-ignored.yaml")
    password = _B64(b"s3cret-pass")
    client = _login_client(password, password, report=Outcome.FAILED)
    result = run(scenario, client, tls_material)
    assert [r.code for r in client.replies][-2:] == [535, 221]
    assert result.verdict is Verdict.PASS, format_failure(result)


def test_q17_an_empty_line_for_the_password_fails(tls_material: TlsMaterial) -> None:
    scenario = load_scenario(corpus_path() / "regressions/q17-login-initial-response-ignored.yaml")
    client = _login_client(_B64(b"s3cret-pass"), b"", report=Outcome.FAILED)
    assert run(scenario, client, tls_material).verdict is Verdict.FAIL


@pytest.mark.parametrize(
    ("envid", "verdict"),
    [
        ("order+3D42+2Bx+20y", Verdict.PASS),
        ("+6Frder+3D42+2Bx+20+79", Verdict.PASS),  # xchars may be hexchars too (RFC 3461 §4)
        ("order+3d42+2bx+20y", Verdict.FAIL),  # "two upper case hexadecimal digits"
        ("order=42+x", Verdict.FAIL),
    ],
)
def test_any_xtext_spelling_of_the_envelope_id(
    envid: str, verdict: Verdict, tls_material: TlsMaterial
) -> None:
    scenario = load_scenario(corpus_path() / "extensions/dsn-xtext-envid-orcpt.yaml")
    message = to_crlf(scenario.client.message)
    client = RawClient(
        READ,
        b"EHLO c.example.com\r\n",
        READ,
        f"MAIL FROM:<alice@example.org> ENVID={envid}\r\n".encode(),
        READ,
        b"RCPT TO:<bob+tag@example.com> NOTIFY=FAILURE ORCPT=rfc822;+62ob+2Btag@example.com\r\n",
        READ,
        b"DATA\r\n",
        READ,
        message + b".\r\n",
        READ,
        b"QUIT\r\n",
        READ,
    )
    result = run(scenario, client, tls_material)
    assert result.verdict is verdict, format_failure(result)


def test_closing_inside_data_after_354_is_non_strict(tls_material: TlsMaterial) -> None:
    # extensions.pipelining-one-rcpt-refused: no in-band abort exists after 354, and RFC 2920's
    # lone dot is a "should": a client that closes there is graded at its data step's level.
    scenario = load_scenario(corpus_path() / "extensions/pipelining-one-rcpt-refused.yaml")
    client = RawClient(
        READ,
        b"EHLO c.example.com\r\n",
        READ,
        b"MAIL FROM:<alice@example.org>\r\n",
        READ,
        b"RCPT TO:<bob@example.com>\r\n",
        READ,
        b"RCPT TO:<carol@example.net>\r\n",
        READ,
        b"DATA\r\n",
        READ,
        CLOSE,
        report=Outcome.FAILED,
    )
    result = run(scenario, client, tls_material)
    assert [r.code for r in client.replies][-1] == 354
    assert result.verdict is Verdict.NON_STRICT, format_failure(result)
