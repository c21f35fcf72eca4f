"""``msmtp --debug``: ``<--`` / ``-->`` for lines received / sent, after a dump of the
settings (``key = value``); TLS is reported as "TLS session parameters:" and indented lines."""

from __future__ import annotations

import re

from harness.importers.events import Event
from harness.importers.formats._lines import LineCollector, unreadable

__all__ = ["MARKER", "read"]

MARKER = re.compile(r"^(?:<-- |--> )")
_SETTING = re.compile(r"^[a-z_ ]+ = ")
_PROSE = (
    "using account",
    "reading recipients",
    "TLS session parameters:",
    "TLS certificate information:",
    "msmtp: ",
    "ignoring system configuration",
    "loaded system configuration",
    "loaded user configuration",
    "ignoring user configuration",
)


def read(text: str, path: str) -> list[Event]:
    out = LineCollector(path)
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("<-- "):
            out.server(line[4:], number)
        elif line.startswith("-->"):
            out.client(line[4:], number)
        elif line.startswith("TLS session parameters:"):
            out.tls_started(number)
        elif _SETTING.match(line) or line.startswith(_PROSE) or line.startswith(("    ", "\t")):
            continue
        elif line.strip():
            raise unreadable(path, number, line, "part of msmtp's --debug output")
    return out.finish()
