"""Fuzz cases: a base exchange (a plain send, or a send after AUTH PLAIN/LOGIN) with some of its
replies changed, turned into an ordinary Scenario whose ``expect`` says what a correct client may
report.

The oracle is deliberately loose where the RFC is silent. A client must report ``delivered`` when
every reply up to the end of DATA says success in correct framing; it must not report ``delivered``
when any reply on that path carries a failure code (a reply whose lines disagree, R-REPLY-2, only
when every line does: RFC 5321 §4.2.1 lets a client act on the code of any line), or when the
server closed before the message was accepted. After any framing defect or unsolicited line a clean failure is always acceptable,
and so is waiting for a line end that never comes (the script then closes after a silence).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from hypothesis import strategies as st

from harness.fuzz.strategies import (
    Challenge,
    Framing,
    Segmentation,
    auth_challenges,
    ehlo_replies,
    frame,
    invalid_framings,
    replies,
    reply_codes,
    segmentations,
    unsolicited_lines,
    valid_framings,
)
from harness.protocol.replies import Reply
from harness.scenario.model import (
    AnyOf,
    AuthStep,
    ClientStep,
    ClientTask,
    Close,
    CodePattern,
    Credentials,
    Expectation,
    Limits,
    Outcome,
    Scenario,
    Send,
    Step,
)

__all__ = [
    "BASES",
    "Change",
    "FuzzCase",
    "build_scenario",
    "expectation",
    "fuzz_cases",
    "simpler_cases",
    "stages_of",
]

BASES = ("send", "auth-plain", "auth-login")
SENDER = "alice@example.com"
RECIPIENT = "bob@example.net"
MESSAGE = (
    b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.net>\r\n"
    b"Subject: fuzz\r\n\r\nHello Bob.\r\n"
)
DOMAIN = b"mx.example.com"
# The class of the reply that lets the transaction go on, per stage. EHLO and QUIT are missing:
# a failed EHLO means HELO instead, and QUIT comes after the message was accepted.
SUCCESS_CLASS = {"greeting": 2, "auth": 2, "mail": 2, "rcpt": 2, "data": 3, "dot": 2}
BASE_REPLIES = {
    "greeting": Reply.of(220, "mx.example.com ESMTP"),
    "auth": Reply.of(235, "2.7.0 Authentication successful"),
    "mail": Reply.of(250, "2.1.0 Ok"),
    "rcpt": Reply.of(250, "2.1.5 Ok"),
    "data": Reply.of(354, "End data with <CR><LF>.<CR><LF>"),
    "dot": Reply.of(250, "2.0.0 Ok: queued as 4C2E1A"),
    "quit": Reply.of(221, "2.0.0 Bye"),
}
# How long the server waits for a client that may be waiting too (see the module docstring).
SILENCE = 1.0
FUZZ_LIMITS = Limits(total=8.0, read=2.0)
NO_SEGMENTATION = Segmentation()


def stages_of(base: str) -> tuple[str, ...]:
    auth = ("auth",) if base.startswith("auth") else ()
    return ("greeting", "ehlo", *auth, "mail", "rcpt", "data", "dot", "quit")


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One reply, changed: what it means (``reply``), how it is framed, how TCP cuts it, and
    any unsolicited reply sent before it.

    ``how`` says what kind of change it is: ``reframe`` (same class of code, other text and
    line count), ``fail`` (a 4xx/5xx code), ``defect`` or ``unsolicited``.
    """

    stage: str
    how: str
    reply: Reply
    framing: Framing
    segmentation: Segmentation = NO_SEGMENTATION
    unsolicited: bytes = b""

    @property
    def data(self) -> bytes:
        return self.unsolicited + self.framing.data

    @property
    def disturbs(self) -> bool:
        """Anything a strict client may refuse: a defect or an unsolicited reply."""
        return not self.framing.valid or bool(self.unsolicited)

    def label(self) -> str:
        """A short name for what makes this change special, used to tell findings apart."""
        if self.unsolicited:
            return "unsolicited"
        if not self.framing.valid:
            return self.framing.kind
        if self.how == "fail":
            return "failure-code"
        parts = []
        base = BASE_REPLIES.get(self.stage)
        if base is not None and self.reply.code != base.code:
            parts.append(f"code-{self.reply.code // 100}xx-not-{base.code}")
        if len(self.reply.lines) > 1:
            parts.append("multi-line")
        if any(b >= 0x80 for line in self.reply.lines for b in line):
            parts.append("8-bit")
        if self.reply.lines == (b"",):
            parts.append("no-text")
        if not self.segmentation.plain:
            parts.append("segmented")
        return "+".join(parts) or "reworded"

    def describe(self) -> str:
        what = f"{self.stage}: {self.how}, code {self.reply.code}, {self.framing.kind} framing"
        if self.unsolicited:
            what += f", after the unsolicited {self.unsolicited!r}"
        seg = self.segmentation
        if seg.every_byte:
            what += ", one byte per write"
        elif seg.split:
            what += f", cut at {list(seg.split)}"
        if seg.pause or seg.delay:
            what += f" (pause {seg.pause:g} s, delay {seg.delay:g} s)"
        return what


