"""The example application (examples/mailer) and the diagnosis reaching its tests.

Each test copies the example into a scratch directory (outside the checkout), plants one bug in
its ``mailer.py`` and runs the example's own test suite with a real pytest in a subprocess, as
its developers would. The server's finding must appear in pytest's output for the test that
used the scripted scenario, whatever smtplib raised first; and the unchanged example must pass.
No network: every server is on 127.0.0.1.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_pytest_plugin import TIMEOUT, _blocked_plugins  # tests/ is on sys.path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mailer"
SCRIPTED_TEST = "test_follows_the_script"

# bug: (what the correct code says, the bug that replaces it, what the finding must say)
BUGS = {
    "no-starttls": (
        "        smtp.starttls(context=context)\n",
        "",
        ["expected: STARTTLS", "got:      QUIT", "send-with-copies.yaml:29"],
    ),
    "bare-lf": (
        "message.as_bytes(policy=policy.SMTP)",
        "message.as_bytes()",
        ["unexpected DATA content", "bare CR or LF", "rule:     RFC 5321 §2.3.8"],
    ),
    "wrong-password": (
        "smtp.login(settings.username, settings.password)",
        "smtp.login(settings.username, settings.username)",
        ["the AUTH answer does not match client.auth", "expected: AUTH PLAIN|LOGIN"],
    ),
    "leaked-bcc": (
        '        del message["Bcc"]  # the blind copies stay blind\n',
        "",
        ["expected no 'dave@example.com' anywhere in the data"],
    ),
    "untrusted-ca": (
        "ssl.create_default_context(cafile=settings.ca_file)",
        "ssl.create_default_context()",
        ["STARTTLS handshake failed", "UNKNOWN_CA", "expected: a TLS handshake"],
    ),
    "forgotten-recipient": (
        "recipients = [*to, *cc, *bcc]",
        "recipients = [*to, *bcc]",
        ["expected: RCPT TO:<carol@example.org>", "got:      data"],
    ),
}


def run_example(tmp_path: Path, bug: str | None = None) -> subprocess.CompletedProcess[str]:
    copy = tmp_path / "mailer"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    if bug is not None:
        source = copy / "mailer.py"
        correct, broken, _ = BUGS[bug]
        text = source.read_text(encoding="utf-8")
        assert text.count(correct) == 1, f"the example no longer has {correct!r} to break"
        source.write_text(text.replace(correct, broken), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *_blocked_plugins()],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def failure_block(output: str, test_name: str) -> str:
    """The part of pytest's output under ``____ test_name ____``."""
    parts = re.split(r"^_{3,} (\S+) _{3,}$", output, flags=re.MULTILINE)
    blocks = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert test_name in blocks, f"{test_name} did not fail:\n{output}"
    return blocks[test_name]


def test_the_example_passes_as_written(tmp_path: Path) -> None:
    result = run_example(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b5 passed\b", result.stdout), result.stdout


@pytest.mark.parametrize("bug", list(BUGS))
def test_a_planted_bug_shows_the_servers_finding(tmp_path: Path, bug: str) -> None:
    result = run_example(tmp_path, bug)
    assert result.returncode == 1, result.stdout + result.stderr
    block = failure_block(result.stdout, SCRIPTED_TEST)
    head = "smtp-harness: the scripted server for example.mailer.send-with-copies"
    assert head in block, block
    for words in BUGS[bug][2]:
        assert words in block, f"{words!r} not in the output for {SCRIPTED_TEST}:\n{block}"
    # the transcript is a section of the failing test's report
    assert "smtp-harness: example.mailer.send-with-copies on 127.0.0.1:" in block
    assert "transcript (time, TLS, S=server C=client *=harness):" in block


def test_a_bare_lf_also_fails_the_profile_test(tmp_path: Path) -> None:
    """The profile server, which takes any envelope, still checks the wire: the Gmail-profile
    test fails with the R-LINE-1 finding although Gmail accepts the message."""
    result = run_example(tmp_path, "bare-lf")
    block = failure_block(result.stdout, "test_sends_through_gmail")
    assert "the gmail profile server on 127.0.0.1:" in block
    assert "rule:     R-LINE-1" in block
    assert "got:      a bare LF at octet" in block
