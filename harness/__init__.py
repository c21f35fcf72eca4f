"""smtp-harness: check any SMTP client against scripted servers described in YAML.

The public names are re-exported here. Nothing that starts servers is imported eagerly.
"""

from harness.errors import (
    AdapterError,
    HarnessError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    ScenarioError,
)
from harness.outcome import ClientOutcome
from harness.results import Failure, Result, Verdict
from harness.scenario.loader import load_scenario, load_scenarios, parse_scenario
from harness.scenario.model import ClientTask, Outcome, Scenario, TlsMode

__version__ = "0.1.0"

__all__ = [
    "AdapterError",
    "ClientOutcome",
    "ClientTask",
    "Failure",
    "HarnessError",
    "LocalProtocolError",
    "Outcome",
    "ProtocolError",
    "RemoteProtocolError",
    "Result",
    "Scenario",
    "ScenarioError",
    "TlsMode",
    "Verdict",
    "load_scenario",
    "load_scenarios",
    "parse_scenario",
]
