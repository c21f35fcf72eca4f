"""The JSON report: versioned, counts as numbers, each transcript as entries. Data only.

Its shape is the JSON Schema ``report.schema.json`` beside this module (``REPORT_SCHEMA``).
Bytes are written as text: UTF-8 where they are UTF-8, every other byte (and every control
character) as an escape, so a report is always valid JSON whatever the client
or the server sent, and it is never lost to an encoding error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import __version__
from harness.report.text import format_summary
from harness.results import Result, count_verdicts
from harness.transcript import Transcript

__all__ = ["REPORT_FORMAT_VERSION", "REPORT_SCHEMA", "build_report", "escape_bytes", "write_report"]

REPORT_FORMAT_VERSION = 1
REPORT_SCHEMA = Path(__file__).with_name("report.schema.json")


def escape_bytes(data: bytes) -> str:
    """``data`` as readable text: UTF-8 kept, other bytes and control characters escaped
    (CR as ``\\r``, LF as ``\\n``, the rest as ``\\xNN``), so CRLF and a bare LF differ visibly."""
    out = []
    for ch in data.decode("utf-8", "backslashreplace"):
        if ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t" or ch.isprintable() or ch == "\\":
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    return "".join(out)


def transcript_entries(transcript: Transcript) -> list[dict[str, Any]]:
    return [
        {
            "at": round(e.at, 4),
            "direction": e.direction.value,
            "tls": e.tls,
            "data": escape_bytes(e.data),
        }
        for e in transcript.entries
    ]


def _result(result: Result) -> dict[str, Any]:
    out = result.to_json()
    outcome = result.outcome
    out["outcome"] = (
        {
            "outcome": outcome.outcome.value,
            "code": outcome.code,
            "message": outcome.message,
        }
        if outcome is not None
        else None
    )
    failure = result.failure
    out["failure"] = (
        {
            "kind": failure.kind,
            "message": failure.message,
            "line": failure.line,
            "expected": failure.expected,
            "actual": failure.actual,
            "hint": failure.hint,
            "rule": failure.rule or None,
            "wire": failure.wire,
        }
        if failure is not None
        else None
    )
    out["transcript"] = transcript_entries(result.transcript)
    cleaned: dict[str, Any] = _clean(out)
    return cleaned


def _clean(value: Any) -> Any:
    """Strings that hold surrogate escapes (undecodable bytes) made writable, recursively."""
    if isinstance(value, str):
        return (
            escape_bytes(value.encode("utf-8", "surrogateescape"))
            if _has_surrogates(value)
            else value
        )
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def build_report(results: Sequence[Result], *, client: str, strict: bool = False) -> dict[str, Any]:
    """The whole report of one run as JSON-ready data."""
    return {
        "format": "smtp-harness-report",
        "version": REPORT_FORMAT_VERSION,
        "harness": __version__,
        "client": client,
        "strict": strict,
        "counts": {v.value: n for v, n in count_verdicts(list(results)).items()},
        "summary": format_summary(results),
        "results": [_result(r) for r in results],
    }


def write_report(path: str | Path, report: dict[str, Any]) -> None:
    """Write the report; ASCII-only JSON, so no byte a client sent can break the file."""
    Path(path).write_text(json.dumps(report, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")
