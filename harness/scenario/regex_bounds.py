"""Refuse regular expressions whose matching time can blow up (catastrophic backtracking).

Python's ``re`` backtracks. A pattern such as ``(a+)+``, ``(a*)*`` or ``(a|a)*`` takes time
exponential in the length of a line that almost matches, and it runs on the server's event loop,
so one such step stalls every session. google-re2 is not assumed to be installed, and the same
file must be valid everywhere, so the check is static and the same wherever it runs:

- an unbounded (or wide) repeat's body must not match the empty string: ``(a*)*``, ``(a?)+``;
- its alternatives must start differently, so one iteration matches in one way only:
  ``(a|a)*`` and ``(a|ab)+`` are refused, ``( SIZE=\\d+| BODY=\\w+)*`` is fine;
- if the body holds a variable repeat, the body must begin or end with a character that repeat
  cannot match, so the line splits into iterations in one way only: ``(a+)+`` and
  ``(\\w+\\w)+`` are refused, ``( X=\\S+)+`` and ``(\\w+\\.)+`` are fine;
- two variable repeats of one character class side by side, over shared characters (``.*.*``, ``\\S+\\S+``) are refused
  anywhere: they say no more than one repeat and cost time quadratic in the line.

The check is conservative: a refused pattern can always be rewritten (``[\\w.]+`` for
``(\\w+\\.?)+``). Repeats separated by a literal (``.*x.*``) stay allowed; their cost is
polynomial, bounded by ``limits.line``.
"""

from __future__ import annotations

import re
import re._constants as sre_c  # type: ignore[import-not-found]  # re's own parser
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["check_bounded"]

CharSet = Callable[[str], bool]
_ALL: CharSet = lambda c: True  # noqa: E731
# Sets are compared on these characters plus every literal the pattern names.
_SAMPLE = [chr(i) for i in range(0x250)]
_CATEGORIES: dict[Any, CharSet] = {
    sre_c.CATEGORY_DIGIT: lambda c: c.isdigit(),
    sre_c.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    sre_c.CATEGORY_SPACE: lambda c: c.isspace(),
    sre_c.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre_c.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    sre_c.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}
_REPEATS = (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None))
_ZERO_WIDTH = (sre_c.AT, sre_c.ASSERT, sre_c.ASSERT_NOT)


def check_bounded(pattern: str) -> None:
    """Raise ValueError, saying why, if matching ``pattern`` can backtrack without bound.

    Raises:
        ValueError: the pattern is invalid, or has one of the shapes listed in the module doc.
    """
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    checker = _Checker(pattern, parsed.state.flags)
    checker.sequence(list(parsed), checker.flags)


