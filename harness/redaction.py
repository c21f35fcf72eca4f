"""Credentials out of reports: AUTH responses hidden in transcripts, passwords and tokens hidden in
every message, unless the user asks to see them (``--show-secrets``).

A transcript is redacted by position: the client's AUTH initial response and every line it sends in
answer to a 334 challenge are secret, wherever the client's writes happen to split them. What those
lines decode to (a password, a bearer token) and the task's own password and token are then hidden
in every text of the result too, so a mismatch message cannot print them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable

from harness.errors import RemoteProtocolError
from harness.protocol.auth import decode_base64
from harness.results import Failure, Result
from harness.transcript import Direction, Transcript

__all__ = [
    "HIDDEN",
    "Redactor",
    "redact_result",
    "redact_sessions_text",
    "redact_text",
    "redact_transcript",
]

HIDDEN = "<hidden>"
_HIDDEN_BYTES = HIDDEN.encode()

# Secrets shorter than this are not searched for in free text: hiding every "ab" in a message
# would hide the message, not the secret. Quoted values after password=/token= are hidden anyway.
_MIN_SECRET = 4
_QUOTED_SECRET = re.compile(
    r"""((?:password|token|secret|digest)=)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""", re.IGNORECASE
)


class Redactor:
    """Hides the secret bytes of one session, fed its writes in transcript order.

    ``feed`` returns each write as it may be shown, so ``serve`` can print a session live and a
    finished transcript gets the same treatment. A secret is the AUTH command's initial response
    or a line the client sends in answer to a 334 challenge; it is known as soon as its first
    byte arrives, however the client splits its writes. ``secrets``: the texts they decode to
    (and ``known``), to be hidden in free text.
    """

    def __init__(self, known: Iterable[str] = ()) -> None:
        self.secrets: set[str] = {s for s in known if s}
        self._server_line = b""
        self._answer_due = False  # the server's last reply was a 334 challenge
        self._line = b""  # the client line being received
        self._secret_from: int | None = None  # where in that line its secret starts
        self._marked = False

    def feed(self, direction: Direction, data: bytes) -> bytes:
        if direction is Direction.SERVER:
            self._feed_server(data)
            return data
        if direction is Direction.CLIENT:
            return self._feed_client(data)
        return redact_text(data.decode("utf-8", "replace"), self.secrets).encode()

    def _feed_server(self, data: bytes) -> None:
        self._server_line += data
        *lines, self._server_line = self._server_line.split(b"\n")
        for line in lines:
            if len(line) >= 4 and line[:3].isdigit() and line[3:4] != b"-":
                self._answer_due = line[:3] == b"334"

    def _feed_client(self, data: bytes) -> bytes:
        shown = []
        pos = 0
        while pos < len(data):
            lf = data.find(b"\n", pos)
            end = len(data) if lf < 0 else lf + 1
            shown.append(self._client_piece(data[pos:end], complete=lf >= 0))
            pos = end
        return b"".join(shown)

    def _client_piece(self, piece: bytes, *, complete: bool) -> bytes:
        """One piece of a client line (the rest of it when ``complete``), as it may be shown."""
        if not self._line:
            self._secret_from = 0 if self._answer_due else None  # an answer is secret throughout
            self._answer_due = False  # one answer per challenge; the next reply says more
            self._marked = False  # the line's <hidden> is shown once, where its secret starts
        before = len(self._line)
        self._line += piece
        if self._secret_from is None:
            command = _AUTH_WITH_RESPONSE.match(self._line)
            if command is not None:
                self._secret_from = command.end()
        shown = piece
        if self._secret_from is not None and self._line.strip() != b"*":  # "*" cancels: no secret
            kept = self._line.rstrip(b"\r\n") if complete else self._line.rstrip(b"\r")
            lo, hi = max(self._secret_from, before), max(len(kept), before)
            if hi > lo:
                marker = b"" if self._marked else _HIDDEN_BYTES
                self._marked = True
                shown = piece[: lo - before] + marker + piece[hi - before :]
        if complete:
            if self._secret_from is not None:
                self._learn(self._line[self._secret_from :].rstrip(b"\r\n"))
            self._line = b""
        return shown

    def _learn(self, secret: bytes) -> None:
        token = secret.decode("ascii", "replace").strip()
        if token and token != "*":
            self.secrets.add(token)
            self.secrets.update(_decoded_secrets(token))


# AUTH, its mechanism and the space before an initial response (RFC 4954 §4).
_AUTH_WITH_RESPONSE = re.compile(rb"[ \t]*AUTH[ \t]+\S+[ \t]+(?=\S)", re.IGNORECASE)


def _decoded_secrets(token: str) -> set[str]:
    """What an AUTH response says that is secret: PLAIN's password, LOGIN's answer, XOAUTH2's
    bearer token, CRAM-MD5's digest. Usernames are secret too when they come alone (LOGIN's first
    answer cannot be told from its second), which costs little."""
    # Split leniently by hand, not with decode_plain/decode_xoauth2: those refuse a malformed
    # response, and a broken client's malformed response must be hidden all the same.
    try:
        text = decode_base64(token.encode()).decode("utf-8", "replace")
    except RemoteProtocolError:
        return set()
    found = set()
    if "\x01" in text:  # XOAUTH2: user=...^Aauth=Bearer TOKEN^A^A
        for part in text.split("\x01"):
            if part.lower().startswith("auth="):
                found.add(part[5:].removeprefix("Bearer ").strip())
    elif "\0" in text:  # PLAIN: authzid NUL user NUL password
        found.add(text.split("\0")[-1])
    elif " " in text:  # CRAM-MD5: user SP digest
        found.add(text.rsplit(" ", 1)[-1])
    else:
        found.add(text)
    return {s for s in found if s}


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every quoted password/token value and every known secret hidden."""
    if not text:
        return text
    text = _QUOTED_SECRET.sub(lambda m: m.group(1) + HIDDEN, text)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET and secret in text:
            text = text.replace(secret, HIDDEN)
    return text


