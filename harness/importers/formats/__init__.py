"""Transcript readers, one module per format, and the guess of the format of a file.

Each reader turns a transcript into session events (harness.importers.events) and raises a
ScenarioError naming the first line it cannot read.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from harness.errors import ScenarioError
from harness.importers.events import Event
from harness.importers.formats import curl, msmtp, smtplib, swaks

__all__ = ["DESCRIPTIONS", "FORMATS", "detect_format", "read_transcript"]

_MODULES: dict[str, ModuleType] = {"smtplib": smtplib, "swaks": swaks, "curl": curl, "msmtp": msmtp}
FORMATS: dict[str, Callable[[str, str], list[Event]]] = {
    name: module.read for name, module in _MODULES.items()
}
DESCRIPTIONS = {
    "smtplib": "Python smtplib's set_debuglevel(1) or (2) output",
    "swaks": "a swaks transcript",
    "curl": "curl -v output for an smtp:// URL",
    "msmtp": "msmtp --debug output",
}


def detect_format(text: str, path: str) -> str:
    """The format whose markers start the most lines.

    Raises:
        ScenarioError: no format's markers are found, or two formats tie.
    """
    lines = text.splitlines()
    counts = {
        name: sum(1 for line in lines if module.MARKER.match(line))
        for name, module in _MODULES.items()
    }
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    (best, n), (second, m) = ranked[0], ranked[1]
    if n == 0:
        raise ScenarioError(
            "cannot tell the transcript's format: no line looks like smtplib, swaks, curl -v "
            "or msmtp --debug output; give --format",
            path=path,
        )
    if n == m:
        raise ScenarioError(
            f"cannot tell the transcript's format: it looks as much like {best} as {second}; "
            "give --format",
            path=path,
        )
    return best


def read_transcript(text: str, path: str, format: str | None = None) -> tuple[str, list[Event]]:
    """The format (``format``, or the one detected) and the session events of a transcript.

    Raises:
        ScenarioError: an unknown format, or a line the reader cannot read (named by number).
    """
    name = format or detect_format(text, path)
    if name not in FORMATS:
        raise ScenarioError(
            f"unknown transcript format {name!r}; expected one of: {', '.join(FORMATS)}",
            field="--format",
        )
    return name, FORMATS[name](text, path)
