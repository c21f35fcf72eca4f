"""Credentials never reach a report unless asked (issue 12 item 6): the AUTH dialogue in
transcripts, passwords and tokens in failure messages, in every report format, in ``serve``'s live
output and in the pytest fixtures' findings; ``--show-secrets`` shows them."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_servers.controller import ServerController
from fake_servers.tls import TlsMaterial
from harness.adapters.base import Target
from harness.adapters.reference import ReferenceAdapter
from harness.outcome import ClientOutcome
from harness.redaction import HIDDEN, redact_transcript
from harness.report.html import format_run_report
from harness.report.json_report import build_report
from harness.report.junit import format_junit
from harness.report.text import format_failure
from harness.results import Result, Verdict
from harness.runner import run_scenario
from harness.scenario.loader import parse_scenario
from harness.scenario.model import ClientTask
from harness.transcript import Direction, Transcript

TASK_PASSWORD = "task-pass-7Qx"
SENT_PASSWORD = "wrong-pass-9Zk"  # what the client sends: both must stay hidden
LOGIN = f"""
version: 1
id: test.login-secret
limits: {{total: 5, read: 2}}
expect: {{outcome: delivered}}
client:
  mail_from: a@example.com
  rcpt_to: [b@example.com]
  auth: {{username: alice, password: "{TASK_PASSWORD}", mechanisms: [LOGIN]}}
exchange:
  - server: "220 ready"
  - client: "EHLO {{domain}}"
  - server: ["250-x", "250 AUTH LOGIN"]
  - auth: LOGIN
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 ok"
  - client: DATA
  - server: "354 go"
  - client: {{data: message}}
  - server: "250 queued"
  - client: {{match: QUIT, optional: true}}
  - server: "221 bye"
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forbidden() -> list[str]:
    return [TASK_PASSWORD, SENT_PASSWORD, b64(SENT_PASSWORD), b64(TASK_PASSWORD)]


class WrongPassword(ReferenceAdapter):
    """The reference client, given the task's username but another password."""

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        assert task.auth is not None
        wrong = dataclasses.replace(task.auth, password=SENT_PASSWORD)
        return await super().deliver(dataclasses.replace(task, auth=wrong), target)


def wrong_password_result(tls: TlsMaterial, *, show_secrets: bool) -> Result:
    scenario = parse_scenario(LOGIN, "login-secret.yaml")
    return asyncio.run(run_scenario(scenario, WrongPassword(), tls=tls, show_secrets=show_secrets))


def every_report(result: Result) -> str:
    return "\n".join(
        [
            format_failure(result),
            json.dumps(build_report([result], client="reference")),
            format_run_report([result], client="reference", all_ladders=True),
            format_junit({"reference": [result]}),
        ]
    )


def test_a_wrong_password_fails_without_either_password_in_any_report(
    tls_material: TlsMaterial,
) -> None:
    result = wrong_password_result(tls_material, show_secrets=False)
    assert result.verdict is Verdict.FAIL, format_failure(result)
    text = every_report(result)
    for secret in forbidden():
        assert secret not in text, secret
    assert result.failure is not None and f"password={HIDDEN}" in result.failure.actual
    assert "AUTH LOGIN" in format_failure(result)  # the dialogue stays readable
    assert "alice" in result.failure.actual  # who logged in is diagnosis, not a secret


def test_show_secrets_shows_them(tls_material: TlsMaterial) -> None:
    result = wrong_password_result(tls_material, show_secrets=True)
    text = every_report(result)
    assert SENT_PASSWORD in text and TASK_PASSWORD in text
    assert b64(SENT_PASSWORD) in text


AUTH_SESSIONS = [
    # (server line before, client bytes): PLAIN initial response, LOGIN answers, XOAUTH2, CRAM-MD5
    [(b"250 AUTH PLAIN\r\n", b"AUTH PLAIN " + b64("\0alice\0s3cr3t-A").encode() + b"\r\n")],
    [
        (b"250 AUTH LOGIN\r\n", b"AUTH LOGIN\r\n"),
        (b"334 VXNlcm5hbWU6\r\n", b64("alice").encode() + b"\r\n"),
        (b"334 UGFzc3dvcmQ6\r\n", b64("s3cr3t-B").encode() + b"\r\n"),
    ],
    [
        (b"250 AUTH XOAUTH2\r\n", b"AUTH XOAUTH2\r\n"),
        (b"334 \r\n", b64("user=alice\x01auth=Bearer ya29.s3cr3t-C\x01\x01").encode() + b"\r\n"),
    ],
    [
        (b"250 AUTH CRAM-MD5\r\n", b"AUTH CRAM-MD5\r\n"),
        (b"334 PDEyMzQ1QGV4YW1wbGU+\r\n", b64("alice 0123456789abcdefs3cr3t-D").encode() + b"\r\n"),
    ],
]


