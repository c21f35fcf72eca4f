"""The pytest plugin (``harness.pytest_plugin``), exercised the way users meet it: a real pytest
in a subprocess, in a scratch directory, with the plugin loaded through the installed
``pytest11`` entry point.

Every inner run gets an ini file (``tox.ini``) with ``filterwarnings = error``, as this project
has, so a socket the plugin or a fixture leaks fails the inner run. ``xfail_strict`` is
deliberately *not* set there: the plugin must make known deviations strict on its own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from scenario_texts import wants_noop  # tests/ is on sys.path (rootdir conftest)

from harness.corpus import corpus_path
from harness.deviations import deviations_for

pytest_plugins = ["pytester"]

CORPUS = corpus_path()
LOGIN = CORPUS / "auth" / "login.yaml"
CRAM_NOT_B64 = CORPUS / "auth" / "cram-md5-challenge-not-base64.yaml"  # a smtplib deviation
STARTTLS = CORPUS / "starttls" / "reehlo-auth-after-tls.yaml"
XDIST_FILES = (
    "auth/login.yaml",
    "basic/null-sender.yaml",
    "data/dot-stuffing.yaml",
    "auth/cram-md5-challenge-not-base64.yaml",
    "errors/mail-553.yaml",
)

WANTS_NOOP = wants_noop("plugin.expects-noop")

BROKEN = """\
version: 1
id: plugin.broken
client: {}
expect: {outcome: sent}
exchange: [{server: "220 x"}]
"""

INNER_INI = """\
[pytest]
filterwarnings =
    error