class _Checker:
    def __init__(self, pattern: str, flags: int) -> None:
        self.flags = flags
        self.sample = sorted(set(_SAMPLE) | set(pattern))

    # -- what a piece of pattern can match --

    def charset(self, op: Any, av: Any, flags: int) -> CharSet | None:
        """The characters a one-character item matches; None if it is not one character."""
        fold = bool(flags & re.IGNORECASE)
        base: CharSet
        if op is sre_c.LITERAL:
            ch = chr(av)
            base = (lambda c: c.lower() == ch.lower()) if fold else (lambda c: c == ch)
        elif op is sre_c.NOT_LITERAL:
            ch = chr(av)
            base = (lambda c: c.lower() != ch.lower()) if fold else (lambda c: c != ch)
        elif op is sre_c.ANY:
            base = _ALL if flags & re.DOTALL else (lambda c: c != "\n")
        elif op is sre_c.IN:
            base = self._in_set(av, fold)
        else:
            return None
        return base

    def _in_set(self, items: list[tuple[Any, Any]], fold: bool) -> CharSet:
        negate = False
        tests: list[CharSet] = []
        for op, av in items:
            if op is sre_c.NEGATE:
                negate = True
            elif op is sre_c.LITERAL:
                tests.append(_equal_to(av))
            elif op is sre_c.RANGE:
                tests.append(_within(av[0], av[1]))
            elif op is sre_c.CATEGORY:
                tests.append(_CATEGORIES.get(av, _ALL))
            else:
                tests.append(_ALL)  # unknown item: assume it matches anything

        def member(c: str) -> bool:
            variants = {v for v in (c, c.lower(), c.upper()) if len(v) == 1} if fold else {c}
            hit = any(t(v) for v in variants for t in tests)
            return hit != negate

        return member

    def chars(self, items: Iterable[tuple[Any, Any]], flags: int) -> CharSet:
        """Every character a sequence may match anywhere in it (a superset)."""
        sets: list[CharSet] = []
        for op, av in items:
            single = self.charset(op, av, flags)
            if single is not None:
                sets.append(single)
            elif op is sre_c.SUBPATTERN:
                sets.append(self.chars(av[3], _flags(flags, av)))
            elif op in _REPEATS:
                sets.append(self.chars(av[2], flags))
            elif op is sre_c.BRANCH:
                sets.extend(self.chars(b, flags) for b in av[1])
            elif op in _ZERO_WIDTH:
                continue
            else:
                return _ALL  # back references, conditionals: anything
        return lambda c: any(s(c) for s in sets)

    def nullable(self, items: Iterable[tuple[Any, Any]]) -> bool:
        for op, av in items:
            if op in _ZERO_WIDTH:
                continue
            if op in _REPEATS:
                if av[0] > 0 and not self.nullable(av[2]):
                    return False
            elif op is sre_c.SUBPATTERN:
                if not self.nullable(av[3]):
                    return False
            elif op is sre_c.BRANCH:
                if not any(self.nullable(b) for b in av[1]):
                    return False
            else:
                return False
        return True

    def leading(self, items: list[tuple[Any, Any]], flags: int) -> list[CharSet] | None:
        """The character sets of a sequence's fixed first characters (until the first item
        that is not one character); None where it may begin with nothing at all."""
        out: list[CharSet] = []
        for op, av in items:
            single = self.charset(op, av, flags)
            if single is not None:
                out.append(single)
                continue
            if op is sre_c.SUBPATTERN:
                inner = self.leading(list(av[3]), _flags(flags, av))
                if inner is None:
                    return out or None
                out += inner
                if len(inner) < len(av[3]):
                    return out
                continue
            if op in _REPEATS and av[0] >= 1:
                out.append(self.chars(av[2], flags))
            break
        return out or (None if self.nullable(items) else [self.chars(items, flags)])

    def disjoint(self, a: CharSet, b: CharSet) -> bool:
        return not any(a(c) and b(c) for c in self.sample)

    # -- the checks --

    def sequence(self, items: list[tuple[Any, Any]], flags: int) -> None:
        previous: CharSet | None = None  # the variable repeat just before, if nothing between
        for op, av in map(_unwrap, items):
            if op in _REPEATS:
                low, high, body = av
                if low != high and (high is sre_c.MAXREPEAT or high > 1):
                    body_chars = self.chars(body, flags)
                    single = (
                        len(body) == 1 and self.charset(body[0][0], body[0][1], flags) is not None
                    )
                    if single and previous is not None and not self.disjoint(previous, body_chars):
                        raise ValueError(
                            "two repeats side by side match the same characters (like .*.* or "
                            "\\S+\\S+): write one repeat; matching would take time quadratic in "
                            "the line"
                        )
                    self.repeated_body(list(body), flags)
                    previous = body_chars if single else None
                else:
                    previous = None
                self.sequence(list(body), flags)
                continue
            if op in _ZERO_WIDTH and op is not sre_c.AT:
                self.sequence(list(av[1]), flags)
                continue
            if op is sre_c.AT:
                continue
            previous = None
            if op is sre_c.SUBPATTERN:
                self.sequence(list(av[3]), _flags(flags, av))
            elif op is sre_c.BRANCH:
                for branch in av[1]:
                    self.sequence(list(branch), flags)

    def repeated_body(self, body: list[tuple[Any, Any]], flags: int) -> None:
        """The body of a repeat that may run many times must split a line in one way only."""
        # Look through a group around the whole body: (?:...)+ and (...)+ are the same here.
        while len(body) == 1 and body[0][0] is sre_c.SUBPATTERN:
            flags = _flags(flags, body[0][1])
            body = list(body[0][1][3])
        if self.nullable(body):
            raise ValueError(
                "a repeated group can match the empty string (like (a*)* or (a?)+): matching "
                "could backtrack without bound"
            )
        for branches in _branches(body):
            starts = [self.leading(list(b), flags) for b in branches]
            for i, a in enumerate(starts):
                for b in starts[i + 1 :]:
                    if a is None or b is None or not self._diverge(a, b):
                        raise ValueError(
                            "a repeated group has alternatives that can start alike (like "
                            "(a|a)* or (a|ab)+): matching could backtrack without bound; make "
                            "each alternative begin differently"
                        )
        inner = [self.chars(av[2], flags) for av in _variable_repeats(body)]
        if not inner:
            return
        union: CharSet = lambda c: any(s(c) for s in inner)  # noqa: E731
        alternatives = (
            [list(b) for b in body[0][1][1]]
            if len(body) == 1 and body[0][0] is sre_c.BRANCH
            else [body]
        )
        for edge in (0, -1):  # every alternative begins, or every one ends, with a delimiter
            if all(alt and self._delimits(alt[edge], flags, union) for alt in alternatives):
                return
        raise ValueError(
            "a repeat inside a repeat (like (a+)+ or (\\w+)*): matching could backtrack without "
            "bound; begin or end the repeated group with a character the inner repeat cannot "
            "match, e.g. ( X=\\S+)+ or (\\w+\\.)+"
        )

    def _delimits(self, item: tuple[Any, Any], flags: int, inner: CharSet) -> bool:
        single = self.charset(item[0], item[1], flags)
        return single is not None and self.disjoint(single, inner)

    def _diverge(self, a: list[CharSet], b: list[CharSet]) -> bool:
        return any(self.disjoint(x, y) for x, y in zip(a, b, strict=False))


