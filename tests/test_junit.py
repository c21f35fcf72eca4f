"""JUnit XML from `smtp-harness run` and `matrix`: valid against the schema CI systems read
(harness/report/junit.xsd), one testcase per scenario and client, failures with the text report,
xfail and skip as skipped with their reasons."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from scenario_texts import wants_noop

from harness.cli import main
from harness.corpus import corpus_path
from harness.report.junit import JUNIT_SCHEMA, format_junit
from harness.results import Result, Verdict
from harness.scenario.loader import parse_scenario

CORPUS = corpus_path()


def validated(path: Path) -> ET.Element:
    xmlschema.XMLSchema(JUNIT_SCHEMA).validate(str(path))
    return ET.parse(path).getroot()


def test_run_writes_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failing = tmp_path / "wants-noop.yaml"
    failing.write_text(wants_noop("junit.expects-noop"))
    out = tmp_path / "junit.xml"
    code = main(["run", str(failing), str(CORPUS / "auth" / "login.yaml"), "--junit-xml", str(out)])
    assert code == 1
    capsys.readouterr()
    root = validated(out)
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "smtp-harness.reference"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["junit.expects-noop"].find("failure")
    assert failure is not None and failure.get("message") == "unexpected command"
    assert "transcript (time, TLS, S=server C=client *=harness):" in (failure.text or "")
    assert cases["auth.login"].find("failure") is None
    assert cases["auth.login"].get("file") == "scenarios/auth/login.yaml"


def test_matrix_writes_a_suite_per_client_with_xfail_and_skip_as_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "junit.xml"
    cram = CORPUS / "auth" / "cram-md5-challenge-not-base64.yaml"  # a smtplib deviation
    vrfy = CORPUS / "transaction" / "vrfy-502-disabled.yaml"  # swaks cannot VRFY: skip
    code = main(
        [
            "matrix",
            "--client",
            "smtplib",
            "--client",
            "swaks",
            str(cram),
            str(vrfy),
            "--junit-xml",
            str(out),
        ]
    )
    capsys.readouterr()
    assert code in (0, 1)
    root = validated(out)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"smtp-harness.smtplib", "smtp-harness.swaks"}
    smtplib = {c.get("name"): c for c in suites["smtp-harness.smtplib"].findall("testcase")}
    skipped = smtplib["auth.cram-md5-challenge-not-base64"].find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith("xfail: known deviation")
    swaks = {c.get("name"): c for c in suites["smtp-harness.swaks"].findall("testcase")}
    vrfy_case = swaks["transaction.vrfy-502-disabled"].find("skipped")
    assert vrfy_case is not None and vrfy_case.get("message", "").startswith("skip: ")


def test_control_bytes_and_grades_in_junit(tmp_path: Path) -> None:
    scenario = parse_scenario(
        "version: 1\nid: j.x\nclient: {}\nexpect: {outcome: delivered}\n"
        'exchange: [{server: "220 mx"}]\n',
        "j.yaml",
    )
    results = [
        Result(scenario=scenario, client="c", verdict=Verdict.FAIL, message="got \x1b[31m\x00"),
        Result(scenario=scenario, client="c", verdict=Verdict.NON_STRICT, message="a SHOULD"),
    ]
    out = tmp_path / "j.xml"
    out.write_text(format_junit({"c": results}))
    root = validated(out)
    assert root.get("failures") == "1"
    strict = tmp_path / "strict.xml"
    strict.write_text(format_junit({"c": results}, strict=True))
    assert validated(strict).get("failures") == "2"
