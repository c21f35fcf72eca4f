"""Known deviations: scenarios a given client is known to fail, each with its reason and rule.

A listed scenario that fails is reported ``xfail`` (shown and counted, never hidden); one that
passes is reported ``xpass`` and fails the run, so the list stays true. The built-in lists live
in ``harness/adapters/deviations/<client>.yaml``; ``--deviations FILE`` adds more. Every entry
names the rule the client breaks, quotes the RFC words it relies on (``quote``, verbatim, with
``quote_from`` saying where they are), and gives the trigger as text of the scenario file:

    client: swaks
    deviations:
      - scenario: framing.unknown-2yz-codes
        rule: R-REPLY-5
        quote_from: RFC 5321 §4.2
        quote: a sender-SMTP MUST be prepared to handle codes not specified in this document
          and MUST do so by interpreting the first digit only.
        reason: treats the 253 reply to MAIL as an error, sends QUIT and exits 23
        trigger: 253 2.1.0 Sender ok
        fuzz: ["mail:code-2xx"]     # optional: fuzz findings that are this same deviation

``fuzz`` names findings of ``smtp-harness fuzz`` by the stage and label of their changed replies
(``STAGE:LABEL``, a prefix of ``stage:label`` as the fuzz report prints them): a finding whose
every change matches is reported as known, not as new.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.corpus import report_path
from harness.results import Result, Verdict
from harness.yaml_nodes import compose, node_line, read_yaml_text

__all__ = ["Deviation", "apply_deviations", "builtin_deviations_path", "load_deviations"]

_BUILTIN = Path(__file__).parent / "adapters" / "deviations"
_FIELDS = ("scenario", "rule", "quote_from", "quote", "reason", "trigger")


@dataclass(frozen=True, slots=True, kw_only=True)
class Deviation:
    scenario: str
    rule: str
    reason: str
    trigger: str  # text of the scenario file that provokes it (parts joined by " / ")
    quote: str = ""  # the RFC words the entry relies on, verbatim
    quote_from: str = ""  # where they are, e.g. "RFC 4954 §4"
    location: str = ""
    fuzz: tuple[str, ...] = ()  # STAGE:LABEL prefixes of fuzz findings that are this deviation

    def describe(self) -> str:
        return (
            f'known deviation ({self.rule}; {self.quote_from}: "{self.quote}"): {self.reason}; '
            f"triggered by: {self.trigger}"
        )


def builtin_deviations_path(client: str) -> Path:
    return _BUILTIN / f"{client}.yaml"


def load_deviations(path: str | Path, *, client: str | None = None) -> dict[str, Deviation]:
    """Read one deviations file.

    Raises:
        ScenarioError: the file is invalid, or lists another client than ``client``.
    """
    p = Path(path)
    text = read_yaml_text(p, "deviations file")
    root, r = compose(text, str(p))
    keys = r.mapping(root, "", ("client", "deviations"), required=("client", "deviations"))
    named = r.string(keys["client"], "client")
    if client is not None and named != client:
        raise r.error(keys["client"], "client", f"this file is for {named!r}, not {client!r}")
    out: dict[str, Deviation] = {}
    for i, item in enumerate(r.sequence(keys["deviations"], "deviations")):
        field = f"deviations[{i}]"
        d = r.mapping(item, field, (*_FIELDS, "fuzz"), required=_FIELDS)
        scenario = r.string(d["scenario"], f"{field}.scenario")
        if scenario in out:
            raise r.error(d["scenario"], f"{field}.scenario", f"{scenario!r} is listed twice")
        out[scenario] = Deviation(
            scenario=scenario,
            rule=r.string(d["rule"], f"{field}.rule"),
            reason=r.string(d["reason"], f"{field}.reason"),
            trigger=r.string(d["trigger"], f"{field}.trigger"),
            quote=r.string(d["quote"], f"{field}.quote"),
            quote_from=r.string(d["quote_from"], f"{field}.quote_from"),
            location=f"{report_path(p)}:{node_line(item)}",
            fuzz=r.strings(d["fuzz"], f"{field}.fuzz") if "fuzz" in d else (),
        )
    return out


def deviations_for(client: str, extra: Iterable[str | Path] = ()) -> dict[str, Deviation]:
    """The built-in list for ``client`` (if any) plus the given files."""
    found: dict[str, Deviation] = {}
    builtin = builtin_deviations_path(client)
    if builtin.is_file():
        found.update(load_deviations(builtin, client=client))
    for path in extra:
        # Several files for several clients may be given at once; each applies to its own client.
        entries = load_deviations(path)
        if entries_client(path) == client:
            found.update(entries)
    return found


def entries_client(path: str | Path) -> str:
    """The client a deviations file is for (its ``client`` key)."""
    root, r = compose(read_yaml_text(path, "deviations file"), str(path))
    keys = r.mapping(root, "", ("client", "deviations"), required=("client", "deviations"))
    return r.string(keys["client"], "client")


def apply_deviations(
    result: Result, deviations: dict[str, Deviation], *, strict: bool = False
) -> Result:
    """Turn the verdict of a listed scenario into xfail (it failed) or xpass (it did not).

    A list names failures: a listed scenario that now grades pass, non-strict, info or
    not-exercised is xpass, so an entry whose rule turned out to be a SHOULD (or the client's
    behaviour legal) is removed from the list. With ``strict``, a non-strict result counts as
    the failure the entry names. Skips and errors are left as they are: they say nothing.

    A session cut short by an injected fault (``421``, ``reset``, ``half-close``, ``stall``)
    never played the rest of the script, so a deviation that did not show proves nothing: the
    result keeps its grade, with a note, and is no xpass. One that did show is still xfail.
    """
    deviation = deviations.get(result.scenario.id)
    if deviation is None or result.verdict in (Verdict.SKIP, Verdict.ERROR):
        return result
    if result.verdict is Verdict.FAIL or (strict and result.verdict is Verdict.NON_STRICT):
        result.verdict = Verdict.XFAIL
        result.notes.append(f"{deviation.describe()} [{deviation.location}]")
    elif result.cut_by_fault:
        result.notes.append(
            f"a known deviation ({deviation.location}), not reached: the fault "
            f"{result.cut_by_fault} ended the session first"
        )
    else:
        graded = (
            "passed" if result.verdict is Verdict.PASS else f"was graded {result.verdict.value}"
        )
        result.verdict = Verdict.XPASS
        result.message = (
            f"listed as a known deviation but {graded}: remove it from {deviation.location}"
        )
    return result
