"""``smtp-harness import``: transcripts made by the real programs in this run, against a real
aiosmtpd upstream, become scenarios that load, hold no secret, and pass when replayed against
the same client."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from fake_servers.tls import TlsMaterial
from harness.adapters.base import load_adapter
from harness.errors import ScenarioError
from harness.importers.formats import detect_format
from harness.report.text import format_failure
from harness.results import Verdict
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario
from harness.subcommands.importing import import_transcript, scenario_text

from . import clients
from .upstream import PASSWORD, TOKEN, USER, Upstream

SECRETS = (PASSWORD, TOKEN)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        for form in (secret, f"\0{USER}\0{secret}", f"user={USER}\x01auth=Bearer {secret}\x01\x01"):
            assert base64.b64encode(form.encode()).decode() not in text


def import_and_replay(
    transcript: str, tmp: Path, client: str, tls: TlsMaterial, fmt: str, **options: object
) -> str:
    path = tmp / f"{client}.txt"
    path.write_text(transcript, encoding="utf-8")
    assert detect_format(transcript, str(path)) == fmt
    text = scenario_text(import_transcript(path, **options))  # type: ignore[arg-type]
    assert_no_secret(text)
    out = tmp / f"{client}.yaml"
    out.write_text(text, encoding="utf-8")
    scenario = load_scenario(out)
    result = asyncio.run(run_scenario(scenario, load_adapter(client), tls=tls))
    assert result.verdict is Verdict.PASS, format_failure(result)
    return text


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_debug_output(
    level: int, mechanism: str, server: Upstream, tmp_path: Path, tls: TlsMaterial
) -> None:
    out = clients.smtplib_session(
        server.host,
        server.port,
        server.ca_file,
        level=level,
        mechanism=mechanism,
        user=USER,
        secret=PASSWORD,
    )
    text = import_and_replay(out, tmp_path, "smtplib", tls, "smtplib")
    assert f"mechanism: {mechanism}" in text or f"auth: {mechanism}" in text
    assert "expect: {outcome: delivered}" in text
    assert "quarterly figures" in text


def test_smtplib_refused_recipient_expects_the_code(
    server: Upstream, tmp_path: Path, tls: TlsMaterial
) -> None:
    out = clients.smtplib_session(
        server.host, server.port, server.ca_file, mechanism="", rcpt="nobody@example.com"
    )
    text = import_and_replay(out, tmp_path, "smtplib", tls, "smtplib")
    assert "expect: {outcome: failed, code: 550}" in text


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN", "CRAM-MD5"])
def test_swaks_transcript_with_tls_markers(
    mechanism: str, server: Upstream, tmp_path: Path, tls: TlsMaterial
) -> None:
    out = clients.swaks_session(
        server.host, server.port, server.ca_file, mechanism=mechanism, user=USER, secret=PASSWORD
    )
    assert " ~> " in out  # the TLS markers are there to be read
    text = import_and_replay(out, tmp_path, "swaks", tls, "swaks")
    assert "tls: start" in text and "tls: starttls" in text


def test_curl_verbose_output(server: Upstream, tmp_path: Path, tls: TlsMaterial) -> None:
    out = clients.curl_session(server.host, server.port, server.ca_file, user=USER, secret=PASSWORD)
    text = import_and_replay(out, tmp_path, "curl", tls, "curl")
    assert "compare: any" in text  # curl -v does not show the message


def test_curl_xoauth2_token_replaced(server: Upstream, tmp_path: Path, tls: TlsMaterial) -> None:
    out = clients.curl_session(
        server.host, server.port, server.ca_file, user=USER, token=TOKEN, mechanism="XOAUTH2"
    )
    text = import_and_replay(out, tmp_path, "curl", tls, "curl")
    assert "token: token-" in text


def test_msmtp_debug_output(server: Upstream, tmp_path: Path, tls: TlsMaterial) -> None:
    out = clients.msmtp_session(
        server.host, server.port, server.ca_file, tmp_path, user=USER, secret=PASSWORD
    )
    import_and_replay(out, tmp_path, "msmtp", tls, "msmtp")


def test_redact_message_replaces_addresses_and_body(
    server: Upstream, tmp_path: Path, tls: TlsMaterial
) -> None:
    out = clients.swaks_session(
        server.host, server.port, server.ca_file, mechanism="PLAIN", user=USER, secret=PASSWORD
    )
    text = import_and_replay(out, tmp_path, "swaks", tls, "swaks", redact_message=True)
    for private in (
        "alice@example.com",
        "bob@example.com",
        "Hello Bob",
        "figures are attached",
        "quarterly",
    ):
        assert private not in text
    assert "MAIL FROM:<user1@example.com>" in text and "RCPT TO:<user2@example.com>" in text
    assert "\n    .line 2\n" in text  # a line that started with a dot still does


def test_unreadable_line_is_named(server: Upstream, tmp_path: Path) -> None:
    out = clients.swaks_session(
        server.host, server.port, server.ca_file, mechanism="", user=USER, secret=PASSWORD
    )
    lines = out.splitlines()
    lines.insert(5, "this line is not swaks output")
    path = tmp_path / "broken.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        import_transcript(path)
    assert str(caught.value) == (
        f"{path}:6: cannot read this line as part of a swaks transcript: "
        "'this line is not swaks output'"
    )


def test_unknown_format_asks_for_format(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="cannot tell the transcript's format"):
        import_transcript(path)


def test_format_option_overrides_the_guess(server: Upstream, tmp_path: Path) -> None:
    out = clients.smtplib_session(server.host, server.port, server.ca_file, mechanism="")
    path = tmp_path / "smtplib.txt"
    path.write_text(out, encoding="utf-8")
    with pytest.raises(
        ScenarioError, match=r"smtplib.txt:1: cannot read this line as part of a swaks"
    ):
        import_transcript(path, format="swaks")