"""

TIMEOUT = 120  # seconds for one inner pytest run; a hung server must not hang the suite


def _blocked_plugins() -> list[str]:
    """Plugins the inner runs do without, each only if it is installed (tox has no benchmark).

    pytest-benchmark breaks under xdist; Hypothesis' pytest plugin costs about a second of start-up
    per inner run and no inner test uses it.
    """
    blocked = []
    for module, plugin in (("pytest_benchmark", "benchmark"), ("hypothesis", "hypothesispytest")):
        if importlib.util.find_spec(module) is not None:
            blocked += ["-p", f"no:{plugin}"]
    return blocked


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", *_blocked_plugins(), *args, timeout=TIMEOUT
    )


@pytest.fixture
def scratch(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    return pytester


def copy_in(pytester: pytest.Pytester, source: Path, name: str | None = None) -> Path:
    target = pytester.path / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def write(pytester: pytest.Pytester, name: str, text: str) -> Path:
    path = pytester.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def deviations_file(pytester: pytest.Pytester, client: str, *scenario_ids: str) -> Path:
    entries = "".join(
        f"  - scenario: {sid}\n"
        f"    rule: R-TEST-{i}\n"
        f"    reason: listed by the test as deviation {i}\n"
        "    trigger: the test says so\n"
        for i, sid in enumerate(scenario_ids, 1)
    )
    return write(pytester, f"{client}-deviations.yaml", f"client: {client}\ndeviations:\n{entries}")


def verbose_outcomes(result: pytest.RunResult, client: str) -> dict[str, str]:
    """``{scenario id: PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR|INFO|...}`` from a ``-v`` run, with or
    without xdist (``path::id[client] PASSED`` / ``[gw0] [ 50%] PASSED path::id[client]``)."""
    words = "PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR|NON-STRICT|INFO|NOT-EXERCISED"
    item = rf"::(?P<id>[\w.\-]+)\[{re.escape(client)}\]"
    patterns = [
        re.compile(rf"^\S+{item} (?P<word>{words})\b"),
        re.compile(rf"^\[gw\d+\] \[ *\d+%\] (?P<word>{words}) \S+{item}"),
    ]
    found: dict[str, str] = {}
    for line in result.outlines:
        for pattern in patterns:
            m = pattern.search(line)
            if m:
                assert m["id"] not in found, f"{m['id']} reported twice"
                found[m["id"]] = m["word"]
    return found


# --- inert without --smtp-client --------------------------------------------------------------


def test_inert_without_smtp_client(scratch: pytest.Pytester) -> None:
    copy_in(scratch, LOGIN)
    write(scratch, "bad.yaml", BROKEN)  # would be a collection error if it were read at all
    scratch.makepyfile(
        test_plain="""
        import sys

        def test_plain():
            # inert: nothing that starts servers was imported
            for name in ("fake_servers", "harness.runner", "harness.adapters.base", "trustme"):
                assert name not in sys.modules, name
        """
    )
    result = run(scratch, "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "collected 1 item" in out
    assert "login.yaml" not in out
    assert "bad.yaml" not in out
    # the plugin was loaded (and stayed quiet), not simply absent
    assert any(
        line.startswith("plugins:") and "smtp-harness" in line for line in result.outlines
    ), out


def test_passing_corpus_file(scratch: pytest.Pytester) -> None:
    copy_in(scratch, LOGIN)
    result = run(scratch, "--smtp-client=reference", "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1)
    assert verbose_outcomes(result, "reference") == {"auth.login": "PASSED"}


def test_two_clients_give_two_items(scratch: pytest.Pytester) -> None:
    copy_in(scratch, LOGIN)
    result = run(scratch, "--smtp-client=reference", "--smtp-client=smtplib", "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2)
    items = [line.split()[0] for line in result.outlines if line.startswith("login.yaml::")]
    assert items == ["login.yaml::auth.login[reference]", "login.yaml::auth.login[smtplib]"]
    assert verbose_outcomes(result, "reference") == {"auth.login": "PASSED"}
    assert verbose_outcomes(result, "smtplib") == {"auth.login": "PASSED"}


@pytest.mark.parametrize("tb", [None, "native"])
def test_failing_scenario_shows_the_transcript_diff(
    scratch: pytest.Pytester, tb: str | None
) -> None:
    path = write(scratch, "wants-noop.yaml", WANTS_NOOP)
    result = run(scratch, "--smtp-client=reference", *([f"--tb={tb}"] if tb else []))
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    result.assert_outcomes(failed=1)
    # the item's title comes from reportinfo: the scenario and the client
    assert re.search(r"_ plugin\.expects-noop against reference _", out), out
    assert "=== plugin.expects-noop [reference]: fail (a MUST broken)" in result.outlines
    assert f"    step: {path.name}:18" in result.outlines  # relative to the working directory
    assert any(
        line.startswith("    - ") and line.endswith("C: NOOP    <- expected (line 18)")
        for line in result.outlines
    ), out
    assert any(
        line.startswith("    + ") and line.endswith("C: MAIL FROM:<alice@example.com>")
        for line in result.outlines
    ), out
    # a verdict, not a crash: no Python traceback, no frames from the plugin
    assert "Traceback" not in out
    assert "raise ScenarioFailed" not in out
    assert "pytest_plugin.py" not in out


def test_broken_scenario_is_a_collection_error(scratch: pytest.Pytester) -> None:
    copy_in(scratch, LOGIN)
    bad = write(scratch, "sub/bad.yaml", BROKEN)
    result = run(scratch, "--smtp-client=reference")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, out
    result.assert_outcomes(errors=1)
    assert "ERROR collecting sub/bad.yaml" in out
    assert f"{bad}:4: expect.outcome: 'sent' is not one of: delivered, failed, completed" in out, (
        out
    )


# --- known deviations ------------------------------------------------------------------------


def test_listed_failing_scenario_is_xfailed(scratch: pytest.Pytester) -> None:
    write(scratch, "wants-noop.yaml", WANTS_NOOP)
    dev = deviations_file(scratch, "reference", "plugin.expects-noop")
    result = run(scratch, "--smtp-client=reference", f"--smtp-deviations={dev}", "-rx")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    result.assert_outcomes(xfailed=1)
    assert (
        "XFAIL wants-noop.yaml::plugin.expects-noop[reference] - known deviation (R-TEST-1): "
        "listed by the test as deviation 1; triggered by: the test says so"
    ) in result.outlines, out


def test_unlisted_failing_scenario_still_fails_with_a_deviations_file(
    scratch: pytest.Pytester,
) -> None:
    write(scratch, "wants-noop.yaml", WANTS_NOOP)
    dev = deviations_file(scratch, "reference", "some.other-scenario")
    result = run(scratch, "--smtp-client=reference", f"--smtp-deviations={dev}")
    result.assert_outcomes(failed=1)


def test_listed_passing_scenario_is_a_strict_xpass(scratch: pytest.Pytester) -> None:
    copy_in(scratch, LOGIN)
    dev = deviations_file(scratch, "reference", "auth.login")
    result = run(scratch, "--smtp-client=reference", f"--smtp-deviations={dev}")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    result.assert_outcomes(failed=1)
    assert "[XPASS(strict)] known deviation (R-TEST-1)" in out


def test_builtin_deviation_applies_without_a_file(scratch: pytest.Pytester) -> None:
    copy_in(scratch, CRAM_NOT_B64)
    assert "auth.cram-md5-challenge-not-base64" in deviations_for("smtplib")
    result = run(scratch, "--smtp-client=smtplib", "--smtp-client=reference", "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1, xfailed=1)
    assert verbose_outcomes(result, "smtplib") == {"auth.cram-md5-challenge-not-base64": "XFAIL"}
    assert verbose_outcomes(result, "reference") == {"auth.cram-md5-challenge-not-base64": "PASSED"}


def test_deviations_file_applies_only_to_its_client_in_a_matrix(
    scratch: pytest.Pytester,
) -> None:
    write(scratch, "wants-noop.yaml", WANTS_NOOP)
    dev = deviations_file(scratch, "reference", "plugin.expects-noop")
    result = run(
        scratch,
        "--smtp-client=reference",
        "--smtp-client=smtplib",
        f"--smtp-deviations={dev}",
        "-v",
    )
    result.assert_outcomes(xfailed=1, failed=1)
    assert verbose_outcomes(result, "reference") == {"plugin.expects-noop": "XFAIL"}
    assert verbose_outcomes(result, "smtplib") == {"plugin.expects-noop": "FAILED"}


GHOST_CLIENT = """\
name: ghost
program: no-such-smtp-client-for-the-harness-tests
args: [--server, "{host}:{port}"]
tls:
  none: []
