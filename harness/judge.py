"""Judgement: the evidence of one run → a graded verdict with its reasons. Pure: no I/O.

The runner gathers the evidence (what the client reported, what the server saw); this module
alone decides. The grades follow the RFC's own: a MUST broken fails, a SHOULD not followed is
non-strict, what the RFC leaves open is info, and a feature the client legally avoided (it said
HELO, so it never used PIPELINING) is not-exercised. Behaviour the RFC allows never fails:

- HELO instead of EHLO where the task needs no extension (RFC 5321 §3.2): the server answered it
  (see fake_servers.playback), and a script that then needs an extension ends not-exercised; the
  wire rules (CRLF, dot-stuffing, advertised parameters only) are still checked.
- Refusing bad input before connecting (CR/LF or non-ASCII in an address): judged on the outcome.
- Reporting a lost connection instead of the last code when the server hung up (RFC 5321 §3.8).
- Lacking an optional extension (SMTPUTF8) and failing cleanly before MAIL.

When the server itself broke (an exception inside it, or a scenario whose own waits cannot fit
in its time limit), the verdict is ``error``: the run says nothing about the client.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.grading import primary_rule, scenario_level
from harness.outcome import ClientOutcome
from harness.results import LEVEL_VERDICT, Failure, Result, Verdict
from harness.scenario.model import ClientTask, Level, Outcome, Scenario
from harness.transcript import Direction, Transcript

__all__ = ["Evidence", "SessionEvidence", "judge", "judge_server_side", "refusable_input"]

# Rules (by prefix) about EHLO and the extensions it advertises: a HELO client exercises none.
_EXTENSION_RULES = (
    *("R-EHLO-", "R-EXT-", "R-PIPE-", "R-SIZE-", "R-8BIT-", "R-UTF8-"),
    *("R-BDAT-", "R-DSN-", "R-ESC-", "R-AUTH-", "R-TLS-"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEvidence:
    """What the server saw of the (first) connection.

    Attributes:
        transcript: every byte both ways.
        failure: the first way the client left the script, if it did.
        ended: the connection ended before the run did (False: the client still held it open).
        complete: the script ran to its end, or to a point where the rest was optional.
        pending: the steps still expected when it ended, for people.
        fault: the session-ending injected fault that hit it, if any.
        data_accepted: the server sent a 2xx to a message's content.
        server_closed: the server hung up by the script's own ``close`` step.
        helo_for_ehlo: the client said HELO where the script had EHLO; the keywords the scripted
            EHLO reply would have advertised (empty: none). None: no such substitution.
        harness_error: the server itself broke (an exception, a scripted wait past
            limits.total): what happened. The run then says nothing about the client.
    """

    transcript: Transcript
    failure: Failure | None = None
    ended: bool = True
    complete: bool = False
    pending: tuple[str, ...] = ()
    fault: str = ""
    data_accepted: bool = False
    server_closed: bool = False
    helo_for_ehlo: tuple[str, ...] | None = None
    helo_after_tls: bool = False
    harness_error: str = ""
    talked_first: bool = False  # the client sent bytes before the (delayed) greeting


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """Everything a verdict is decided from.

    Attributes:
        scenario: what was played.
        client: the adapter's name.
        reports_codes: the adapter can tell which reply code made the client fail.
        outcome: what the client reported; None if it reported nothing in time.
        session: the server's side; None if the client never connected.
        faults: the injected faults, described with their seed ("" if none).
    """

    scenario: Scenario
    client: str
    reports_codes: bool
    outcome: ClientOutcome | None
    session: SessionEvidence | None
    faults: str = ""


def judge(evidence: Evidence) -> Result:
    """The graded verdict of one run, with the message, level and rule that decided it."""
    session = evidence.session
    outcome = evidence.outcome
    if session is not None and session.harness_error:
        # Whatever the client did, the script could not be played to it: not its failure.
        result = _result(evidence, Verdict.ERROR, f"harness error: {session.harness_error}")
    elif outcome is not None and outcome.unsupported and not _left_script_first(session):
        result = _result(evidence, Verdict.SKIP, outcome.unsupported)
    elif session is None:
        result = _judge_unconnected(evidence)
    elif session.fault and session.failure is None:
        result = _judge_after_fault(evidence, session)
    elif session.failure is not None:
        result = _judge_departure(evidence, session, session.failure)
    elif not session.ended or not session.complete:
        result = _unfinished(evidence, session)
    else:
        result = _judge_outcome(evidence, session)
    if evidence.faults and result.verdict is Verdict.FAIL and "(seed " not in result.message:
        result.message += f" [faults: {evidence.faults}]"
    return result


# A client still running when the harness stopped it: a failure of the client ("hung"), never
# an error of the harness.
_HUNG = "hung: the client had not reported an outcome when the harness stopped it"

# --- the cases -------------------------------------------------------------------------------


def _judge_unconnected(ev: Evidence) -> Result:
    """No connection: fine only for a client that refused bad input, judged on its outcome."""
    outcome, expect = ev.outcome, ev.scenario.expect
    refusable = refusable_input(ev.scenario.client)
    if outcome is None or outcome.outcome is not Outcome.FAILED or not refusable:
        message = "the client never connected"
        if outcome is not None:
            message += f" (it reported {outcome.describe()})"
        return _graded(ev, Level.MUST, message)
    note = f"the client refused the task before connecting ({refusable})"
    if Outcome.FAILED in expect.outcomes:
        return _result(ev, Verdict.PASS, notes=[note])
    if ev.scenario.client.required_extension == "SMTPUTF8":
        return _result(
            ev,
            Verdict.NOT_EXERCISED,
            "the client does not send non-ASCII addresses (SMTPUTF8 is optional, RFC 6531)",
            notes=[note],
        )
    return _graded(ev, _outcome_level(ev), f"{note}; expected {_wanted(ev)}")


def _judge_after_fault(ev: Evidence, session: SessionEvidence) -> Result:
    """After a session-ending fault: the client must have reported, and must not claim a
    delivery the server never accepted."""
    outcome = ev.outcome
    if outcome is None and session.fault.startswith("stall") and ev.scenario.client.timeout:
        # The task told the client when to give up (client.timeout): still waiting is hung.
        return _graded(ev, Level.MUST, f"{_HUNG}, after {session.fault}", rule="R-TMO-2")
    if outcome is None and session.fault.startswith("stall"):
        # RFC 5321 §4.5.3.2 lets a client wait minutes for a reply: still waiting is no fault.
        return _result(
            ev,
            Verdict.PASS,
            notes=[f"the client was still waiting when the run ended, after {session.fault}"],
        )
    if outcome is None:
        return _graded(
            ev, Level.MUST, f"the client reported nothing after the fault {session.fault}"
        )
    if (
        outcome.outcome is Outcome.DELIVERED
        and ev.scenario.client.sends
        and not session.data_accepted
    ):
        return _graded(
            ev,
            Level.MUST,
            f"the client reported delivered, but the fault {session.fault} came before the "
            "server accepted the message",
        )
    return _result(ev, Verdict.PASS)


def _judge_departure(ev: Evidence, session: SessionEvidence, failure: Failure) -> Result:
    """The client left the script: graded at the level of the check it broke."""
    task = ev.scenario.client
    if session.helo_for_ehlo is not None and not failure.wire:
        # Not a wire rule: the script went on to something only an EHLO client does.
        return _result(
            ev,
            Verdict.NOT_EXERCISED,
            "the client said HELO (RFC 5321 §3.2 allows it), so it could not follow the rest of "
            f"the script: {failure.message}",
            notes=[_helo_note(session.helo_for_ehlo)],
        )
    if (
        task.required_extension == "SMTPUTF8"
        and ev.outcome is not None
        and ev.outcome.outcome is Outcome.FAILED
        and not _sent_verb(session.transcript, b"MAIL")
        and failure.kind in ("closed", "unexpected")
    ):
        return _result(
            ev,
            Verdict.NOT_EXERCISED,
            "the client gave up before MAIL: it does not send non-ASCII addresses (SMTPUTF8 is "
            "optional, RFC 6531)",
        )
    level = failure.level or scenario_level(ev.scenario)
    return _graded(ev, level, failure.message, rule=failure.rule)


def _judge_outcome(ev: Evidence, session: SessionEvidence) -> Result:
    """The script ran to its end: judge what the client reported."""
    outcome, expect = ev.outcome, ev.scenario.expect
    if outcome is None:
        return _graded(ev, Level.MUST, _HUNG)
    if outcome.outcome not in expect.outcomes:
        return _graded(
            ev,
            _outcome_level(ev),
            f"the client reported {outcome.describe()}; expected {_wanted(ev)}",
        )
    notes: list[str] = []
    if ev.reports_codes:
        codes_ok = (
            outcome.outcome is not Outcome.FAILED
            or not expect.codes
            or any(c.matches(outcome.code) for c in expect.codes)
        )
        if not codes_ok:
            wanted = " or ".join(str(c) for c in expect.codes)
            if outcome.code is not None:
                return _graded(
                    ev,
                    _outcome_level(ev),
                    f"the client failed with code {outcome.code}; expected {wanted}",
                )
            if session.server_closed:
                notes.append(
                    f"the client reported the lost connection rather than the {wanted} before it "
                    "(RFC 5321 §3.8 lets it treat the close as the failure)"
                )
            else:
                return _result(
                    ev,
                    Verdict.INFO,
                    f"the client failed without saying the reply code {wanted} (no RFC requires "
                    "a client to report it)",
                    level=Level.INFO,
                )
        if expect.replies is not None:
            got = list(outcome.replies or ())
            if len(got) != len(expect.replies) or not all(
                c.matches(g) for c, g in zip(expect.replies, got, strict=False)
            ):
                return _graded(
                    ev,
                    _outcome_level(ev),
                    f"operation replies were {got}; expected {[str(c) for c in expect.replies]}",
                )
    return _judge_session_choices(ev, session, notes)


def _judge_session_choices(ev: Evidence, session: SessionEvidence, notes: list[str]) -> Result:
    """A session that followed the script: graded by the legal choices the client made on the
    way (speaking before the greeting, HELO), which the server alone can see."""
    if session.talked_first:
        return _result(
            ev,
            Verdict.NON_STRICT,
            "the client sent commands before the server's greeting; RFC 5321 §4.3.1: \"The "
            'sender SHOULD wait for this greeting message before sending any commands."',
            rule="R-GREET-2",
            notes=notes,
        )
    if session.helo_after_tls:
        return _result(
            ev,
            Verdict.NON_STRICT,
            'the client said HELO as its first command after STARTTLS; RFC 3207 §4.2: "The '
            "client SHOULD send an EHLO command as the first command after a successful TLS "
            'negotiation."',
            rule="R-TLS-3",
            notes=notes,
        )
    if session.helo_for_ehlo is not None:
        if session.helo_for_ehlo and _about_extensions(ev.scenario):
            return _result(
                ev,
                Verdict.NOT_EXERCISED,
                _helo_note(session.helo_for_ehlo),
                notes=notes,
            )
        notes.append(_helo_note(session.helo_for_ehlo))
    return _result(ev, Verdict.PASS, notes=notes)


def judge_server_side(scenario: Scenario, session: SessionEvidence) -> Result:
    """The verdict on what the server saw, where no client reports an outcome (the pytest
    fixtures, where the application is the client, and ``serve``).

    Graded as :func:`judge` grades the same session, less what only the client's report can
    decide: a departure at the level of the check it broke, a session that ended early at the
    scenario's level, a legal choice (HELO, speaking first) never failed.
    """
    ev = Evidence(scenario=scenario, client="", reports_codes=False, outcome=None, session=session)
    if session.harness_error:
        return _result(ev, Verdict.ERROR, f"harness error: {session.harness_error}")
    if session.failure is not None:
        return _judge_departure(ev, session, session.failure)
    if not session.complete:
        return _unfinished(ev, session)
    return _judge_session_choices(ev, session, [])


def _unfinished(ev: Evidence, session: SessionEvidence) -> Result:
    """The script did not run to its end: graded at the scenario's level."""
    what = (
        "the session ended before the script did"
        if session.ended
        else "the client kept the connection open without finishing the script"
    )
    expected = " | ".join(session.pending)
    return _graded(ev, scenario_level(ev.scenario), f"{what}; expected: {expected}")


