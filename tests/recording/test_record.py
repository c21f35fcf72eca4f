"""``smtp-harness record``: real clients (smtplib, swaks) talk through the proxy to a real
aiosmtpd upstream with STARTTLS and AUTH; the written scenario loads, holds no secret, and passes
when replayed against the same client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fake_servers.controller import ServerController
from fake_servers.tls import TlsMaterial
from harness.adapters.base import load_adapter
from harness.record.proxy import RecordingError, RecordingProxy
from harness.report.text import format_failure
from harness.results import Verdict
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario, parse_scenario
from harness.scenario.model import Send
from harness.subcommands.importing import scenario_text
from harness.subcommands.record import record_session

from . import clients
from .test_import import assert_no_secret
from .upstream import PASSWORD, USER, Upstream


def record(
    target: tuple[str, int],
    ca: str | None,
    tls: TlsMaterial,
    client: Callable[[int], object],
    **options: bool,
) -> str:
    """Run ``client(port)`` in a thread against a proxy to ``target``; the written scenario."""

    async def main() -> str:
        proxy = RecordingProxy(upstream=target, tls=tls, upstream_ca=ca, timeout=20)
        port = await proxy.start()
        sent = asyncio.get_running_loop().run_in_executor(None, client, port)
        scenario = await record_session(proxy, scenario_id="recorded.test", **options)
        await sent
        return scenario_text(scenario)

    return asyncio.run(main())


def replay(text: str, client: str, tls: TlsMaterial, tmp: Path) -> None:
    path = tmp / "recorded.yaml"
    path.write_text(text, encoding="utf-8")
    result = asyncio.run(run_scenario(load_scenario(path), load_adapter(client), tls=tls))
    assert result.verdict is Verdict.PASS, format_failure(result)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_session_recorded_and_replayed(
    mechanism: str, server: Upstream, tls: TlsMaterial, tmp_path: Path
) -> None:
    before = len(server.messages)
    text = record(
        (server.host, server.port),
        server.ca_file,
        tls,
        lambda port: clients.smtplib_session(
            server.host, port, tls.ca_path, mechanism=mechanism, user=USER, secret=PASSWORD
        ),
    )
    assert len(server.messages) == before + 1  # the upstream really got the message
    assert_no_secret(text)
    assert "tls: start" in text
    assert f"mechanism: {mechanism}" in text or f"auth: {mechanism}" in text
    assert "Subject: quarterly figures" in text and "expect: {outcome: delivered}" in text
    replay(text, "smtplib", tls, tmp_path)


def test_refused_recipient_is_the_expected_failure(
    server: Upstream, tls: TlsMaterial, tmp_path: Path
) -> None:
    text = record(
        (server.host, server.port),
        server.ca_file,
        tls,
        lambda port: clients.smtplib_session(
            server.host, port, tls.ca_path, mechanism="", rcpt="nobody@example.com"
        ),
    )
    assert "expect: {outcome: failed, code: 550}" in text
    replay(text, "smtplib", tls, tmp_path)


def test_redact_message(server: Upstream, tls: TlsMaterial, tmp_path: Path) -> None:
    text = record(
        (server.host, server.port),
        server.ca_file,
        tls,
        lambda port: clients.smtplib_session(
            server.host, port, tls.ca_path, mechanism="LOGIN", user=USER, secret=PASSWORD
        ),
        redact_message=True,
    )
    for private in ("alice@example.com", "bob@example.com", "Hello Bob", "quarterly"):
        assert private not in text
    replay(text, "smtplib", tls, tmp_path)


def test_split_writes_kept_when_asked(tls: TlsMaterial, tmp_path: Path) -> None:
    """The upstream here is the scripted server itself, writing its EHLO reply in pieces."""
    script = parse_scenario(
        """version: 1
id: upstream.split
client: {mail_from: alice@example.com, rcpt_to: [bob@example.com], message: "Subject: s\\n\\nbody\\n"}
expect: {outcome: delivered}
exchange:
  - server: "220 split.test ESMTP"
  - client: "EHLO {domain}"
  - server: {lines: ["250-split.test", "250 8BITMIME"], split: [5, 16], pause: 0.2}
  - client: "MAIL FROM:<alice@example.com>"
  - server: "250 OK"
  - client: "RCPT TO:<bob@example.com>"
  - server: "250 OK"
  - client: DATA
  - server: "354 go"
  - client: {data: message, compare: any}
  - server: "250 queued"
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""
    )
    with ServerController(script, tls=tls) as up:
        text = record(
            (up.host, up.port),
            None,
            tls,
            lambda port: clients.smtplib_session(
                up.host, port, tls.ca_path, tls="none", mechanism=""
            ),
            keep_timing=True,
        )
    sends = [s for s in parse_scenario(text).exchange if isinstance(s, Send)]
    ehlo = next(s for s in sends if s.data.startswith(b"250-split"))
    assert ehlo.split == (5, 16) and ehlo.pause >= 0.15
    replay(text, "smtplib", tls, tmp_path)


def test_upstream_certificate_is_verified(server: Upstream, tls: TlsMaterial) -> None:
    """Without the upstream's CA the proxy refuses the server's certificate and says so."""

    def client(port: int) -> None:
        with pytest.raises(AssertionError):  # the client sees the connection drop
            clients.smtplib_session(server.host, port, tls.ca_path, mechanism="")

    with pytest.raises(RecordingError, match="TLS with the upstream failed"):
        record((server.host, server.port), tls.ca_path, tls, client)


def test_cli_records_a_swaks_session(server: Upstream, tls: TlsMaterial, tmp_path: Path) -> None:
    clients.need("swaks")
    out = tmp_path / "swaks.yaml"
    recorder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "record",
            "--upstream",
            f"{server.host}:{server.port}",
            "--upstream-ca",
            server.ca_file,
            "-o",
            str(out),
            "--id",
            "recorded.swaks",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert recorder.stderr is not None
        banner = recorder.stderr.readline()
        port = int(banner.split("127.0.0.1:")[1].split(" ")[0])
        ca = banner.split("must trust ")[1].split(")")[0]
        clients.swaks_session(server.host, port, ca, mechanism="LOGIN", user=USER, secret=PASSWORD)
        assert recorder.wait(timeout=30) == 0, recorder.stderr.read()
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
        if recorder.stderr is not None:
            recorder.stderr.close()
    text = out.read_text(encoding="utf-8")
    assert_no_secret(text)
    assert "auth: {mechanism: LOGIN" in text
    replay(text, "swaks", tls, tmp_path)
