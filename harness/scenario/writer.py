"""Write a Scenario back as YAML in the v1 format (docs/scenario-format.md).

The output is meant to be read by people (the fuzzer writes each finding as a scenario file):
short flow mappings and lists where they fit, block layout where they do not, the documented key
order, and only the fields that differ from their defaults. ``harness.scenario.loader`` reads it
back into an equal Scenario (``line`` and ``path`` aside), provided the Scenario is one the loader
can produce: for example a message whose line ends are all CRLF, split offsets sorted and inside
the data, ``compare``/``absent`` only on ``data``/``bdat`` steps.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from harness.faults import Fault
from harness.scenario.model import (
    AnyOf,
    AuthStep,
    Certificate,
    ClientStep,
    ClientTask,
    Close,
    Delay,
    Expectation,
    Limits,
    Operation,
    Scenario,
    Send,
    StartTls,
    Step,
    Unordered,
)

__all__ = ["dump_scenario", "write_scenario"]

WIDTH = 100  # a flow collection longer than this (with its indentation) is laid out as a block
_BLOCK_KEYS = frozenset({"any_of", "unordered"})  # one branch a line, however short


class _Block(str):
    """A leaf written as a literal block scalar (``|`` or ``|-``); never inside a flow."""

    __slots__ = ()


# A node is a leaf already written as YAML (str, or _Block), a list or a mapping.
_Node = str | list["_Node"] | dict[str, "_Node"]

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 ._/@+=()<>-]*")
_KEYWORDS = {"yes", "no", "on", "off", "true", "false", "null"}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(text: str, *, ascii_only: bool = False) -> str:
    """A double-quoted scalar; anything not printable (or not ASCII, if asked) as an escape."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0x20 <= code < 0x7F or (code > 0x7F and not ascii_only and ch.isprintable()):
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")  # also lone surrogates: the pure-Python loader reads them
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _str(text: str) -> str:
    """A plain scalar when it is a harmless word or phrase that YAML reads back as this string."""
    plain = (
        all(ch.isprintable() for ch in text)
        and _PLAIN.fullmatch(re.sub(r"[^\x00-\x7f]", "a", text)) is not None
        and not text.endswith(" ")
        and text.lower() not in _KEYWORDS
    )
    return text if plain else _quoted(text)


def _quoted(text: str) -> str:
    """Single quotes for printable text with quotes or backslashes (no escapes), else double."""
    if ('"' in text or "\\" in text) and text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return _quote(text)


def _text(text: str) -> str:
    """Free text (description, message): a literal block where that reads back exactly."""
    body = text.removesuffix("\n")
    lines = body.split("\n")
    if (
        len(lines) > 1
        and lines[0].strip() == lines[0] != ""
        and lines[-1] != ""
        and all(ch.isprintable() for line in lines for ch in line)
        and not any(line.endswith(" ") for line in lines)
    ):
        return _Block(("|" if text.endswith("\n") else "|-") + "".join(f"\n{x}" for x in lines))
    return _str(text)


def _num(value: float) -> str:
    """A number of seconds that YAML reads back as the same float."""
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return {"n": ".nan", "i": ".inf", "-": "-.inf"}[repr(value)[0]]
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text:  # YAML 1.1 (PyYAML) reads a float only with a dot and a signed exponent
        mantissa, _, exponent = text.partition("e")
        dot = "" if "." in mantissa else ".0"
        sign = "" if exponent[0] in "+-" else "+"
        text = f"{mantissa}{dot}e{sign}{exponent}"
    return text


def _seq(items: list[_Node]) -> _Node:
    """One item as itself, several (or none) as a list."""
    return items[0] if len(items) == 1 else items


# --- the scenario as nodes -------------------------------------------------------------------


def _reply_lines(data: bytes) -> list[str] | None:
    """The data as reply lines (``server:``), if it is non-empty printable lines each ending CRLF."""
    if not data.endswith(b"\r\n"):
        return None
    try:
        lines = data[:-2].decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        return None
    if all(line and line.isprintable() for line in lines):
        return lines
    return None


def _send(step: Send) -> _Node:
    options: dict[str, _Node] = {}
    if step.every_byte:
        options["split"] = "every"
    elif step.split is not None:
        options["split"] = [str(n) for n in step.split]
    if step.pause:
        options["pause"] = _num(step.pause)
    if step.delay:
        options["delay"] = _num(step.delay)
    lines = _reply_lines(step.data)
    if lines is None:
        raw = _quote(step.data.decode("latin-1"), ascii_only=True)
        return {"raw": {"bytes": raw, **options} if options else raw}
    quoted: list[_Node] = [_quote(x) for x in lines]
    return {"server": {"lines": quoted, **options} if options else _seq(quoted)}


