"""The ``smtp-harness`` command, run in-process through ``harness.cli.main`` (plus one real
subprocess to prove the installed console script works)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scenario_texts import wants_noop  # tests/ is on sys.path (rootdir conftest)

import harness.adapters
from harness.adapters.base import available_adapters
from harness.cli import main
from harness.corpus import corpus_path
from harness.scenario.loader import load_scenarios

CORPUS = corpus_path()
LOGIN = CORPUS / "auth" / "login.yaml"

WANTS_NOOP = wants_noop("cli.expects-noop")

BROKEN = """\
version: 1
id: cli.broken
client: {}
expect: {outcome: sent}
exchange: [{server: "220 x"}]
"""


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    path = tmp_path / "wants-noop.yaml"
    path.write_text(WANTS_NOOP)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- validate --------------------------------------------------------------------------------


def test_validate_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(CORPUS))
    count = len([p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml")])
    assert (code, out, err) == (0, f"{count} valid scenario files\n", "")


def test_validate_broken_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good, bad = tmp_path / "a-good.yaml", tmp_path / "b-bad.yaml"
    good.write_text(WANTS_NOOP)
    bad.write_text(BROKEN)
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 2
    assert out.splitlines() == [
        f"{bad}:4: expect.outcome: 'sent' is not one of: delivered, failed, completed",
        "1 invalid, 1 valid",
    ]


def test_validate_duplicate_ids(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(WANTS_NOOP)
    (tmp_path / "b.yaml").write_text(WANTS_NOOP)
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert code == 2
    assert "duplicate scenario id 'cli.expects-noop'" in err
    assert "valid scenario files" not in out


def test_validate_tells_client_configs_and_deviations_files(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each file is checked by its own kind's loader: a client config or a deviations file read
    as a scenario was refused for its first key ("unknown key 'name'")."""
    root = Path(__file__).resolve().parents[1]
    adapters = Path(harness.adapters.__file__).parent
    clients = [*sorted((adapters / "clients").glob("*.yaml")), root / "docs/clients/sendemail.yaml"]
    deviations = sorted((adapters / "deviations").glob("*.yaml"))
    code, out, err = run(capsys, "validate", *map(str, clients + deviations), str(LOGIN))
    total = len(clients) + len(deviations) + 1
    summary = f"1 scenario, {len(clients)} client configs, {len(deviations)} deviations files"
    assert (code, out, err) == (0, f"{total} valid files: {summary}\n", "")


CLIENT_CONFIG = """\
name: x
program: x
args: ["{host}", "{port}"]
tls: {none: []}
"""
DEVIATIONS = """\
client: x
deviations:
- scenario: a.b
  rule: R-X
  quote_from: RFC 5321
  quote: q
  reason: r
  trigger: t
"""


def test_validate_reports_every_bad_file_of_every_kind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = {
        "a-client.yaml": CLIENT_CONFIG.replace("tls: {none: []}", "tls: [none]"),
        "b-client.yaml": "name: x\nprogram: x\n",
        "c-deviations.yaml": DEVIATIONS.replace("rule: R-X", "rule: [R-X]"),
        "d-deviations.yaml": "client: x\n",
        "e-scenario.yaml": BROKEN,
        "f-client.yaml": CLIENT_CONFIG,
        "g-deviations.yaml": DEVIATIONS,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert code == 2
    assert out.splitlines() == [
        f"{tmp_path / 'a-client.yaml'}:4: tls: expected a mapping, got a list",
        f"{tmp_path / 'b-client.yaml'}:1: args: required key is missing",
        f"{tmp_path / 'c-deviations.yaml'}:4: deviations[0].rule: "
        "expected a single value, got a list",
        f"{tmp_path / 'd-deviations.yaml'}:1: deviations: required key is missing",
        f"{tmp_path / 'e-scenario.yaml'}:4: expect.outcome: "
        "'sent' is not one of: delivered, failed, completed",
        "5 invalid, 2 valid",
    ]


def test_validate_kind_reads_every_file_as_that_kind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = Path(harness.adapters.__file__).parent / "clients" / "swaks.yaml"
    code, out, _ = run(capsys, "validate", "--kind", "scenario", str(config))
    assert code == 2
    assert f"{config}:" in out and "unknown key" in out
    code, out, _ = run(capsys, "validate", "--kind", "client", str(config))
    assert (code, out) == (0, "1 valid file: 1 client config\n")


# --- run -------------------------------------------------------------------------------------


def test_run_one_passing_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(LOGIN))
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("PASS  auth.login  [reference]  ")
    assert lines[-1] == "1 passed, 0 failed, 0 skipped"


