"""swaks' transcript: ``<-`` / `` ->`` for lines received / sent, ``<~`` / `` ~>`` inside TLS,
``<**`` / ``<~*`` for error replies, ``===`` for what swaks itself reports."""

from __future__ import annotations

import re

from harness.importers.events import Event
from harness.importers.formats._lines import LineCollector, unreadable

__all__ = ["MARKER", "read"]

MARKER = re.compile(r"^(?:<-  |<~  |<\*\* |<~\* | -> | ~> | \*> |=== )")
_SERVER = re.compile(r"^(?:<-|<~|<\*\*|<~\*) {1,2}(.*)$")
_CLIENT = re.compile(r"^ (?:->|~>|\*>) ?(.*)$")


def read(text: str, path: str) -> list[Event]:
    out = LineCollector(path)
    for number, line in enumerate(text.splitlines(), 1):
        if m := _SERVER.match(line):
            out.server(m.group(1), number)
        elif m := _CLIENT.match(line):
            out.client(m.group(1), number)
        elif line.startswith("=== "):
            if line.startswith("=== TLS started"):
                out.tls_started(number)
        elif line.startswith("*** "):
            if "closed connection" in line or "Remote host closed" in line:
                out.closed(number)
        elif line.strip():
            raise unreadable(path, number, line, "part of a swaks transcript")
    return out.finish()