def _client_step(step: ClientStep) -> _Node:
    if step.kind == "silence":
        return {"client": {"silence": _num(step.seconds)}}
    if step.kind == "gives_up":
        return {"client": {"gives_up": "true"}}
    if step.kind == "match" and not step.optional and step.level is None:
        return {"client": _str(step.expected)}
    body: dict[str, _Node] = {
        step.kind: _quoted(step.expected) if step.kind == "regex" else _str(step.expected)
    }
    if step.kind in ("data", "bdat"):
        if step.compare != "content":
            body["compare"] = step.compare
        if step.absent:
            body["absent"] = [_str(s) for s in step.absent]
    if step.optional:
        body["optional"] = "true"
    if step.level is not None:
        body["level"] = step.level.value
    return {"client": body}


def _lines_of(reply: bytes) -> _Node:
    """A reply of CRLF-ended lines, as one line or a list."""
    return _seq([_quote(x) for x in reply.decode("utf-8").removesuffix("\r\n").split("\r\n")])


def _auth(step: AuthStep) -> _Node:
    mechanisms: list[_Node] = [_str(m) for m in step.mechanisms]
    body: dict[str, _Node] = {"mechanism": _seq(mechanisms)} if mechanisms else {}
    if step.prompts is not None:
        body["prompts"] = [_quote(p.decode("utf-8").removesuffix("\r\n")) for p in step.prompts]
    if step.error is not None:
        body["error"] = _quoted(step.error.decode("utf-8"))
    if step.reply != AuthStep().reply:
        body["reply"] = _lines_of(step.reply)
    if step.reject is not None:
        body["reject"] = _lines_of(step.reject)
    if step.optional:
        body["optional"] = "true"
    if step.level is not None:
        body["level"] = step.level.value
    if set(body) <= {"mechanism"} and len(mechanisms) <= 1:
        return {"auth": mechanisms[0] if mechanisms else "any"}
    return {"auth": body}


def _steps(steps: tuple[Step, ...]) -> list[_Node]:
    out: list[_Node] = []
    for step in steps:
        if isinstance(step, Send):
            out.append(_send(step))
        elif isinstance(step, ClientStep):
            out.append(_client_step(step))
        elif isinstance(step, AuthStep):
            out.append(_auth(step))
        elif isinstance(step, StartTls):
            tls: dict[str, _Node] = {"start": "true"}
            if step.may_refuse:
                tls["may_refuse"] = "true"
            if step.certificate is not Certificate.GOOD:
                tls["certificate"] = step.certificate.value
            out.append({"tls": tls if len(tls) > 1 else "start"})
        elif isinstance(step, Delay):
            out.append({"delay": _num(step.seconds)})
        elif isinstance(step, Close):
            out.append({"close": "true"})
        elif isinstance(step, AnyOf):
            out.append({"any_of": [_steps(b) for b in step.branches]})
        elif isinstance(step, Unordered):
            out.append({"unordered": [_steps(g) for g in step.groups]})
        else:
            raise TypeError(f"not a scenario step: {step!r}")
    return out


def _operation(op: Operation) -> _Node:
    return {op.kind: _str(op.argument)} if op.argument else op.kind


def _client(task: ClientTask) -> dict[str, _Node]:
    out: dict[str, _Node] = {}
    if task.mail_from:
        out["mail_from"] = _str(task.mail_from)
    if task.rcpt_to:
        out["rcpt_to"] = [_str(r) for r in task.rcpt_to]
    if task.message:
        text = task.message.decode("utf-8", "surrogateescape").replace("\r\n", "\n")
        out["message"] = _text(text)
    if task.tls != ClientTask().tls:
        out["tls"] = task.tls.value
    if task.auth is not None:
        a = task.auth
        auth: dict[str, _Node] = {"username": _str(a.username)}
        if a.password or not a.token:
            auth["password"] = _str(a.password)
        if a.token:
            auth["token"] = _str(a.token)
        if a.mechanisms:
            auth["mechanisms"] = [_str(m) for m in a.mechanisms]
        out["auth"] = auth
    if task.dsn is not None:
        d = task.dsn
        dsn: dict[str, _Node] = {"notify": [_str(n) for n in d.notify]} if d.notify else {}
        if d.ret:
            dsn["ret"] = _str(d.ret)
        if d.envid:
            dsn["envid"] = _str(d.envid)
        out["dsn"] = dsn
    if task.ehlo_name is not None:
        out["ehlo_name"] = _str(task.ehlo_name)
    if task.operations != ClientTask().operations:
        out["operations"] = [_operation(op) for op in task.operations]
    if task.timeout is not None:
        out["timeout"] = _num(task.timeout)
    return out


