"""The EHLO reply: the server's domain and its extension keywords (RFC 5321 §4.1.1.1).

    ehlo-line    = ehlo-keyword *( SP ehlo-param )
    ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")

Keywords are case-insensitive (RFC 1869 §4.3). Lines that are not keywords are ignored, except the
old-style ``AUTH=MECH ...`` line that Postfix, Sendmail and 163.com still send: its mechanisms
are merged into the AUTH list, as RFC 4954 clients commonly do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.protocol.replies import Reply

__all__ = ["Extensions"]

_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Extensions:
    """What one EHLO reply advertised.

    Attributes:
        domain: the first word of the first line.
        keywords: upper-cased keyword → its parameters.
        auth_mechanisms: upper-cased SASL mechanisms from ``AUTH`` and ``AUTH=`` lines, in order,
            without duplicates.
        ignored: lines that were neither keywords nor old-style AUTH.
    """

    domain: str = ""
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    auth_mechanisms: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    @classmethod
    def from_reply(cls, reply: Reply) -> Extensions:
        """Parse a 250 reply to EHLO. The first line is the domain, not a keyword."""
        first = reply.lines[0].decode("ascii", "replace").split()
        keywords: dict[str, tuple[str, ...]] = {}
        mechanisms: list[str] = []
        ignored: list[str] = []
        for raw in reply.lines[1:]:
            words = raw.decode("ascii", "replace").split()  # tolerates trailing spaces
            if not words:
                ignored.append("")
                continue
            head = words[0]
            if head.upper().startswith("AUTH="):
                mechanisms += [head[5:].upper(), *(w.upper() for w in words[1:])]
                continue
            if not _KEYWORD.match(head):
                ignored.append(raw.decode("ascii", "replace"))
                continue
            if head.upper() == "AUTH":
                mechanisms += [w.upper() for w in words[1:]]
                # Several AUTH lines (Outlook, 163.com) add up rather than replace each other.
                keywords["AUTH"] = (*keywords.get("AUTH", ()), *words[1:])
                continue
            keywords[head.upper()] = tuple(words[1:])
        unique = tuple(dict.fromkeys(m for m in mechanisms if m))
        return cls(
            domain=first[0] if first else "",
            keywords=keywords,
            auth_mechanisms=unique,
            ignored=tuple(ignored),
        )

    def has(self, keyword: str) -> bool:
        """True if ``keyword`` was advertised (case-insensitive); old-style AUTH= counts as AUTH."""
        key = keyword.upper()
        return key in self.keywords or (key == "AUTH" and bool(self.auth_mechanisms))

    @property
    def size_limit(self) -> int | None:
        """The SIZE limit: None if SIZE was not advertised or has no usable value, else the
        number; 0 means no fixed limit (RFC 1870 §4)."""
        params = self.keywords.get("SIZE")
        if params is None:
            return None
        if not params:
            return 0
        return int(params[0]) if params[0].isdigit() else None
