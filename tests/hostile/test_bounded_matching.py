"""Hostile scenarios: valid-looking scripts whose matching used to take minutes on the event loop.

Matching must be linear or bounded by construction: the playback tracks the set of live
positions (not every ordering or path), and the loader refuses regexes that backtrack without
bound. Each case runs through the real server with the reference client and must end within
its limits; the times are bounds, not benchmarks.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fake_servers.playback import Playback
from harness.adapters.reference import ReferenceAdapter
from harness.errors import ScenarioError
from harness.protocol.commands import Command
from harness.results import Verdict
from harness.runner import run_scenario
from harness.scenario.loader import parse_scenario
from harness.scenario.regex_bounds import check_bounded

from .conftest import SLACK

_HEAD = """\
version: 1
id: hostile.matching
limits: {total: 5, read: 2}
client:
  mail_from: a@example.com
  rcpt_to: [b@example.com]
  message: "Subject: x\\n\\nbody\\n"
expect: {outcome: delivered}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {domain}"
  - server: ["250-mx.example.com", "250 PIPELINING"]
"""
_TAIL = """\
  - client: "MAIL FROM:<a@example.com>"
  - server: "250 ok"
  - client: "RCPT TO:<b@example.com>"
  - server: "250 ok"
  - client: DATA
  - server: "354 go"
  - client: {data: message}
  - server: "250 ok"
  - client: {match: QUIT, optional: true}
  - server: "221 bye"
"""


def optional_unordered(groups: int) -> str:
    """An ``unordered`` block of optional NOOPs before the transaction (107 s at 10 before)."""
    items = "".join(
        f'      - [{{client: {{match: "NOOP {i}", optional: true}}}}, {{server: "250 ok"}}]\n'
        for i in range(groups)
    )
    return _HEAD + "  - unordered:\n" + items + _TAIL


def any_of_chain(links: int) -> str:
    """``links`` chained ``any_of``, each an optional NOOP or nothing (51 s at 22 before)."""
    items = "".join(
        f'  - any_of:\n      - [{{client: {{match: "NOOP {i}", optional: true}}}}, '
        '{server: "250 ok"}]\n      - []\n'
        for i in range(links)
    )
    return _HEAD + items + _TAIL


def _run(text: str) -> tuple[Verdict, str, float]:
    scenario = parse_scenario(text, "hostile-matching.yaml")
    started = time.monotonic()
    result = asyncio.run(run_scenario(scenario, ReferenceAdapter()))
    return result.verdict, result.message, time.monotonic() - started


@pytest.mark.parametrize(
    "text",
    [optional_unordered(10), optional_unordered(40), any_of_chain(30), any_of_chain(200)],
    ids=["unordered-10", "unordered-40", "any_of-30", "any_of-200"],
)
def test_wide_scripts_end_within_their_limits(text: str) -> None:
    verdict, message, took = _run(text)
    assert verdict is Verdict.PASS, message
    assert took < 5 + SLACK


def _play(text: str, commands: list[str]) -> Playback:
    playback = Playback(parse_scenario(text, "t.yaml"))
    playback.start()
    for line in commands:
        verb, _, argument = line.partition(" ")
        playback.on_command(Command.build(verb, argument))
    return playback


def test_optional_groups_may_come_in_any_order_and_any_may_be_left_out() -> None:
    # The old player skipped an optional group for good once it had listed it; now every
    # group still to play stays playable until the block ends.
    text = optional_unordered(10)
    started = time.monotonic()
    playback = _play(
        text, ["EHLO a.example.com", "NOOP 9", "NOOP 0", "NOOP 5", "MAIL FROM:<a@example.com>"]
    )
    assert playback.failure is None
    assert time.monotonic() - started < 2.0
    playback = _play(text, ["EHLO a.example.com", "NOOP 3", "NOOP 3"])
    assert playback.failure is not None  # each group plays once


def test_a_chain_of_any_of_is_matched_link_by_link() -> None:
    text = any_of_chain(30)
    playback = _play(text, ["EHLO a.example.com", "NOOP 29", "NOOP 3"])
    assert playback.failure is not None  # NOOP 3 is behind NOOP 29: the chain is ordered
    playback = _play(text, ["EHLO a.example.com", "NOOP 3", "NOOP 29", "MAIL FROM:<a@example.com>"])
    assert playback.failure is None


BACKTRACKING = ["EHLO (a+)+", "(a*)*b", "(a|a)*b", "(a|ab)+", "(\\w+)*!", "(a?)+b", "(x+x+)+y"]
QUADRATIC = ["EHLO .*.*x", "EHLO \\S+\\S+", "EHLO {any}{any}"]


@pytest.mark.parametrize("pattern", BACKTRACKING + QUADRATIC[:2])
def test_the_loader_refuses_a_regex_that_backtracks(pattern: str) -> None:
    text = _HEAD.replace('"EHLO {domain}"', "{regex: '" + pattern + "'}") + _TAIL
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "r.yaml")
    assert str(info.value).startswith("r.yaml:11: exchange[1].client.regex: ")


def test_the_loader_refuses_a_pattern_whose_placeholders_backtrack() -> None:
    text = _HEAD.replace('"EHLO {domain}"', '"EHLO {any}{any}"') + _TAIL
    with pytest.raises(ScenarioError, match=r"^r\.yaml:11: exchange\[1\]\.client: bad command"):
        parse_scenario(text, "r.yaml")


@pytest.mark.parametrize(
    "pattern",
    [
        "( (?i:NOTIFY|ORCPT)=\\S+)+",
        "( (?i:SIZE)=[0-9]{1,20}| (?i:BODY)=(?i:7BIT|8BITMIME))*",
        "(\\w+\\.)+com",
        "(?i:AUTH LOGIN)( \\S+)?",
        "MAIL FROM:<.*> .*",
        "(?:x|y|x)+",
    ],
)
def test_patterns_that_split_a_line_one_way_are_allowed(pattern: str) -> None:
    check_bounded(pattern)
    started = time.monotonic()
    re.fullmatch(pattern, "a" * 5000 + " NOTIFY=" * 2000 + "!")
    assert time.monotonic() - started < 1.0


# Small regexes over a two-letter alphabet: whatever the checker lets through must match a
# worst-case line (a long run of one letter, then a character nothing expects) quickly.
_ATOMS = st.sampled_from(["a", "b", "[ab]", ".", "\\w", "a+", "a*", "b+", "\\S+", "(?:ab)"])


def _regexes() -> st.SearchStrategy[str]:
    return st.recursive(
        _ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map(lambda p: f"(?:{p[0]}|{p[1]})"),
            st.tuples(inner, st.sampled_from(["+", "*", "?", "{1,3}"])).map(
                lambda p: f"(?:{p[0]}){p[1]}"
            ),
        ),
        max_leaves=6,
    )


@given(pattern=_regexes(), letter=st.sampled_from("ab"))
def test_every_pattern_the_checker_allows_matches_in_bounded_time(
    pattern: str, letter: str
) -> None:
    try:
        check_bounded(pattern)
    except ValueError:
        return
    started = time.monotonic()
    re.fullmatch(pattern, letter * 24 + "!")  # 2**24 steps for an exponential one: seconds
    assert time.monotonic() - started < 0.5, pattern