def _left_script_first(session: SessionEvidence | None) -> bool:
    """Whether a client that said it cannot do the task broke the script before (a failure
    then, not a skip): anything but giving up with QUIT or by closing the connection."""
    failure = session.failure if session is not None else None
    if failure is None or failure.kind == "closed":
        return False
    return not failure.actual.upper().startswith("QUIT")


# --- what the task asks for --------------------------------------------------------------------


def refusable_input(task: ClientTask) -> str:
    """Why a client may refuse this task before connecting ("" if it may not): addresses that
    cannot go on the wire as given (RFC 5321 §4.1.2, §4.5.3.1; RFC 6531)."""
    for address in (task.mail_from, *task.rcpt_to):
        if any(c in address for c in "\r\n\x00"):
            return f"a CR, LF or NUL in the address {address!r}"
        if not address.isascii():
            return f"the non-ASCII address {address!r}"
        local, _, domain = address.rpartition("@")
        if len(local) > 64 or len(domain) > 255:
            return f"the address {address[:40]!r}... is over the RFC 5321 §4.5.3.1 limits"
    if task.ehlo_name is not None and any(c in task.ehlo_name for c in "\r\n\x00"):
        return "a CR, LF or NUL in the EHLO name"
    return ""


# --- helpers ---------------------------------------------------------------------------------