auth:
  any: [--user, "{username}"]
outcome:
  delivered: [0]
"""


def test_error_verdict_is_not_hidden_by_a_deviation(scratch: pytest.Pytester) -> None:
    copy_in(scratch, LOGIN)
    client = write(scratch, "ghost.yaml", GHOST_CLIENT)  # a command client that is not installed
    dev = deviations_file(scratch, "ghost", "auth.login")
    result = run(scratch, f"--smtp-client={client}", f"--smtp-deviations={dev}", "login.yaml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.parseoutcomes().get("xfailed", 0) == 0


# --- pytest-xdist ----------------------------------------------------------------------------


def test_xdist_gives_the_same_counts(scratch: pytest.Pytester) -> None:
    for rel in XDIST_FILES:
        copy_in(scratch, CORPUS / rel, rel)
    args = ("--smtp-client=reference", "--smtp-client=smtplib")
    serial = run(scratch, *args)
    parallel = run(scratch, *args, "-n", "2")
    assert serial.ret == parallel.ret == pytest.ExitCode.OK, parallel.stdout.str()
    # 5 files x 2 clients; auth.cram-md5-challenge-not-base64 is a built-in deviation of smtplib
    expected = {"passed": 9, "xfailed": 1}
    assert serial.parseoutcomes() == expected, serial.stdout.str()
    assert parallel.parseoutcomes() == expected, parallel.stdout.str()
    assert re.search(r"created: 2/2 workers|2 workers \[10 items\]", parallel.stdout.str()), (
        parallel.stdout.str()
    )


# --- the same verdicts as `smtp-harness run` ---------------------------------------------------

_PYTEST_WORD = {
    "pass": "PASSED",
    "xfail": "XFAIL",
    "skip": "SKIPPED",
    "fail": "FAILED",
    "error": "FAILED",
    "xpass": "FAILED",
    "non-strict": "NON-STRICT",
    "info": "INFO",
    "not-exercised": "NOT-EXERCISED",
}
_SUMMARY_WORD = {
    "PASSED": "passed",
    "XFAIL": "xfailed",
    "SKIPPED": "skipped",
    "FAILED": "failed",
    "XPASS": "xpassed",
    "ERROR": "errors",
    "NON-STRICT": "non-strict",
    "INFO": "info",
    "NOT-EXERCISED": "not-exercised",
}

# What `smtp-harness run` does for one scenario (adapter, built-in deviations, apply_deviations),
# repeated: the set of verdicts each scenario file can get.
_REPEAT_VERDICTS = """\
import asyncio, json, sys
from harness.adapters.base import load_adapter
from harness.deviations import apply_deviations, deviations_for
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario

adapter = load_adapter(sys.argv[1])
deviations = deviations_for(adapter.name)
seen = {}
for path in sys.argv[3:]:
    scenario = load_scenario(path)
    seen[scenario.id] = sorted(
        {
            apply_deviations(asyncio.run(run_scenario(scenario, adapter)), deviations).verdict.value
            for _ in range(int(sys.argv[2]))
        }
    )