@dataclass(frozen=True, slots=True, kw_only=True)
class FuzzCase:
    base: str
    ehlo: Reply  # the EHLO reply when the ehlo stage is not changed
    challenge: Challenge | None = None
    changes: tuple[Change, ...] = ()

    def change(self, stage: str) -> Change | None:
        return next((c for c in self.changes if c.stage == stage), None)

    def labels(self) -> tuple[str, ...]:
        return tuple(sorted({c.label() for c in self.changes}))

    def describe(self) -> list[str]:
        lines = [f"base exchange: {self.base}"]
        if self.challenge is not None:
            lines.append(f"AUTH challenges: {[c.decode('latin-1') for c in self.challenge.lines]}")
        lines += [c.describe() for c in self.changes]
        return lines


# --- generation ------------------------------------------------------------------------------


_HOWS = {
    True: st.sampled_from(["reframe", "fail", "defect", "unsolicited"]),
    False: st.sampled_from(["reframe", "defect", "unsolicited"]),
}
_SAME_CODE = {code: st.just(reply.code) for code, reply in BASE_REPLIES.items()}


@functools.lru_cache(maxsize=64)  # one strategy per (stage, required): the same draws
@st.composite
def _change(draw: st.DrawFn, stage: str, ehlo_required: tuple[bytes, ...]) -> Change:
    # Strategies built once (see harness.fuzz.strategies): the same draws, much less work.
    how = draw(_HOWS[stage in SUCCESS_CLASS or stage == "quit"])
    base = BASE_REPLIES.get(stage)
    if stage == "ehlo":
        reply = draw(ehlo_replies(DOMAIN, required=ehlo_required))
    elif how == "fail":
        reply = draw(replies(codes=reply_codes("54"), max_lines=3))
    else:
        assert base is not None
        # Any 2xx may answer MAIL, RCPT or the message (R-REPLY-5); the others have one code.
        codes = reply_codes("2") if stage in ("mail", "rcpt", "dot", "quit") else _SAME_CODE[stage]
        reply = draw(replies(codes=codes, max_lines=3))
    framing = draw(invalid_framings(reply) if how == "defect" else valid_framings(reply))
    unsolicited = draw(unsolicited_lines()) if how == "unsolicited" else b""
    # AUTH replies go out in one write: the auth step has no way to cut them.
    segmentation = (
        Segmentation() if stage == "auth" else draw(segmentations(unsolicited + framing.data))
    )
    return Change(
        stage=stage,
        how=how,
        reply=reply,
        framing=framing,
        segmentation=segmentation,
        unsolicited=unsolicited,
    )