def _about_extensions(scenario: Scenario) -> bool:
    """The scenario is about EHLO or an extension, so a HELO session did not exercise it."""
    area = scenario.id.split(".", 1)[0]
    return area in ("ehlo", "extensions") or any(
        ref.startswith(_EXTENSION_RULES) for ref in scenario.refs
    )


def _helo_note(keywords: tuple[str, ...]) -> str:
    offered = ", ".join(keywords) if keywords else "no extensions"
    return (
        "the client said HELO where the script has EHLO (RFC 5321 §3.2 allows it); the EHLO "
        f"reply would have offered: {offered}"
    )


def _sent_verb(transcript: Transcript, verb: bytes) -> bool:
    sent = transcript.sent_by(Direction.CLIENT).upper()
    return sent.startswith(verb + b" ") or b"\n" + verb + b" " in sent


def _outcome_level(ev: Evidence) -> Level:
    return ev.scenario.expect.level or scenario_level(ev.scenario)


def _wanted(ev: Evidence) -> str:
    return " or ".join(o.value for o in ev.scenario.expect.outcomes)


def _graded(ev: Evidence, level: Level, message: str, *, rule: str = "") -> Result:
    return _result(ev, LEVEL_VERDICT[level], message, level=level, rule=rule)


def _result(
    ev: Evidence,
    verdict: Verdict,
    message: str = "",
    *,
    level: Level | None = None,
    rule: str = "",
    notes: list[str] | None = None,
) -> Result:
    session = ev.session
    return Result(
        scenario=ev.scenario,
        client=ev.client,
        verdict=verdict,
        message=message,
        level=level,
        rule=(rule or primary_rule(ev.scenario)) if verdict is not Verdict.PASS else "",
        failure=session.failure if session else None,
        outcome=ev.outcome,
        transcript=session.transcript if session else Transcript(),
        notes=list(notes or ()),
        cut_by_fault=session.fault if session else "",
    )
