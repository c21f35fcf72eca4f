"""The fixtures bring the server's diagnosis into the test (issue 13): a real pytest in a
subprocess, in a scratch directory, with the plugin loaded through its entry point."""

from __future__ import annotations

import re
import smtplib
import subprocess
import sys

import pytest
from test_pytest_plugin import TIMEOUT, _blocked_plugins  # tests/ is on sys.path

from fake_servers.controller import ServerController
from fake_servers.findings import NoClientError, ServerFindingError
from harness.errors import ScenarioError
from harness.scenario.loader import corpus_ids, load_scenario

INNER_INI = "[pytest]\nfilterwarnings =\n    error\n"

TESTS = """
import smtplib

import pytest


def send(server):
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.sendmail("x@example.com", ["y@example.com"], b"Subject: x\\r\\n\\r\\nhi\\r\\n")


def test_app_raises_first(smtp_server_factory):
    send(smtp_server_factory("auth.login"))         # a corpus scenario by id; no AUTH sent


def test_app_swallows_the_error(smtp_server_factory):
    server = smtp_server_factory("auth.login")
    try:
        send(server)
    except smtplib.SMTPException:
        pass                                       # the test body passes; the finding must not


def test_explicit(smtp_server_factory):
    server = smtp_server_factory("auth.login")
    with pytest.raises(smtplib.SMTPException):
        send(server)
    server.assert_followed()


def test_allowed(smtp_server_factory):
    server = smtp_server_factory("auth.login")
    server.allow_findings()
    with pytest.raises(smtplib.SMTPException):
        send(server)
    assert server.wait_session().failure is not None


def test_no_client(smtp_server_factory):
    smtp_server_factory("auth.login").wait_session(timeout=0.3)


def test_profile_finding(smtp_profile):
    server = smtp_profile("postfix", fail={"rcpt": {2: 550}})
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        refused = client.sendmail("a@example.com", ["b@x.org", "c@x.org"], b"Subject: x\\n\\nhi\\n")
    assert list(refused) == ["c@x.org"]


def test_profile_clean(smtp_profile):
    server = smtp_profile("postfix")
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.sendmail("a@example.com", ["b@x.org"], b"Subject: x\\r\\n\\r\\nhi\\r\\n")
    assert server.wait_message().message["Subject"] == "x"
"""


@pytest.fixture(scope="module")
def outcome(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """One inner run of TESTS; ``(result, {test name: its failure block})``."""
    where = tmp_path_factory.mktemp("diagnosis")
    (where / "tox.ini").write_text(INNER_INI)
    (where / "test_inner.py").write_text(TESTS)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *_blocked_plugins(), "-rA"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    parts = re.split(r"^_{3,} (\S+) _{3,}$", proc.stdout, flags=re.MULTILINE)
    blocks = dict(zip(parts[1::2], parts[2::2], strict=True))
    return proc, blocks


def test_the_finding_comes_first_when_the_app_raised(outcome) -> None:
    _proc, blocks = outcome
    block = blocks["test_app_raises_first"]
    finding = block.index("smtp-harness: the scripted server for auth.login on 127.0.0.1:")
    assert (
        finding < block.index("--- and the test itself raised:") < block.index("SMTPSenderRefused")
    )
    for line in (
        "session 1: unexpected command (scenario auth.login)",
        "  step:     scenarios/auth/login.yaml:26",
        "  expected: AUTH LOGIN",
        "  got:      mail FROM:<x@example.com>",
        "  rule:     RFC 4954 §4, draft-murchison-sasl-login-00, R-LOGIN-1, R-LOGIN-2, R-AUTH-3",
    ):
        assert line in block, block
    # the transcript is a section of the report, with the failing step marked
    assert "smtp-harness: auth.login on 127.0.0.1:" in block
    assert "-             C: AUTH LOGIN    <- expected (line 26)" in block


def test_a_test_that_passed_fails_with_the_finding(outcome) -> None:
    proc, blocks = outcome
    block = blocks["test_app_swallows_the_error"]
    assert "expected: AUTH LOGIN" in block
    assert "(the transcripts are in the sections below)" in block
    assert "FAILED test_inner.py::test_app_swallows_the_error" in proc.stdout


def test_assert_followed_raises_once(outcome) -> None:
    _proc, blocks = outcome
    block = blocks["test_explicit"]
    assert "ServerFindingError: smtp-harness: the scripted server for auth.login" in block
    assert "--- and the test itself raised:" not in block  # not reported twice


def test_allow_findings_and_a_clean_profile_pass(outcome) -> None:
    proc, _blocks = outcome
    assert "PASSED test_inner.py::test_allowed" in proc.stdout
    assert "PASSED test_inner.py::test_profile_clean" in proc.stdout


def test_wait_session_without_a_client_is_a_clear_error(outcome) -> None:
    _proc, blocks = outcome
    assert "NoClientError: no client connected to 127.0.0.1:" in blocks["test_no_client"]
    assert " within 0.3 s" in blocks["test_no_client"]


def test_a_profile_finding_fails_a_passing_test(outcome) -> None:
    proc, blocks = outcome
    block = blocks["test_profile_finding"]
    assert "smtp-harness: the postfix profile server on 127.0.0.1:" in block
    assert "rule:     R-LINE-1" in block
    assert "ended: the server closed the connection" in block  # Postfix answers 521 and closes
    assert proc.stdout.count(" failed") == 1 and "5 failed, 2 passed" in proc.stdout


# --- the same API from Python, without pytest ------------------------------------------------


def test_wait_session_raises_instead_of_returning_none() -> None:
    with ServerController(load_scenario(id="auth.login")) as server:
        with pytest.raises(NoClientError) as raised:
            server.wait_session(timeout=0.2)
        assert str(raised.value) == f"no client connected to 127.0.0.1:{server.port} within 0.2 s"
        with pytest.raises(NoClientError):
            server.assert_followed(timeout=0.2)


def test_assert_followed_from_python() -> None:
    with ServerController(load_scenario(id="auth.login")) as server:
        with (
            smtplib.SMTP(server.host, server.port, timeout=5) as client,
            pytest.raises(smtplib.SMTPException),
        ):
            client.sendmail("x@example.com", ["y@example.com"], b"Subject: x\r\n\r\nhi\r\n")
        with pytest.raises(ServerFindingError) as raised:
            server.assert_followed()
    assert raised.value.findings[0].expected == "AUTH LOGIN"
    assert "transcript (time, TLS, S=server C=client *=harness):" in str(raised.value)


def test_load_scenario_by_id() -> None:
    scenario = load_scenario(id="servers.163.data-554-dt-spm")
    assert scenario.id == "servers.163.data-554-dt-spm"
    assert len(corpus_ids()) > 200
    with pytest.raises(
        ScenarioError, match=r"no scenario with id 'auth.logn'.*did you mean auth\.login"
    ):
        load_scenario(id="auth.logn")
    with pytest.raises(TypeError):
        load_scenario("x.yaml", id="auth.login")
