"""``curl -v`` for smtp:// and smtps:// URLs: ``<`` / ``>`` for lines received / sent, ``*``
for what curl reports, ``{`` / ``}`` for data counts. curl does not show the message it uploads,
so the scenario accepts any content. The progress meter (without ``-s``) is skipped."""

from __future__ import annotations

import re

from harness.importers.events import Event
from harness.importers.formats._lines import LineCollector, unreadable

__all__ = ["MARKER", "read"]

MARKER = re.compile(r"^(?:< \d{3}|> [A-Za-z]|\* )")
# The progress meter: its header, and its updates, which share a line with what follows.
_METER_HEADER = re.compile(r"^\s+(?:% Total|Dload)")
_METER = re.compile(r"^[\s\d.kMG%-]*(?:\d\d:\d\d:\d\d|--:--:--)[\s\d.:kMG-]*")


def read(text: str, path: str) -> list[Event]:
    out = LineCollector(path)
    tls_seen = False
    for number, raw in enumerate(text.replace("\r", "\n").splitlines(), 1):
        line = _METER.sub("", raw, count=1)
        if line.startswith("< "):
            out.server(line[2:], number)
        elif line.startswith("> "):
            out.client(line[2:], number)
        elif line.startswith("* "):
            if line.startswith("* SSL connection using") and not tls_seen:
                tls_seen = True
                out.tls_started(number)
            elif "Connection died" in line or "Recv failure" in line:
                out.closed(number)
        elif line.startswith(("{ [", "} [")) or _METER_HEADER.match(line) or not line.strip():
            continue
        else:
            raise unreadable(path, number, raw, "part of curl's --verbose output")
    return out.finish()  # after DATA's 354 comes the reply to the content it did not show