@functools.lru_cache(maxsize=64)
def _one_of(values: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


@functools.lru_cache(maxsize=64)
def _stage_lists(stages: tuple[str, ...], max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(stages), min_size=1, max_size=max_size, unique=True)


@st.composite
def fuzz_cases(draw: st.DrawFn, bases: tuple[str, ...] = BASES, max_changes: int = 3) -> FuzzCase:
    """A base exchange with 1 to ``max_changes`` replies changed; shrinks toward one reworded
    greeting in a plain send."""
    base = draw(_one_of(bases))
    required: tuple[bytes, ...] = ()
    challenge = None
    if base.startswith("auth"):
        mechanism = base.removeprefix("auth-").upper()
        required = (b"AUTH " + mechanism.encode(),)
        challenge = draw(auth_challenges(mechanism))
    ehlo = draw(ehlo_replies(DOMAIN, required=required))
    stages = stages_of(base)
    chosen = draw(_stage_lists(stages, max_changes))
    changes = tuple(draw(_change(s, required)) for s in sorted(chosen, key=stages.index))
    return FuzzCase(base=base, ehlo=ehlo, challenge=challenge, changes=changes)


# --- the oracle ------------------------------------------------------------------------------


def expectation(case: FuzzCase) -> Expectation:
    """What a correct client may report for ``case`` (see the module docstring)."""
    disturbed = False
    failing: Change | None = None
    closed_early = False
    for stage in stages_of(case.base):
        change = case.change(stage)
        if change is None:
            continue
        disturbed = disturbed or change.disturbs
        klass = SUCCESS_CLASS.get(stage)
        # With mixed codes (R-REPLY-2) RFC 5321 §4.2.1 lets a client "make processing decisions
        # based on the code in any line": it may act on any line's code, or refuse the reply. So
        # the reply fails the send only if every line's code does.
        line_codes = change.framing.codes or (change.reply.code,)
        if failing is None and klass and all(c // 100 != klass for c in line_codes):
            failing = change
        if change.framing.closes and stage not in ("dot", "quit"):
            closed_early = True
    outcomes: list[Outcome] = []
    if failing is None and not closed_early:
        outcomes.append(Outcome.DELIVERED)
    if failing is not None or disturbed or closed_early:
        outcomes.append(Outcome.FAILED)
    codes: tuple[CodePattern, ...] = ()
    if failing is not None and not disturbed and not closed_early:
        codes = (CodePattern(str(failing.reply.code)),)
    return Expectation(outcomes=tuple(outcomes), codes=codes)


# --- the scenario ----------------------------------------------------------------------------


def _send(change: Change) -> Send:
    seg = change.segmentation
    return Send(
        data=change.data,
        split=seg.split,
        every_byte=seg.every_byte,
        pause=seg.pause,
        delay=seg.delay,
    )


def _helo(*then: Step) -> tuple[Step, ...]:
    """HELO, its 250, and ``then``."""
    return (
        ClientStep(kind="match", expected="HELO {domain}"),
        Send(data=b"250 " + DOMAIN + b"\r\n"),
        *then,
    )


def _give_up_or_wait(*extra: tuple[Step, ...]) -> AnyOf:
    """After a changed reply: go on, give up (RSET and QUIT optional), or wait in silence."""
    give_up: tuple[Step, ...] = (
        ClientStep(kind="match", expected="RSET", optional=True),
        Send(data=b"250 2.0.0 Ok\r\n"),
        ClientStep(kind="match", expected="QUIT", optional=True),
        Send(data=b"221 2.0.0 Bye\r\n"),
        Close(),
    )
    wait: tuple[Step, ...] = (ClientStep(kind="silence", expected="", seconds=SILENCE), Close())
    return AnyOf(branches=((), give_up, wait, *extra))


def _stage_steps(case: FuzzCase, stage: str, disturbed: bool) -> tuple[Step, ...]:
    """The client's command for ``stage`` and the server's reply (changed or not); ``disturbed``
    once an earlier reply was changed."""
    change = case.change(stage)
    base = case.ehlo if stage == "ehlo" else BASE_REPLIES[stage]
    reply: tuple[Step, ...] = (_send(change),) if change else (Send(data=base.to_bytes()),)
    if change is not None and change.framing.closes:
        reply += (Close(),)
    if stage == "greeting":
        return reply
    if stage == "ehlo":
        ehlo = (ClientStep(kind="match", expected="EHLO {domain}"), *reply)
        return (AnyOf(branches=(ehlo, _helo())),)
    if stage == "auth":
        mechanism = case.base.removeprefix("auth-").upper()
        auth = AuthStep(
            mechanisms=(mechanism,),
            prompts=case.challenge.lines if case.challenge else None,
            reply=change.data if change else base.to_bytes(),
            optional=disturbed,  # after a changed EHLO reply a client may not (finish) AUTH
        )
        return (auth, *reply[1:])
    return (_COMMANDS[stage], *reply)


# The client's command per stage: the same (immutable) steps in every case.
_COMMANDS = {
    "mail": ClientStep(kind="match", expected=f"MAIL FROM:<{SENDER}>"),
    "rcpt": ClientStep(kind="match", expected=f"RCPT TO:<{RECIPIENT}>"),
    "data": ClientStep(kind="match", expected="DATA"),
    "dot": ClientStep(kind="data", expected="message", compare="any"),
    "quit": ClientStep(kind="match", expected="QUIT", optional=True),
}


def build_scenario(case: FuzzCase, *, scenario_id: str = "fuzz.case", note: str = "") -> Scenario:
    """The case as a scenario that any client runs against, and ``smtp-harness run`` replays."""
    steps: list[Step] = []
    disturbed = False
    stages = stages_of(case.base)
    for i, stage in enumerate(stages):
        steps += _stage_steps(case, stage, disturbed)
        change = case.change(stage)
        if change is not None and change.framing.closes:
            break
        disturbed = disturbed or change is not None
        if disturbed and i + 1 < len(stages):
            # A client may also say HELO after an EHLO reply it could not use.
            retry = (_helo(_give_up_or_wait()),) if stage == "ehlo" else ()
            steps.append(_give_up_or_wait(*retry))
    auth = None
    if case.base.startswith("auth"):
        auth = Credentials(username="alice", password="s3cret pass")
    expect = expectation(case)
    title = "Fuzz: " + "; ".join(c.describe() for c in case.changes)
    return Scenario(
        id=scenario_id,
        title=title,
        client=ClientTask(mail_from=SENDER, rcpt_to=(RECIPIENT,), message=MESSAGE, auth=auth),
        expect=expect,
        exchange=tuple(steps),
        refs=("R-REPLY-1", "R-REPLY-2", "R-REPLY-7"),
        tags=("fuzz",),
        source="synthetic (smtp-harness fuzz)",
        description="\n".join([*case.describe(), note]).strip() + "\n",
        limits=FUZZ_LIMITS,
    )


def simpler_cases(case: FuzzCase) -> list[FuzzCase]:
    """Candidates one step simpler than ``case``, simplest first (the fuzzer's shrinker)."""
    out: list[FuzzCase] = []
    if len(case.changes) > 1:
        for i in range(len(case.changes)):
            out.append(replace(case, changes=case.changes[:i] + case.changes[i + 1 :]))
    if case.base != "send" and case.change("auth") is None:
        plain = FuzzCase(base="send", ehlo=Reply(code=250, lines=(DOMAIN,)), changes=case.changes)
        out.append(plain)
    # The AUTH line an auth base needs stays.
    auth_lines = [line for line in case.ehlo.lines[1:] if line.upper().startswith(b"AUTH")]
    minimal_ehlo = Reply(code=250, lines=(DOMAIN, *auth_lines))
    if case.ehlo != minimal_ehlo:
        out.append(replace(case, ehlo=minimal_ehlo))
    for i, change in enumerate(case.changes):
        for simpler in _simpler_changes(change):
            out.append(replace(case, changes=(*case.changes[:i], simpler, *case.changes[i + 1 :])))
    return out


def _simpler_changes(change: Change) -> list[Change]:
    out: list[Change] = []
    if not change.segmentation.plain:
        out.append(replace(change, segmentation=NO_SEGMENTATION))
    if change.unsolicited and change.unsolicited != b"250 OK\r\n":
        out.append(replace(change, unsolicited=b"250 OK\r\n"))
    reply = change.reply
    kind = change.framing.kind
    param = _param_of(change.framing)
    candidates = []
    if len(reply.lines) > 1:
        candidates.append(Reply(code=reply.code, lines=(reply.lines[0],)))
        candidates.append(Reply(code=reply.code, lines=reply.lines[:2]))
    plain_text = b"OK" if kind == "missing-separator" else b""
    if change.stage != "ehlo" and any(line != plain_text for line in reply.lines):
        candidates.append(Reply(code=reply.code, lines=(plain_text,) * len(reply.lines)))
    base = BASE_REPLIES.get(change.stage)
    if base is not None and reply.code != base.code and change.how != "fail":
        candidates.append(Reply(code=base.code, lines=reply.lines))
    for simpler_reply in candidates:
        if simpler_reply != reply:
            out.append(
                replace(change, reply=simpler_reply, framing=frame(simpler_reply, kind, param))
            )
    return out


def _param_of(framing: Framing) -> int:
    """The detail ``frame`` needs to rebuild a defect of the same kind for another reply."""
    if framing.kind == "mixed-codes":
        return framing.codes[0]
    if framing.kind == "over-long-line":
        return len(framing.data.split(b"\r\n", 1)[0]) + 2
    return 0
