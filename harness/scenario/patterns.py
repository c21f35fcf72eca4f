"""Command patterns with placeholders, as written in ``client:`` steps: ``EHLO {domain}``."""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["PLACEHOLDERS", "compile_pattern"]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
PLACEHOLDERS: dict[str, str] = {
    # RFC 5321 §4.1.2: Domain, or an address literal in brackets (the "IPv6:" tag in any case).
    "domain": rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[(?:(?i:IPv6):[0-9A-Fa-f:.]+|[0-9.]+)\])",
    "address": r"[^\s<>@]+@[^\s<>@]+",
    "word": r"\S+",
    "any": r".*",
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# An IPv6 address literal written out in a pattern. RFC 5321 §4.1.3 spells it with ABNF strings
# (`"IPv6:" IPv6-addr`, hex digits), and ABNF strings are case-insensitive (RFC 5234 §2.3), so
# `[ipv6:2001:DB8::1]` is the same literal as `[IPv6:2001:db8::1]`.
_IPV6_LITERAL = re.compile(r"\[IPv6:[0-9A-Fa-f:.]+\]", re.IGNORECASE)


def _literal(text: str) -> str:
    """``text`` as a regex matching itself, with IPv6 address literals in any case."""
    out, pos = [], 0
    for m in _IPV6_LITERAL.finditer(text):
        out += [re.escape(text[pos : m.start()]), f"(?i:{re.escape(m.group())})"]
        pos = m.end()
    out.append(re.escape(text[pos:]))
    return "".join(out)


@lru_cache(maxsize=1024)
def compile_pattern(template: str) -> re.Pattern[str]:
    """Turn ``"EHLO {domain}"``-style text into an anchored regex.

    Raises:
        ValueError: an unknown placeholder (the message lists the known ones).
    """
    out, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        name = m.group(1)
        if name not in PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{name}}}; known: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )
        out += [_literal(template[pos : m.start()]), f"(?:{PLACEHOLDERS[name]})"]
        pos = m.end()
    out.append(_literal(template[pos:]))
    return re.compile("".join(out), re.DOTALL)