def test_run_failing_scenario(capsys: pytest.CaptureFixture[str], failing: Path) -> None:
    code, out, _ = run(capsys, "run", str(failing))
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith("FAIL  cli.expects-noop  [reference]  ")
    assert lines[0].endswith("  - unexpected command")
    assert "=== cli.expects-noop [reference]: fail (a MUST broken)" in lines
    assert f"    step: {failing}:18" in lines
    assert "    detail: verb: expected NOOP, got MAIL FROM:<alice@example.com>" in lines
    assert "    transcript (time, TLS, S=server C=client *=harness):" in lines
    transcript = "\n".join(
        lines[lines.index("    transcript (time, TLS, S=server C=client *=harness):") :]
    )
    assert "S: 220 mx.example.com ESMTP" in transcript
    assert "C: EHLO " in transcript
    # the expected line (-) and what the client sent instead (+)
    assert any(
        line.startswith("    - ") and line.endswith("C: NOOP    <- expected (line 18)")
        for line in lines
    )
    assert any(
        line.startswith("    + ") and line.endswith("C: MAIL FROM:<alice@example.com>")
        for line in lines
    )
    assert lines[-1] == "0 passed, 1 failed, 0 skipped"


def test_report_json(capsys: pytest.CaptureFixture[str], failing: Path, tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    code, _, _ = run(capsys, "run", str(failing), str(LOGIN), "--report-json", str(report))
    assert code == 1
    data = json.loads(report.read_text())
    assert data["client"] == "reference"
    assert data["summary"] == "1 passed, 1 failed, 0 skipped"
    by_id = {r["scenario"]: r for r in data["results"]}
    assert set(by_id) == {"cli.expects-noop", "auth.login"}
    bad, good = by_id["cli.expects-noop"], by_id["auth.login"]
    assert bad["client"] == "reference"
    assert bad["verdict"] == "fail"
    assert bad["failing_step"] == f"{failing}:18"
    assert bad["message"] == "unexpected command"
    assert isinstance(bad["duration"], float)
    assert 0 <= bad["duration"] < 30
    sent = [e for e in bad["transcript"] if e["direction"] == "C"]
    assert {"at", "direction", "tls", "data"} == set(sent[0])
    assert any(e["data"] == "MAIL FROM:<alice@example.com>\\r\\n" for e in sent), sent
    assert good["verdict"] == "pass"
    assert good["failing_step"] is None
    assert good["message"] == ""
    assert good["transcript"]  # every result carries its transcript as entries
    assert data["version"] == 1 and data["format"] == "smtp-harness-report"
    assert data["counts"]["pass"] == 1 and data["counts"]["fail"] == 1
    validate_report(data)


def validate_report(data: object) -> None:
    """Check a report against the JSON Schema shipped in the package."""
    import jsonschema

    from harness.report.json_report import REPORT_SCHEMA

    jsonschema.validate(data, json.loads(REPORT_SCHEMA.read_text()))


def test_report_json_survives_bytes_that_are_not_utf8(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # QQ answers AUTH with a GBK 535: aiosmtplib's message then holds surrogate escapes.
    report = tmp_path / "report.json"
    run(capsys, "run", "--client", "aiosmtplib", "-k", "qq-gbk-535", "--report-json", str(report))
    data = json.loads(report.read_text(encoding="ascii"))
    validate_report(data)
    (result,) = data["results"]
    served = "".join(e["data"] for e in result["transcript"] if e["direction"] == "S")
    assert "\\x" in served  # the GBK bytes, escaped


def test_keyword_selects(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "-k", "auth and not cram")
    assert code == 0
    ids = {line.split("  ")[0] for line in out.splitlines()}
    assert {"auth.login", "auth.login-aiosmtpd-prompts"} <= ids
    assert "auth.cram-md5-pymotw-exim" not in ids  # `not cram`
    assert "basic.null-sender" not in ids  # no `auth` in id, tags or path
    assert all("cram" not in i for i in ids)


def test_run_with_keyword(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", str(CORPUS / "auth"), "-k", "auth and not cram")
    results = [
        line for line in out.splitlines() if line.startswith(("PASS", "FAIL", "ERROR", "SKIP"))
    ]
    from harness.scenario.loader import load_scenarios

    def words(sc):  # what -k matches: id, path and tags
        return " ".join([sc.id, sc.path, *sc.tags]).lower()

    wanted = [
        sc
        for sc in load_scenarios([CORPUS / "auth"])
        if "auth" in words(sc) and "cram" not in words(sc)
    ]
    assert code == 0
    assert 0 < len(results) == len(wanted) < len(load_scenarios([CORPUS / "auth"]))
    assert not any("cram" in line for line in results)
    assert out.splitlines()[-1] == f"{len(wanted)} passed, 0 failed, 0 skipped"


def test_keyword_that_selects_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", "-k", "no-such-word-anywhere")
    assert (code, out) == (2, "")
    assert err == f"smtp-harness: {CORPUS}: no scenarios selected\n"


def test_bad_keyword_expression_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list", "-k", "auth cram")
    assert code == 2
    assert "'auth cram' is not a valid expression" in err


def test_bad_keyword_message_names_no_fake_file(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "list", "-k", "auth cram")
    assert err == "smtp-harness: -k: 'auth cram' is not a valid expression\n"


def test_unknown_client(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", str(LOGIN), "--client", "nosuch")
    installed = ", ".join(available_adapters())
    assert "reference" in installed
    assert (code, out) == (2, "")
    assert err == f"smtp-harness: no client adapter named 'nosuch'; installed: {installed}\n"


# --- list, clients ---------------------------------------------------------------------------


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    lines = out.splitlines()
    assert code == 0
    assert len(lines) == len(list(CORPUS.rglob("*.yaml")))
    assert (
        "auth.login  AUTH LOGIN sends the username and then the password, each base64, "
        "and the send goes on after 235  [auth, login]"
    ) in lines


def test_list_a_broken_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    code, out, err = run(capsys, "list", str(path))
    assert (code, out) == (2, "")
    assert err == (
        f"smtp-harness: {path}:4: expect.outcome: 'sent' is not one of: "
        "delivered, failed, completed\n"
    )


def test_clients(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "clients")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert rows["reference"].split()[1] == "ready"
    assert set(rows) == set(available_adapters())


GHOST = """\
name: ghost
program: no-such-smtp-client-for-the-harness-tests
install: apt-get install ghost
args: ["{host}:{port}"]
tls: {none: []}
outcome: {delivered: [0]}
"""


def test_a_missing_client_is_one_message_before_anything_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ghost = tmp_path / "ghost.yaml"
    ghost.write_text(GHOST)
    code, out, err = run(capsys, "run", "--client", str(ghost))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "smtp-harness: ghost: the program 'no-such-smtp-client-for-the-harness-tests' is not on "
        "PATH (install: apt-get install ghost)"
    ]
    # the matrix checks every client first: the reference column never runs
    code, out, err = run(capsys, "matrix", "--client", "reference", "--client", str(ghost))
    assert code == 2
    assert "running" not in err and "not on PATH" in err


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "smtp-harness" in capsys.readouterr().err


def test_console_script(failing: Path) -> None:
    scripts = Path(sys.executable).parent
    exe = shutil.which(
        "smtp-harness", path=os.pathsep.join([str(scripts), os.environ.get("PATH", "")])
    )
    assert exe is not None, "the smtp-harness console script is not installed"
    clients = subprocess.run([exe, "clients"], capture_output=True, text=True, timeout=60)
    assert clients.returncode == 0, clients.stderr
    assert "reference" in clients.stdout.split()
    bad = subprocess.run([exe, "run", str(failing)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.splitlines()[-1] == "0 passed, 1 failed, 0 skipped"


# --- paths in reports ------------------------------------------------------------------------


def test_reports_name_corpus_files_from_the_project_root_not_the_install_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    run(
        capsys,
        "run",
        "--client",
        "smtplib",
        "-k",
        "ehlo-421 or cram-md5-challenge-not-base64",
        "--report-json",
        str(report),
    )
    data = json.loads(report.read_text())
    paths = {r["path"] for r in data["results"]}
    assert paths and all(p.startswith("scenarios/") for p in paths), paths
    notes = " ".join(n for r in data["results"] for n in r["notes"])
    assert "[harness/adapters/deviations/smtplib.yaml:" in notes
    assert str(Path.cwd()) not in report.read_text()


def test_k_matches_the_corpus_relative_path_not_the_install_location(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenarios = load_scenarios([corpus_path()])
    assert all(s.path.startswith("scenarios/") for s in scenarios)
    words = " ".join(w for s in scenarios for w in (s.id, s.path, *s.tags)).lower()
    # Words of where the corpus happens to live (/work/main, .tox/py3/lib/...): none selects.
    local = [
        p for p in corpus_path().resolve().parent.parts if p.isalnum() and p.lower() not in words
    ]
    assert local, corpus_path()
    for word in local:
        code, _, err = run(capsys, "list", "-k", word)
        assert code == 2 and "no scenarios selected" in err, word


def test_quiet_prints_only_what_falls_short_and_the_summary(
    capsys: pytest.CaptureFixture[str], failing: Path
) -> None:
    code, out, err = run(capsys, "run", "-q", str(failing), str(LOGIN))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("FAIL  cli.expects-noop")
    assert not any(line.startswith("PASS") for line in lines)
    assert lines[-1] == "1 passed, 1 failed, 0 skipped"
    assert "reference [" in err  # progress, on stderr, a plain line when not a terminal


def test_progress_on_a_terminal_redraws_one_line() -> None:
    import io

    from harness.report.progress import Progress
    from harness.results import Result, Verdict
    from harness.scenario.loader import load_scenario

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = Progress(2, "demo", stream=stream)
    result = Result(scenario=load_scenario(LOGIN), client="demo", verdict=Verdict.FAIL)
    progress.advance(result)
    progress.advance(result)
    progress.close()
    text = stream.getvalue()
    assert text.count("\r") >= 2 and "\n" not in text
    assert "2/2  2 failing" in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from harness import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"smtp-harness {__version__}"


def test_the_readme_demo_shows_a_real_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", "--client", "demo-broken", "-k", "data.dot-stuffing")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith("FAIL  data.dot-stuffing  [demo-broken]")
    assert "=== data.dot-stuffing [demo-broken]: fail (a MUST broken; R-DOT-1)" in lines
    assert "was not dot-stuffed (RFC 5321 §4.5.2)" in out
    assert lines[-1] == "0 passed, 1 failed, 0 skipped"


FUZZ_12 = ("--examples", "12", "--seed", "1")


def test_fuzz_draws_a_live_bar_on_a_terminal() -> None:
    """On a real terminal (a pty) fuzz redraws one progress line per example on stderr."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", "fuzz", "--client", "reference", *FUZZ_12],
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=120,
            check=False,
        )
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert proc.returncode in (0, 1), proc.stdout
    text = seen.decode("utf-8", "replace")
    assert "fuzz reference [" in text
    assert "12/12" in text
    assert text.count("\r") >= 12
