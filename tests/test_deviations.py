"""Known-deviation lists (``harness.deviations``): the loader with its exact errors, how a listed
scenario's verdict changes, and the built-in lists under ``harness/adapters/deviations``."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.adapters.base import available_adapters
from harness.corpus import corpus_path
from harness.deviations import (
    Deviation,
    apply_deviations,
    builtin_deviations_path,
    deviations_for,
    load_deviations,
)
from harness.errors import ScenarioError
from harness.results import Failure, Result, Verdict
from harness.scenario.loader import load_scenarios, parse_scenario
from harness.scenario.model import Scenario

BUILTIN_DIR = Path(builtin_deviations_path("x")).parent
BUILTIN_FILES = sorted(BUILTIN_DIR.glob("*.yaml"))

VALID = """\
client: reference
deviations:
  - scenario: one.fails
    rule: R-TX-6
    reason: sends an extra CRLF before the final dot
    trigger: a message that ends in CRLF
  - scenario: two.passes
    rule: R-DOT-1
    reason: loses a last line of "."
    trigger: a final line holding a single dot
"""


def write(tmp_path: Path, text: str, name: str = "devs.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def scenario(scenario_id: str) -> Scenario:
    return parse_scenario(
        f"version: 1\nid: {scenario_id}\nclient: {{}}\nexpect: {{outcome: delivered}}\n"
        'exchange: [{server: "220 mx"}]\n',
        f"{scenario_id}.yaml",
    )


def result(scenario_id: str, verdict: Verdict, message: str = "") -> Result:
    return Result(
        scenario=scenario(scenario_id), client="reference", verdict=verdict, message=message
    )


# --- load_deviations: valid ------------------------------------------------------------------


def test_load_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    loaded = load_deviations(path)
    assert list(loaded) == ["one.fails", "two.passes"]
    assert loaded["one.fails"] == Deviation(
        scenario="one.fails",
        rule="R-TX-6",
        reason="sends an extra CRLF before the final dot",
        trigger="a message that ends in CRLF",
        location=f"{path}:3",
    )
    assert loaded["two.passes"].location == f"{path}:7"
    assert loaded["two.passes"].reason == 'loses a last line of "."'
    assert load_deviations(path, client="reference") == loaded


def test_describe_names_rule_reason_and_trigger(tmp_path: Path) -> None:
    deviation = load_deviations(write(tmp_path, VALID))["one.fails"]
    assert deviation.describe() == (
        "known deviation (R-TX-6): sends an extra CRLF before the final dot; "
        "triggered by: a message that ends in CRLF"
    )


def test_empty_list_is_valid(tmp_path: Path) -> None:
    assert load_deviations(write(tmp_path, "client: reference\ndeviations: []\n")) == {}


# --- load_deviations: invalid, with the exact file:line: field: message -----------------------

MISSING_TRIGGER = """\
client: reference
deviations:
  - scenario: one.fails
    rule: R-TX-6
    reason: sends an extra CRLF
"""

LISTED_TWICE = """\
client: reference
deviations:
  - scenario: one.fails
    rule: R-TX-6
    reason: first
    trigger: t
  - scenario: one.fails
    rule: R-TX-7
    reason: second
    trigger: t
"""

UNKNOWN_KEY = """\
client: reference
deviations:
  - scenario: one.fails
    rule: R-TX-6
    reason: r
    trigger: t
    fixed_in: "3.13"
"""

NUMBER_RULE = """\
client: reference
deviations:
  - scenario: one.fails
    rule: 6
    reason: r
    trigger: t