print(json.dumps(seen))
"""


def smtp_harness_command() -> list[str]:
    """The installed console script (beside this Python), else the module."""
    scripts = Path(sys.executable).parent
    exe = shutil.which(
        "smtp-harness", path=os.pathsep.join([str(scripts), os.environ.get("PATH", "")])
    )
    return [exe] if exe else [sys.executable, "-m", "harness.cli"]


def test_same_verdicts_as_smtp_harness_run(scratch: pytest.Pytester, tmp_path: Path) -> None:
    # Both runs read one snapshot of the corpus (others add scenarios while the suite runs).
    # `smtp-harness run` runs in its own process too: pytester restores sys.modules after each
    # test, so running the harness in-process here would drop modules (cryptography) that other
    # tests share.
    corpus = scratch.path / "corpus"
    shutil.copytree(CORPUS, corpus, ignore=shutil.ignore_patterns(".*", "*~", "*.tmp", "*.swp"))
    report = tmp_path / "report.json"
    # the two runs mostly wait on scripted delays: run them side by side
    argv = [*smtp_harness_command(), "run", "--client", "smtplib", "--report-json", str(report)]
    with subprocess.Popen(
        [*argv, "corpus"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=scratch.path,
    ) as cli:
        workers = str(min(4, os.cpu_count() or 1))  # collection is CPU-bound in every worker
        result = run(scratch, "--smtp-client=smtplib", "-v", "-n", workers, "corpus")
        cli_out, _ = cli.communicate(timeout=TIMEOUT)
    assert cli.returncode in (0, 1), cli_out  # 1: something failed
    data = json.loads(report.read_text())
    cli_verdicts = {r["scenario"]: r["verdict"] for r in data["results"]}
    paths = {r["scenario"]: r["path"] for r in data["results"]}
    assert len(cli_verdicts) == len([p for p in corpus.rglob("*") if p.suffix in (".yaml", ".yml")])
    counts = Counter(cli_verdicts.values())
    assert counts["pass"] > 0 and counts["xfail"] > 0  # both kinds are compared below

    words = verbose_outcomes(result, "smtplib")
    assert set(words) == set(cli_verdicts), result.stdout.str()

    # The same verdict for every scenario. A scenario whose verdict depends on timing can differ
    # between two runs; for those, pytest's verdict must be one the CLI's pipeline also gives.
    disputed = sorted(sid for sid, v in cli_verdicts.items() if _PYTEST_WORD[v] != words[sid])
    if disputed:
        again = subprocess.run(
            [
                sys.executable,
                "-c",
                _REPEAT_VERDICTS,
                "smtplib",
                "30",
                *(paths[s] for s in disputed),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
            cwd=scratch.path,
        )
        seen = json.loads(again.stdout)
        unexplained = {
            sid: (cli_verdicts[sid], seen[sid], words[sid])
            for sid in disputed
            if words[sid] not in {_PYTEST_WORD[v] for v in seen[sid]}
        }
        assert not unexplained, f"(cli, cli repeated, pytest): {unexplained}"
        assert len(disputed) <= 2, f"too many timing-dependent verdicts: {disputed}"

    # the summary line counts what the items said, and the exit status agrees
    summary = result.parseoutcomes()
    summary.pop("warnings", None)
    summary.pop("warning", None)
    assert summary == dict(Counter(_SUMMARY_WORD[w] for w in words.values())), result.stdout.str()
    if not disputed:
        assert result.ret == cli.returncode
        assert summary == dict(
            Counter(_SUMMARY_WORD[_PYTEST_WORD[v]] for v in cli_verdicts.values())
        )


# --- fixtures --------------------------------------------------------------------------------


def test_factory_with_inline_dict_and_blocking_smtplib(scratch: pytest.Pytester) -> None:
    scratch.makepyfile(
        test_fixture_dict="""
        import smtplib

        import pytest

        SCENARIO = {
            "version": 1,
            "id": "fixture.inline-dict",
            "limits": {"total": 5, "read": 2},
            "client": {
                "mail_from": "alice@example.com",
                "rcpt_to": ["bob@example.com"],
                "message": "From: alice@example.com\\nSubject: hi\\n\\nbody\\n",
            },
            "expect": {"outcome": "delivered"},
            "exchange": [
                {"server": "220 mx.example.com ESMTP"},
                {"client": "EHLO {domain}"},
                {"server": ["250-mx.example.com", "250 8BITMIME"]},
                {"client": "MAIL FROM:<alice@example.com>"},
                {"server": "250 2.1.0 Ok"},
                {"client": "RCPT TO:<bob@example.com>"},
                {"server": "250 2.1.5 Ok"},
                {"client": "DATA"},
                {"server": "354 go ahead"},
                {"client": {"data": "message"}},
                {"server": "250 2.0.0 queued"},
                {"client": "QUIT"},
                {"server": "221 2.0.0 bye"},
            ],
        }
        PORTS = []

        def test_send(smtp_server_factory):
            server = smtp_server_factory(SCENARIO)
            PORTS.append(server.port)
            with smtplib.SMTP(server.host, server.port, local_hostname="client.example", timeout=5) as client:
                refused = client.sendmail(
                    "alice@example.com",
                    ["bob@example.com"],
                    "From: alice@example.com\\r\\nSubject: hi\\r\\n\\r\\nbody\\r\\n",
                )
            assert refused == {}
            session = server.wait_session(timeout=5)
            assert session is not None
            assert session.failure is None
            assert session.complete
            text = session.transcript.render()
            assert "C: ehlo client.example" in text  # smtplib sends lower-case verbs
            assert "S: 250 2.0.0 queued" in text

        def test_server_was_stopped_after_the_test():
            assert len(PORTS) == 1
            with pytest.raises(ConnectionRefusedError):
                smtplib.SMTP("127.0.0.1", PORTS[0], timeout=5)
        """
    )
    result = run(scratch, "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2)


def test_marker_with_smtp_server(scratch: pytest.Pytester) -> None:
    copy_in(scratch, STARTTLS, "reehlo.yaml")
    scratch.makepyfile(
        test_fixture_marker="""
        import smtplib
        import ssl
        from pathlib import Path

        import pytest

        from harness import load_scenario

        PATH = str(Path(__file__).parent / "reehlo.yaml")

        @pytest.mark.smtp_scenario(PATH)
        def test_starttls_send(smtp_server, smtp_tls):
            assert smtp_server.ca_path == smtp_tls.ca_path
            task = load_scenario(PATH).client
            context = ssl.create_default_context(cafile=smtp_server.ca_path)
            with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
                client.starttls(context=context)
                client.login(task.auth.username, task.auth.password)
                client.sendmail(task.mail_from, list(task.rcpt_to), task.message)
            session = smtp_server.wait_session(timeout=5)
            assert session is not None
            assert session.failure is None, session.failure
            assert session.complete

        def test_smtp_server_without_marker(smtp_server):
            pass
        """
    )
    result = run(scratch, "-v")
    out = result.stdout.str()
    result.assert_outcomes(passed=1, errors=1)
    assert "test_starttls_send PASSED" in out
    assert "smtp_server needs @pytest.mark.smtp_scenario(path | yaml_text | dict)" in out


def test_wrong_client_gives_a_session_failure(scratch: pytest.Pytester) -> None:
    scratch.makepyfile(
        test_fixture_wrong="""
        import smtplib

        WANTS_EHLO = '''\\
        version: 1
        id: fixture.wants-ehlo
        limits: {total: 3, read: 1}
        client:
          mail_from: alice@example.com
          rcpt_to: [bob@example.com]
        expect: {outcome: delivered}
        exchange:
          - server: "220 mx.example.com ESMTP"
          - client: "EHLO {domain}"
          - server: "250 mx.example.com"
        '''

        def test_noop_instead_of_ehlo(smtp_server_factory):
            server = smtp_server_factory(WANTS_EHLO)
            server.allow_findings()  # this test checks the failure itself
            client = smtplib.SMTP(server.host, server.port, timeout=5)
            try:
                code, _ = client.noop()
            finally:
                client.close()
            assert code == 421  # the scripted server answers a wrong step with 421 and closes
            session = server.wait_session(timeout=5)
            assert session is not None
            failure = session.failure
            assert failure is not None
            assert failure.kind == "unexpected"
            assert failure.line == 10
            assert failure.expected == "EHLO {domain}"
            assert failure.actual.lower() == "noop"
            assert not session.complete
        """
    )
    result = run(scratch, "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1)


def test_smtp_tls_ca_path_exists_during_the_test(scratch: pytest.Pytester) -> None:
    record = scratch.path / "ca-path.txt"
    scratch.makepyfile(
        test_fixture_tls=f"""
        import os
        import ssl
        from pathlib import Path

        def test_ca_path(smtp_tls):
            assert os.path.isfile(smtp_tls.ca_path)
            ssl.create_default_context(cafile=smtp_tls.ca_path)  # a loadable CA certificate
            Path({str(record)!r}).write_text(smtp_tls.ca_path)

        def test_same_material_for_the_session(smtp_tls):
            assert Path({str(record)!r}).read_text() == smtp_tls.ca_path
        """
    )
    result = run(scratch, "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2)
    ca_path = record.read_text()
    assert ca_path
    assert not os.path.exists(ca_path), "the CA file outlived the session"