def redact_transcript(
    transcript: Transcript, known: Iterable[str] = ()
) -> tuple[Transcript, set[str]]:
    """A copy of ``transcript`` with every secret replaced by ``<hidden>``, and the secrets found
    (with ``known``)."""
    if _nothing_to_hide(transcript, known):
        return transcript, {s for s in known if s}
    redactor = Redactor(known)
    out = Transcript(started=transcript.started)
    for entry in transcript.entries:
        data = redactor.feed(entry.direction, entry.data)
        if data == entry.data:  # most entries: nothing to hide, the entry is kept as it is
            out.entries.append(entry)
        elif data:  # a write that was all secret, after the first, is dropped
            out.entries.append(dataclasses.replace(entry, data=data))
    return out, redactor.secrets


def _nothing_to_hide(transcript: Transcript, known: Iterable[str]) -> bool:
    """True when ``Redactor`` would change nothing (most sessions: no AUTH): no AUTH command and
    no 334 challenge, so no secret on the wire; no known secret and no quoted password anywhere.
    Checked on the joined bytes, so a plain session is not fed through the Redactor line by line."""
    entries = transcript.entries
    client = b"".join(e.data for e in entries if e.direction is Direction.CLIENT)
    if b"auth" in client.lower():
        return False
    if any(b"334" in e.data for e in entries if e.direction is Direction.SERVER):
        return False
    everything = b"".join(e.data for e in entries)
    if any(s.encode() in everything for s in known if s and len(s) >= _MIN_SECRET):
        return False
    return not any(
        _QUOTED_SECRET.search(e.data.decode("utf-8", "replace"))
        for e in entries
        if e.direction is Direction.NOTE
    )


def redact_sessions_text(
    text: str, transcripts: Iterable[Transcript], known: Iterable[str] = ()
) -> str:
    """``text`` (a server's finding) without any secret the sessions' clients sent, or ``known``."""
    found = {s for s in known if s}
    for transcript in transcripts:
        found |= redact_transcript(transcript)[1]
    return redact_text(text, found)


def redact_result(result: Result, known: Iterable[str] = ()) -> Result:
    """A copy of ``result`` fit for a report: transcript, messages, failure and notes without
    credentials. ``known``: secrets the caller knows of beyond the scenario's own credentials."""
    task_secrets = list(known)
    credentials = result.scenario.client.auth
    if credentials is not None:
        task_secrets += [credentials.password, credentials.token]
    transcript, secrets = redact_transcript(result.transcript, task_secrets)
    if credentials is not None:
        secrets.discard(credentials.username)  # who logs in is diagnosis, not a secret

    def hide(text: str) -> str:
        return redact_text(text, secrets)

    failure = result.failure
    if failure is not None:
        failure = _redact_failure(failure, hide)
    outcome = result.outcome
    if outcome is not None and outcome.message:
        outcome = dataclasses.replace(outcome, message=hide(outcome.message))
    return dataclasses.replace(
        result,
        message=hide(result.message),
        failure=failure,
        outcome=outcome,
        transcript=transcript,
        notes=[hide(n) for n in result.notes],
    )


def _redact_failure(failure: Failure, hide: Callable[[str], str]) -> Failure:
    return dataclasses.replace(
        failure,
        message=hide(failure.message),
        expected=hide(failure.expected),
        actual=hide(failure.actual),
        hint=hide(failure.hint),
    )