def _unwrap(item: tuple[Any, Any]) -> tuple[Any, Any]:
    """``(?:X)`` with one item X and no flags is X (placeholders expand to such groups)."""
    op, av = item
    while op is sre_c.SUBPATTERN and av[1] == av[2] == 0 and len(av[3]) == 1:
        op, av = av[3][0]
    return op, av


def _flags(flags: int, subpattern: Any) -> int:
    _group, add, remove, _items = subpattern
    return int((flags | add) & ~remove)


def _equal_to(code: int) -> CharSet:
    return lambda c: ord(c) == code


def _within(low: int, high: int) -> CharSet:
    return lambda c: low <= ord(c) <= high


def _branches(items: list[tuple[Any, Any]]) -> list[list[Any]]:
    """Every alternation (BRANCH) inside ``items``, at any depth."""
    out: list[list[Any]] = []
    for op, av in items:
        if op is sre_c.BRANCH:
            out.append(list(av[1]))
            for b in av[1]:
                out += _branches(list(b))
        elif op is sre_c.SUBPATTERN:
            out += _branches(list(av[3]))
        elif op in _REPEATS:
            out += _branches(list(av[2]))
    return out


def _variable_repeats(items: list[tuple[Any, Any]]) -> list[Any]:
    """Every repeat of variable count inside ``items``, at any depth (lookarounds excluded)."""
    out: list[Any] = []
    for op, av in items:
        if op in _REPEATS:
            if av[0] != av[1]:
                out.append(av)
            out += _variable_repeats(list(av[2]))
        elif op is sre_c.SUBPATTERN:
            out += _variable_repeats(list(av[3]))
        elif op is sre_c.BRANCH:
            for b in av[1]:
                out += _variable_repeats(list(b))
    return out