@settings(max_examples=150, deadline=None)
@given(session=st.sampled_from(AUTH_SESSIONS), cuts=st.lists(st.integers(1, 60), max_size=8))
def test_a_secret_is_hidden_however_the_client_splits_its_writes(
    session: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    """The client's bytes cut into pieces anywhere (even inside "AUTH" or the secret): the
    redacted stream is the same as for whole lines, and holds no secret byte sequence."""

    def transcript(split: bool) -> Transcript:
        t = Transcript()
        for server, client in session:
            t.add(Direction.SERVER, server, tls=False)
            pieces = [client]
            if split:
                pieces, rest = [], client
                for n in cuts:
                    if not rest:
                        break
                    pieces.append(rest[:n])
                    rest = rest[n:]
                if rest:
                    pieces.append(rest)
            for piece in pieces:
                t.add(Direction.CLIENT, piece, tls=False)
        t.add(Direction.CLIENT, b"MAIL FROM:<a@example.com>\r\n", tls=False)
        return t

    whole, secrets = redact_transcript(transcript(split=False))
    cut, _ = redact_transcript(transcript(split=True))
    shown = whole.sent_by(Direction.CLIENT)
    assert cut.sent_by(Direction.CLIENT) == shown
    assert b"MAIL FROM:<a@example.com>\r\n" in shown
    assert b"s3cr3t" not in shown and HIDDEN.encode() in shown
    for _, client in session:
        for word in client.split()[2:] if client.startswith(b"AUTH") else [client.strip()]:
            assert word not in shown
    assert any("s3cr3t" in s for s in secrets)


def test_the_cancel_line_and_the_commands_stay_visible() -> None:
    t = Transcript()
    t.add(Direction.SERVER, b"250 AUTH LOGIN\r\n", tls=False)
    t.add(Direction.CLIENT, b"AUTH LOGIN\r\n", tls=False)
    t.add(Direction.SERVER, b"334 VXNlcm5hbWU6\r\n", tls=False)
    t.add(Direction.CLIENT, b"*\r\n", tls=False)
    t.add(Direction.SERVER, b"501 cancelled\r\n", tls=False)
    t.add(Direction.CLIENT, b"QUIT\r\n", tls=False)
    shown, _ = redact_transcript(t)
    assert shown.sent_by(Direction.CLIENT) == b"AUTH LOGIN\r\n*\r\nQUIT\r\n"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from harness.cli import main; raise SystemExit(main())"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)


def test_run_reports_hide_the_login_unless_show_secrets(tmp_path: Path) -> None:
    """``smtp-harness run`` of the corpus LOGIN scenario: the password's base64 (what the
    reference client sends) is in no report; with --show-secrets the JSON has it."""
    password = b64("correct horse battery staple")
    for flag, present in (([], False), (["--show-secrets"], True)):
        out = tmp_path / f"r{len(flag)}"
        done = run_cli(
            "run",
            "-k",
            "auth.login",
            "--report-json",
            f"{out}.json",
            "--html",
            f"{out}.html",
            "--html-all",
            *flag,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = Path(f"{out}.json").read_text() + Path(f"{out}.html").read_text()
        assert (password in report) is present


def test_serve_hides_the_login_in_its_live_transcript(tmp_path: Path) -> None:
    scenario = tmp_path / "login.yaml"
    scenario.write_text(LOGIN)
    command = [sys.executable, "-c", "from harness.cli import main; raise SystemExit(main())"]
    proc = subprocess.Popen(
        [*command, "serve", str(scenario), "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "serving" in line:
                port = int(line.split("127.0.0.1:")[1].split()[0])
                break
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("c.example")
            with pytest.raises(smtplib.SMTPException):
                client.login("alice", SENT_PASSWORD)
        out = proc.communicate(timeout=30)[0]
    finally:
        proc.kill()
        proc.wait()
    assert "AUTH" in out and HIDDEN in out, out
    # The guide tells the person the task's password (they need it); what the client sent is hidden.
    for secret in (SENT_PASSWORD, b64(SENT_PASSWORD)):
        assert secret not in out, out


def test_the_fixture_finding_hides_both_passwords(tls_material: TlsMaterial) -> None:
    scenario = parse_scenario(LOGIN, "login-secret.yaml")
    for show in (False, True):
        with ServerController(scenario, tls=tls_material, show_secrets=show) as server:
            with smtplib.SMTP(server.host, server.port, timeout=10) as client:
                client.ehlo("c.example")
                with pytest.raises(smtplib.SMTPException):
                    client.login("alice", SENT_PASSWORD)
            with pytest.raises(AssertionError) as raised:
                server.assert_followed()
        text = str(raised.value) + "".join(body for _, body in server.report_sections())
        assert (SENT_PASSWORD in text) is show, text
        assert (b64(SENT_PASSWORD) in text) is show, text


_WRITES = st.sampled_from(
    [
        (Direction.SERVER, b"220 ready\r\n"),
        (Direction.SERVER, b"334 VXNlcm5hbWU6\r\n"),
        (Direction.SERVER, b"250 ok\r\n"),
        (Direction.CLIENT, b"EHLO x\r\n"),
        (Direction.CLIENT, b"auth plain AGFsaWNlAHMzY3JldA==\r\n"),
        (Direction.CLIENT, b"YWxpY2U=\r\n"),
        (Direction.CLIENT, b"MAIL FROM:<a@example.com> s3cret-token\r\n"),
        (Direction.NOTE, b"FAILED: expected password='s3cret', got 'x'"),
        (Direction.NOTE, b"the client sent s3cret-token"),
        (Direction.NOTE, b"client closed its side"),
    ]
)


@given(writes=st.lists(_WRITES, max_size=8), known=st.sampled_from([(), ("s3cret-token",)]))
def test_the_shortcut_for_sessions_without_secrets_hides_what_the_redactor_hides(
    writes: list[tuple[Direction, bytes]], known: tuple[str, ...]
) -> None:
    """``redact_transcript`` skips the Redactor when nothing can be secret; the result must be
    what the Redactor gives, whatever mix of AUTH, 334, known secrets and quoted passwords."""
    from harness.redaction import Redactor

    transcript = Transcript()
    for direction, data in writes:
        transcript.add(direction, data, tls=False)
    redactor = Redactor(known)
    slow = [redactor.feed(e.direction, e.data) for e in transcript.entries]
    slow = [d for d, e in zip(slow, transcript.entries, strict=True) if d or not e.data]
    fast, _secrets = redact_transcript(transcript, known)
    assert [e.data for e in fast.entries] == slow