def _expect(expect: Expectation) -> dict[str, _Node]:
    out: dict[str, _Node] = {"outcome": _seq([o.value for o in expect.outcomes])}
    if expect.codes:
        out["code"] = _seq([c.text for c in expect.codes])  # 550 reads back as "550"
    if expect.replies is not None:
        out["replies"] = [c.text for c in expect.replies]
    if expect.level is not None:
        out["level"] = expect.level.value
    return out


def _limits(limits: Limits) -> dict[str, _Node]:
    default = Limits()
    out: dict[str, _Node] = {}
    for name in ("total", "read", "grace"):
        if getattr(limits, name) != getattr(default, name):
            out[name] = _num(getattr(limits, name))
    for name in ("line", "message"):
        if getattr(limits, name) != getattr(default, name):
            out[name] = str(getattr(limits, name))
    return out


def _fault(fault: Fault) -> str:
    value = ""
    if fault.kind == "delay":
        value = f"={_num(fault.seconds)}"
    elif fault.kind == "split":
        value = "=" + (",".join(map(str, fault.offsets)) if fault.offsets else "every")
    return _str(fault.kind + value + (f"@{fault.reply}" if fault.reply is not None else ""))


# --- layout ----------------------------------------------------------------------------------


def _flow(node: _Node) -> str | None:
    """The node on one line, or None if it holds a block scalar."""
    if isinstance(node, str):
        return None if isinstance(node, _Block) else node
    items = [(None, v) for v in node] if isinstance(node, list) else list(node.items())
    parts = []
    for key, value in items:
        flow = _flow(value)
        if flow is None:
            return None
        parts.append(flow if key is None else f"{key}: {flow}")
    return f"[{', '.join(parts)}]" if isinstance(node, list) else f"{{{', '.join(parts)}}}"


def _lines(node: _Node, indent: int, force_block: frozenset[str] = frozenset()) -> list[str]:
    """A list or mapping in block layout, its entries at ``indent``."""
    pad = " " * indent
    out: list[str] = []
    entries = list(node.items()) if isinstance(node, dict) else [("-", v) for v in node]
    for key, value in entries:
        head = f"{pad}{key}:" if isinstance(node, dict) else f"{pad}-"
        flow = _flow(value)
        if isinstance(value, _Block):
            out.append(f"{head} {value.splitlines()[0]}")
            out += [f"{pad}  {x}" if x else "" for x in value.splitlines()[1:]]
        elif (
            flow is not None
            and not (isinstance(node, list) and isinstance(value, dict))
            and (
                isinstance(value, str)
                or not value
                or (key not in force_block | _BLOCK_KEYS and len(head) + 1 + len(flow) <= WIDTH)
            )
        ):
            out.append(f"{head} {flow}")
        elif isinstance(node, dict):
            out.append(head)
            out += _lines(value, indent + 2)
        else:  # a list item laid out as a block: its first line goes after the dash
            inner = _lines(value, indent + 2)
            out += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
    return out


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as YAML text in the v1 scenario format."""
    top: dict[str, _Node] = {"version": "1", "id": _str(scenario.id)}
    if scenario.title != scenario.id:
        top["title"] = _str(scenario.title)
    if scenario.refs:
        top["refs"] = [_str(r) for r in scenario.refs]
    if scenario.tags:
        top["tags"] = [_str(t) for t in scenario.tags]
    if scenario.source:
        top["source"] = _text(scenario.source)
    if scenario.description:
        top["description"] = _text(scenario.description)
    if scenario.level is not None:
        top["level"] = scenario.level.value
    if scenario.limits != Limits():
        top["limits"] = _limits(scenario.limits)
    if scenario.faults:
        top["faults"] = [_fault(f) for f in scenario.faults]
    if scenario.certificate is not Certificate.GOOD:
        top["certificate"] = scenario.certificate.value
    top["client"] = _client(scenario.client)
    top["expect"] = _expect(scenario.expect)
    top["exchange"] = _steps(scenario.exchange)
    return "\n".join(_lines(top, 0, frozenset({"client", "exchange"}))) + "\n"


def write_scenario(scenario: Scenario, path: str | Path) -> None:
    """Write ``dump_scenario(scenario)`` to ``path`` (UTF-8)."""
    Path(path).write_text(dump_scenario(scenario), encoding="utf-8")
