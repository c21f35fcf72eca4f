"""``smtp-harness import FILE [--format F] [-o OUT.yaml]``: a scenario from a client's
transcript (smtplib debug output, swaks, curl -v, msmtp --debug)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError
from harness.importers.build import Origin, build_scenario
from harness.importers.formats import DESCRIPTIONS, FORMATS, read_transcript
from harness.importers.secrets import Redactor
from harness.scenario.loader import parse_scenario
from harness.scenario.model import Scenario, TlsMode
from harness.scenario.writer import dump_scenario

__all__ = ["import_transcript", "register", "scenario_text"]


def scenario_text(scenario: Scenario) -> str:
    """The scenario as YAML, checked to load again (a file that does not is a harness bug)."""
    text = dump_scenario(scenario)
    parse_scenario(text, "<written scenario>")
    return text


def _default_id(path: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).stem).strip("-.") or "transcript"
    return f"imported.{stem}"


def import_transcript(
    path: str | Path,
    *,
    format: str | None = None,
    scenario_id: str | None = None,
    redact_message: bool = False,
    tls: TlsMode | None = None,
) -> Scenario:
    """Read a transcript file and build the scenario that replays it.

    Raises:
        ScenarioError: unreadable file, unknown format, or a line that cannot be read.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise ScenarioError(f"cannot read the transcript: {exc}", path=str(p)) from None
    name, events = read_transcript(text, str(p), format)
    origin = Origin(
        path=str(p),
        what=f"{DESCRIPTIONS[name]} ({p.name})",
        scenario_id=scenario_id or _default_id(str(p)),
    )
    return build_scenario(events, origin, redactor=Redactor(redact_message), tls=tls)


def cmd_import(args: argparse.Namespace) -> int:
    scenario = import_transcript(
        args.file,
        format=args.format,
        scenario_id=args.id,
        redact_message=args.redact_message,
        tls=TlsMode(args.tls) if args.tls else None,
    )
    text = scenario_text(scenario)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({scenario.id})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import",
        help="write a scenario from a client's transcript (smtplib, swaks, curl -v, msmtp --debug)",
    )
    parser.add_argument("file", help="the transcript")
    parser.add_argument(
        "--format", choices=list(FORMATS), help="the transcript's format (default: guessed)"
    )
    parser.add_argument("-o", "--output", metavar="FILE.yaml", help="default: standard output")
    parser.add_argument("--id", help="the scenario id (default: imported.<file name>)")
    parser.add_argument(
        "--redact-message",
        action="store_true",
        help="replace the addresses and the message body by generated ones",
    )
    parser.add_argument(
        "--tls",
        choices=[m.value for m in TlsMode],
        help="the TLS mode, where the transcript cannot show it (smtplib's SMTP_SSL: implicit)",
    )
    parser.set_defaults(func=cmd_import)
