"""How strongly each check is required: rule levels from the catalogue, scenario and step levels.

A check's level is, in order: the level the check itself knows (a wire rule such as CRLF line
ends is a MUST everywhere), the level written on its step, the scenario's ``level``, and else
the strongest level among the rules (R-...) the scenario cites in ``refs``. A scenario that
cites no catalogued rule is a MUST: the corpus writes ``level`` where a rule is weaker.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

from harness.scenario.model import Level, Scenario

__all__ = ["primary_rule", "rule_level", "scenario_level"]

_CATALOGUE = Path(__file__).parent / "catalogue.yaml"
_RULE_ID = re.compile(r"^R-[A-Z0-9]+-\d+$")
_STRENGTH = {Level.MUST: 2, Level.SHOULD: 1, Level.INFO: 0}


@functools.cache
def _rule_levels() -> dict[str, Level]:
    data = yaml.safe_load(_CATALOGUE.read_text(encoding="utf-8"))
    return {r["id"]: Level(r.get("level", "must")) for r in data["rules"]}


def rule_level(rule: str) -> Level | None:
    """The catalogued level of a rule id such as ``R-EHLO-1``; None if it is not catalogued."""
    return _rule_levels().get(rule)


def scenario_level(scenario: Scenario) -> Level:
    """The level of the scenario's checks where neither the check nor its step says."""
    if scenario.level is not None:
        return scenario.level
    cited = [lv for ref in scenario.refs if (lv := rule_level(ref)) is not None]
    if not cited:
        return Level.MUST
    return max(cited, key=_STRENGTH.__getitem__)


def primary_rule(scenario: Scenario) -> str:
    """The rule a scenario is mainly about: its first catalogued rule id, else its first ref."""
    for ref in scenario.refs:
        if _RULE_ID.match(ref):
            return ref
    return scenario.refs[0] if scenario.refs else ""
