"""The shipped JSON Schemas against the loaders they describe.

* Every corpus scenario and every shipped client config validates.
* For malformed files made from them (one change each, tests/schema/mutations.py) the schema
  never rejects a file the loader reads, and a file only the loader rejects is rejected for a
  reason on the documented list of loader-only checks (docs/scenario-format.md, "Editor
  support"); each entry of that list has an example here that shows it is really loader-only.
  The loader may grow stricter (YAML tags, aliases, regex safety): such a rejection is a
  loader-only check too, and only needs its entry.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.adapters.command import CommandConfig
from harness.corpus import corpus_path
from harness.errors import ScenarioError
from harness.scenario.loader import iter_scenario_files, parse_scenario
from harness.schema import SCHEMAS, load_schema, schema_path

from .mutations import mutations

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    [*(ROOT / "harness/adapters/clients").glob("*.yaml"), *(ROOT / "docs/clients").glob("*.yaml")]
)
SCENARIO = jsonschema.Draft202012Validator(load_schema("scenario"))
CLIENT = jsonschema.Draft202012Validator(load_schema("client"))
MUTATIONS_PER_FILE = 6

# What only the loader checks, as (name, what its error says, an example file fragment). The
# docs list the same names; test_docs_list_the_loader_only_checks keeps the two together.
SCENARIO_LOADER_ONLY: list[tuple[str, str, str]] = [
    (
        "command patterns",
        r"bad command pattern",
        'exchange: [{server: "220 x"}, {client: "MAIL FROM:<a@b> {nosuch}"}]',
    ),
    (
        "regular expressions",
        r"invalid regular expression|regex|quantifier|backtrack",
        'exchange: [{server: "220 x"}, {client: {regex: "(unclosed"}}]',
    ),
    (
        "split offsets inside the data",
        r"expected a byte offset between",
        'exchange: [{server: {lines: "250 OK", split: [99]}}]',
    ),
    (
        "close is the last step",
        r"nothing can follow `close`",
        'exchange: [{close: true}, {server: "220 x"}]',
    ),
    (
        "gives_up needs client.timeout and a long enough limits.total",
        r"`gives_up` step needs client.timeout|must exceed .* `gives_up`",
        'exchange: [{server: "220 x"}, {client: {gives_up: true}}]',
    ),
    ("fault values", r"faults\[\d+\]", 'faults: [delay=soon]\nexchange: [{server: "220 x"}]'),
    (
        "`any` alone among mechanism names",
        r"is not one of: PLAIN, LOGIN, CRAM-MD5, XOAUTH2, any",
        'exchange: [{server: "220 x"}, {auth: {mechanism: [any, PLAIN]}}]',
    ),
    (
        "whole numbers written with a decimal point",
        r"version 1\.0 is not supported|octets",
        'limits: {line: 512.0}\nexchange: [{server: "220 x"}]',
    ),
    (
        "YAML itself: duplicate keys, merge keys, tags, aliases",
        r"duplicate key|merge key|tag|alias",
        'exchange: [{server: "220 x"}]\ntitle: a\ntitle: b',
    ),
]
CLIENT_LOADER_ONLY: list[tuple[str, str, str]] = [
    ("placeholder names", r"unknown placeholder", 'args: ["{nosuch}"]'),
    (
        "{timeout} only in an optional group",
        r"has no value when the task leaves it",
        'args: [--timeout, "{timeout}"]',
    ),
    (
        "optional groups name a placeholder",
        r"names no placeholder",
        "args: [{optional: [--verbose]}]",
    ),
    (
        "regular expressions",
        r"invalid regex|expected one group|quantifier|backtrack",
        "args: []\noutcome: {code_pattern: '(a)(b)'}",
    ),
    (
        "YAML itself: duplicate keys, merge keys, tags, aliases",
        r"duplicate key|merge key|tag|alias",
        "args: []\nname: y",
    ),
]

SCENARIO_BASE = """version: 1
id: schema.example
client: {mail_from: a@example.com, rcpt_to: [b@example.com]}
expect: {outcome: delivered}
"""
CLIENT_BASE = "name: x\nprogram: x\ntls: {none: []}\n"


def _dump(doc: Any) -> str:
    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump(doc, Dumper=NoAliases, allow_unicode=True, sort_keys=False)


def _scenario_error(text: str) -> str | None:
    try:
        parse_scenario(text, "mutated.yaml")
    except ScenarioError as exc:
        return str(exc)
    return None


def _client_error(text: str, tmp: Path) -> str | None:
    path = tmp / "client.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        CommandConfig.from_file(path)
    except ScenarioError as exc:
        return str(exc)
    return None


def _first_schema_error(validator: jsonschema.Draft202012Validator, doc: Any) -> str:
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    return f"{'/'.join(map(str, error.absolute_path))}: {error.message}" if error else ""


@pytest.mark.parametrize("path", list(iter_scenario_files([corpus_path()])), ids=lambda p: p.stem)
def test_every_corpus_scenario_validates(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _first_schema_error(SCENARIO, doc) == ""


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_client_config_validates(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _first_schema_error(CLIENT, doc) == ""


def test_the_schemas_are_valid_json_schemas() -> None:
    for name in SCHEMAS:
        jsonschema.Draft202012Validator.check_schema(load_schema(name))


def _agree(
    loader_error: str | None, schema_error: str, loader_only: list[tuple[str, str, str]], what: str
) -> None:
    if loader_error is None:
        assert schema_error == "", f"{what}: the loader reads it, the schema says {schema_error}"
    elif schema_error == "":
        assert any(re.search(pattern, loader_error) for _, pattern, _ in loader_only), (
            f"{what}: only the loader rejects it ({loader_error}); the schema should, or the "
            "check belongs on the documented loader-only list"
        )


@pytest.mark.parametrize("path", list(iter_scenario_files([corpus_path()])), ids=lambda p: p.stem)
def test_loader_and_schema_agree_on_malformed_scenarios(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    rng = random.Random(path.name)  # the same cases in every run
    for what, mutated in mutations(doc, rng, MUTATIONS_PER_FILE):
        _agree(
            _scenario_error(_dump(mutated)),
            _first_schema_error(SCENARIO, mutated),
            SCENARIO_LOADER_ONLY,
            f"{path.name}: {what}",
        )


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_loader_and_schema_agree_on_malformed_client_configs(path: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    rng = random.Random(path.name)
    for what, mutated in mutations(doc, rng, 150):
        _agree(
            _client_error(_dump(mutated), tmp_path),
            _first_schema_error(CLIENT, mutated),
            CLIENT_LOADER_ONLY,
            f"{path.name}: {what}",
        )


@pytest.mark.parametrize(
    ("name", "pattern", "fragment"), SCENARIO_LOADER_ONLY, ids=[e[0] for e in SCENARIO_LOADER_ONLY]
)
def test_each_scenario_loader_only_check_is_loader_only(
    name: str, pattern: str, fragment: str
) -> None:
    text = SCENARIO_BASE + fragment
    error = _scenario_error(text)
    assert error is not None and re.search(pattern, error), error
    if "title: b" not in fragment:  # duplicate keys are invisible once the YAML is loaded
        assert _first_schema_error(SCENARIO, yaml.safe_load(text)) == ""


@pytest.mark.parametrize(
    ("name", "pattern", "fragment"), CLIENT_LOADER_ONLY, ids=[e[0] for e in CLIENT_LOADER_ONLY]
)
def test_each_client_loader_only_check_is_loader_only(
    name: str, pattern: str, fragment: str, tmp_path: Path
) -> None:
    text = CLIENT_BASE + fragment
    error = _client_error(text, tmp_path)
    assert error is not None and re.search(pattern, error), error
    if "name: y" not in fragment:
        assert _first_schema_error(CLIENT, yaml.safe_load(text)) == ""


def test_schema_rejects_what_it_can_see() -> None:
    """The schema is not empty: typos, wrong types and missing keys are caught in the editor."""
    good = yaml.safe_load(SCENARIO_BASE + 'exchange: [{server: "220 x"}]')
    assert _first_schema_error(SCENARIO, good) == ""
    for change, expected in [
        ({"exchnage": []}, "exchnage"),
        ({"expect": {"outcome": "deliverd"}}, "deliverd"),
        ({"client": {"tls": "starttls", "auth": {"username": "u"}}}, "not valid under any"),
        ({"exchange": [{"server": "220 x", "client": "EHLO x"}]}, "too many properties"),
        ({"exchange": [{"any_of": [[{"server": "250"}], []]}]}, "any_of/0/0"),
    ]:
        assert expected in _first_schema_error(SCENARIO, {**good, **change}), change


def test_docs_list_the_loader_only_checks() -> None:
    docs = (ROOT / "docs/scenario-format.md").read_text(encoding="utf-8")
    section = docs.split("## Editor support", 1)[1]
    for name, _, _ in SCENARIO_LOADER_ONLY + CLIENT_LOADER_ONLY:
        assert name in section, name


def test_cli_prints_each_schema() -> None:
    for name in SCHEMAS:
        out = subprocess.run(
            [sys.executable, "-m", "harness.cli", "schema", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(out) == json.loads(schema_path(name).read_text(encoding="utf-8"))


def test_client_config_description_is_text_for_loader_and_schema(tmp_path: Path) -> None:
    text = CLIENT_BASE + "args: []\ndescription: [not, text]\n"
    assert "description: expected a single value" in (_client_error(text, tmp_path) or "")
    assert _first_schema_error(CLIENT, yaml.safe_load(text)) != ""
