"""The three kinds of YAML file a user writes for the harness, told apart by their top-level
keys, each checked by the loader that kind already has (for ``smtp-harness validate``).

* a scenario (``harness.scenario.loader``): ``id``, ``client`` as a mapping, ``exchange``, ...;
* a client config (``harness.adapters.command``): ``name``, ``program``, ``args``, ``tls``, ...;
* a known-deviations file (``harness.deviations``): ``client`` as a name, ``deviations``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.adapters.command import CommandConfig
from harness.deviations import load_deviations
from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario
from harness.yaml_nodes import compose, read_yaml_text

__all__ = ["KIND_NAMES", "check_file", "detect_kind"]

KIND_NAMES = {"scenario": "scenario", "client": "client config", "deviations": "deviations file"}


def detect_kind(path: str | Path) -> str:
    """``scenario``, ``client`` or ``deviations``, from the file's top-level keys. Anything that
    is not clearly a client config or a deviations file is read as a scenario, whose loader then
    names what is wrong.

    Raises:
        ScenarioError: the file cannot be read or is not YAML (the error any loader would give).
    """
    root, _ = compose(read_yaml_text(path, "file"), str(path))
    if not isinstance(root, yaml.MappingNode):
        return "scenario"
    keys = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    if "id" in keys:  # every scenario has one; neither other kind may
        return "scenario"
    if "deviations" in keys or isinstance(keys.get("client"), yaml.ScalarNode):
        return "deviations"
    if "program" in keys or "name" in keys:
        return "client"
    return "scenario"


def check_file(path: str | Path, kind: str | None = None) -> tuple[str, Scenario | None]:
    """Load ``path`` as ``kind`` (detected when None); the kind and, for a scenario, the
    scenario (so the caller can check ids across files).

    Raises:
        ScenarioError: the file is invalid for its kind, with file:line and field.
    """
    kind = kind or detect_kind(path)
    if kind == "client":
        CommandConfig.from_file(path)
        return kind, None
    if kind == "deviations":
        load_deviations(path)
        return kind, None
    return kind, load_scenario(path)