"""


@pytest.mark.parametrize(
    ("text", "client", "expected"),
    [
        pytest.param(
            MISSING_TRIGGER,
            None,
            "3: deviations[0].trigger: required key is missing",
            id="missing-key",
        ),
        pytest.param(
            "deviations: []\n", None, "1: client: required key is missing", id="missing-client"
        ),
        pytest.param(
            "client: reference\n", None, "1: deviations: required key is missing", id="missing-list"
        ),
        pytest.param(
            VALID,
            "smtplib",
            "1: client: this file is for 'reference', not 'smtplib'",
            id="wrong-client",
        ),
        pytest.param(
            LISTED_TWICE, None, "7: deviations[1].scenario: 'one.fails' is listed twice", id="twice"
        ),
        pytest.param(
            UNKNOWN_KEY,
            None,
            "7: deviations[0].fixed_in: unknown key 'fixed_in'; "
            "expected one of: fuzz, reason, rule, scenario, trigger",
            id="unknown-key",
        ),
        pytest.param(
            NUMBER_RULE,
            None,
            "4: deviations[0].rule: expected a string, got int 6",
            id="not-a-string",
        ),
    ],
)
def test_invalid_file(tmp_path: Path, text: str, client: str | None, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_deviations(path, client=client)
    assert str(info.value) == f"{path}:{expected}"
    assert info.value.path == str(path)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ScenarioError) as info:
        load_deviations(path)
    assert str(info.value).startswith(f"{path}: cannot read the deviations file: ")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "client: reference\ndeviations:\n  - scenario: [unclosed\n")
    with pytest.raises(ScenarioError) as info:
        load_deviations(path)
    assert str(info.value).startswith(f"{path}:")
    assert "invalid YAML" in str(info.value)
    assert info.value.line is not None


# --- deviations_for --------------------------------------------------------------------------


def test_deviations_for_adds_files_to_the_builtin_list(tmp_path: Path) -> None:
    builtin = load_deviations(builtin_deviations_path("smtplib"), client="smtplib")
    extra = write(tmp_path, VALID.replace("client: reference", "client: smtplib"))
    combined = deviations_for("smtplib", [extra])
    assert combined == {**builtin, **load_deviations(extra)}
    assert set(builtin) < set(combined)


def test_deviations_for_a_client_without_a_builtin_list(tmp_path: Path) -> None:
    assert not builtin_deviations_path("no-such-client").exists()
    assert deviations_for("no-such-client") == {}
    path = write(tmp_path, VALID.replace("client: reference", "client: no-such-client"))
    assert deviations_for("no-such-client", [path]) == load_deviations(path)


def test_deviations_for_ignores_another_clients_file(tmp_path: Path) -> None:
    # Files for several clients may be given at once (a matrix); each applies to its own client.
    path = write(tmp_path, VALID)
    assert "one.fails" not in deviations_for("smtplib", [path])
    assert "one.fails" in deviations_for("reference", [path])


# --- apply_deviations ------------------------------------------------------------------------


@pytest.fixture
def listed(tmp_path: Path) -> dict[str, Deviation]:
    return load_deviations(write(tmp_path, VALID))


def test_listed_fail_becomes_xfail(listed: dict[str, Deviation]) -> None:
    r = result("one.fails", Verdict.FAIL, "unexpected command")
    r.failure = Failure(kind="unexpected", message="unexpected command", line=9)
    r.notes.append("an earlier note")
    out = apply_deviations(r, listed)
    assert out is r
    assert out.verdict is Verdict.XFAIL
    assert out.message == "unexpected command"  # why it failed stays
    assert out.failure is not None and out.failure.line == 9
    deviation = listed["one.fails"]
    assert out.notes == ["an earlier note", f"{deviation.describe()} [{deviation.location}]"]
    assert "R-TX-6" in out.notes[-1]
    assert "sends an extra CRLF before the final dot" in out.notes[-1]


def test_listed_pass_becomes_xpass(listed: dict[str, Deviation]) -> None:
    out = apply_deviations(result("two.passes", Verdict.PASS), listed)
    assert out.verdict is Verdict.XPASS
    location = listed["two.passes"].location
    assert location.endswith(":7")
    assert out.message == f"listed as a known deviation but passed: remove it from {location}"
    assert out.notes == []


@pytest.mark.parametrize(
    "verdict", [Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.SKIP], ids=str
)
def test_unlisted_scenario_is_left_alone(listed: dict[str, Deviation], verdict: Verdict) -> None:
    r = result("three.unlisted", verdict, "" if verdict is Verdict.PASS else "why")
    out = apply_deviations(r, listed)
    assert (out.verdict, out.message, out.notes) == (verdict, r.message, [])


@pytest.mark.parametrize("verdict", [Verdict.ERROR, Verdict.SKIP], ids=str)
def test_listed_error_or_skip_is_not_a_deviation(
    listed: dict[str, Deviation], verdict: Verdict
) -> None:
    # an error says nothing about the client, and a skip never ran it: neither is excused
    out = apply_deviations(result("one.fails", verdict, "AdapterError: boom"), listed)
    assert (out.verdict, out.message, out.notes) == (verdict, "AdapterError: boom", [])


def test_no_deviations_changes_nothing() -> None:
    r = result("one.fails", Verdict.FAIL, "unexpected command")
    assert apply_deviations(r, {}).verdict is Verdict.FAIL


# --- the built-in lists ----------------------------------------------------------------------


def test_builtin_lists_exist() -> None:
    assert BUILTIN_DIR.is_dir()
    assert "smtplib.yaml" in {p.name for p in BUILTIN_FILES}


@pytest.fixture(scope="module")
def corpus_ids() -> set[str]:
    ids = {s.id for s in load_scenarios([corpus_path()])}
    assert ids
    return ids


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=lambda p: p.stem)
def test_builtin_list(path: Path, corpus_ids: set[str]) -> None:
    client = path.stem
    assert builtin_deviations_path(client) == path
    loaded = load_deviations(path, client=client)  # raises if the file names another client
    assert client in available_adapters()
    unknown = sorted(set(loaded) - corpus_ids)
    assert not unknown, f"{path} lists scenarios that are not in the corpus: {unknown}"
    for sid, deviation in loaded.items():
        assert deviation.scenario == sid
        for field in ("rule", "reason", "trigger"):
            assert getattr(deviation, field).strip(), f"{deviation.location}: empty {field}"
        assert deviation.location.startswith(f"harness/adapters/deviations/{path.name}:")
    assert deviations_for(client) == loaded
