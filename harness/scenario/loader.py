"""Load scenario files: YAML (safe loader) → Scenario, with file:line on every error.

The loader walks the composed YAML node tree itself instead of loading plain dicts, so that every
value keeps the line it came from and every error can say ``file:line: field: what was expected``.
Unknown keys are errors: a typo must never silently turn a check off.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import yaml

from harness.corpus import corpus_path, report_path
from harness.errors import RemoteProtocolError, ScenarioError
from harness.faults import Fault, parse_fault
from harness.protocol.commands import parse_path_argument
from harness.protocol.data import to_crlf
from harness.scenario.model import (
    AnyOf,
    AuthStep,
    Certificate,
    ClientStep,
    ClientTask,
    Close,
    CodePattern,
    Credentials,
    Delay,
    DsnRequest,
    Expectation,
    Level,
    Limits,
    Operation,
    Outcome,
    Scenario,
    Send,
    StartTls,
    Step,
    TlsMode,
    Unordered,
    give_up_window,
)
from harness.scenario.patterns import compile_pattern
from harness.scenario.regex_bounds import check_bounded
from harness.yaml_nodes import NodeReader, compose, node_line, read_yaml_text

__all__ = [
    "SUPPORTED_VERSION",
    "check_unique_ids",
    "corpus_file",
    "corpus_ids",
    "load_scenario",
    "load_scenarios",
    "parse_scenario",
]

SUPPORTED_VERSION = 1
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TOP_KEYS = {
    "version",
    "id",
    "title",
    "refs",
    "tags",
    "source",
    "description",
    "limits",
    "client",
    "expect",
    "exchange",
    "faults",
    "certificate",
    "level",
}
_LEVELS = tuple(level.value for level in Level)
_DATA_COMPARE = ("exact", "lines", "content", "any")
_CLIENT_MATCHERS = ("match", "regex", "data", "bdat", "silence", "gives_up")
_CERTIFICATES = tuple(c.value for c in Certificate)


# --- sections --------------------------------------------------------------------------------


def _client(r: NodeReader, node: yaml.Node) -> ClientTask:
    keys = r.mapping(
        node,
        "client",
        (
            "mail_from",
            "rcpt_to",
            "message",
            "raw_message",
            "tls",
            "auth",
            "ehlo_name",
            "operations",
            "dsn",
            "timeout",
        ),
    )
    auth = None
    if "auth" in keys:
        a = r.mapping(
            keys["auth"],
            "client.auth",
            ("username", "password", "token", "mechanisms"),
            required=("username",),
        )
        if "password" not in a and "token" not in a:
            raise r.error(
                keys["auth"], "client.auth", "needs a password, a token (for XOAUTH2), or both"
            )
        auth = Credentials(
            username=r.string(a["username"], "client.auth.username", allow_numbers=True),
            password=r.string(a["password"], "client.auth.password", allow_numbers=True)
            if "password" in a
            else "",
            token=r.string(a["token"], "client.auth.token") if "token" in a else "",
            mechanisms=_mechanisms(r, a["mechanisms"], "client.auth.mechanisms")
            if "mechanisms" in a
            else (),
        )
    message = b""
    raw = r.boolean(keys["raw_message"], "client.raw_message") if "raw_message" in keys else False
    if "message" in keys:
        # YAML block scalars end lines in LF; a message on the wire ends them in CRLF (RFC 5321
        # §2.3.8), so the task hands clients CRLF text and comparisons use the same form, unless
        # raw_message asks to hand the client the bytes as written (its normalisation is tested).
        text = r.string(keys["message"], "client.message").encode("utf-8", "surrogateescape")
        message = text if raw else to_crlf(text)
    return ClientTask(
        mail_from=r.string(keys["mail_from"], "client.mail_from") if "mail_from" in keys else "",
        rcpt_to=r.strings(keys["rcpt_to"], "client.rcpt_to") if "rcpt_to" in keys else (),
        message=message,
        raw_message=raw,
        tls=TlsMode(r.choice(keys["tls"], "client.tls", [m.value for m in TlsMode]))
        if "tls" in keys
        else TlsMode.NONE,
        auth=auth,
        ehlo_name=r.string(keys["ehlo_name"], "client.ehlo_name") if "ehlo_name" in keys else None,
        dsn=_dsn(r, keys["dsn"]) if "dsn" in keys else None,
        operations=_operations(r, keys["operations"])
        if "operations" in keys
        else (Operation(kind="send"),),
        timeout=r.number(keys["timeout"], "client.timeout", minimum=0.1)
        if "timeout" in keys
        else None,
    )


def _dsn(r: NodeReader, node: yaml.Node) -> DsnRequest:
    keys = r.mapping(node, "client.dsn", ("notify", "ret", "envid"))
    notify = (
        tuple(n.upper() for n in r.strings(keys["notify"], "client.dsn.notify"))
        if "notify" in keys
        else ()
    )
    for name in notify:
        if name not in ("NEVER", "SUCCESS", "FAILURE", "DELAY"):
            raise r.error(
                keys["notify"],
                "client.dsn.notify",
                f"{name!r} is not one of: NEVER, SUCCESS, FAILURE, DELAY",
            )
    return DsnRequest(
        notify=notify,
        ret=r.choice(keys["ret"], "client.dsn.ret", ("FULL", "HDRS")) if "ret" in keys else "",
        envid=r.string(keys["envid"], "client.dsn.envid", allow_numbers=True)
        if "envid" in keys
        else "",
    )


def _operations(r: NodeReader, node: yaml.Node) -> tuple[Operation, ...]:
    ops = []
    for i, item in enumerate(r.sequence(node, "client.operations")):
        field = f"client.operations[{i}]"
        if isinstance(item, yaml.ScalarNode):
            ops.append(Operation(kind=r.choice(item, field, Operation.KINDS)))
            continue
        keys = r.mapping(item, field, Operation.KINDS)
        if len(keys) != 1:
            raise r.error(item, field, "expected exactly one operation per item, e.g. {vrfy: user}")
        kind, value = next(iter(keys.items()))
        if kind == "send":
            raise r.error(value, f"{field}.send", "send takes no argument: write `- send`")
        argument = (
            ""
            if value.tag.endswith(":null")
            else r.string(value, f"{field}.{kind}", allow_numbers=True)
        )
        ops.append(Operation(kind=kind, argument=argument))
    if not ops:
        raise r.error(node, "client.operations", "expected at least one operation")
    return tuple(ops)


def _codes(r: NodeReader, node: yaml.Node, field: str) -> tuple[CodePattern, ...]:
    out = []
    items = [node] if isinstance(node, yaml.ScalarNode) else r.sequence(node, field)
    for i, item in enumerate(items):
        sub = field if item is node else f"{field}[{i}]"
        text = r.string(item, sub, allow_numbers=True)
        try:
            out.append(CodePattern(text))
        except ValueError as exc:
            raise r.error(item, sub, str(exc)) from None
    return tuple(out)


def _expect(r: NodeReader, node: yaml.Node) -> Expectation:
    keys = r.mapping(node, "expect", ("outcome", "code", "replies", "level"), required=("outcome",))
    names = r.strings(keys["outcome"], "expect.outcome")
    valid = [o.value for o in Outcome]
    for name in names:
        if name not in valid:
            raise r.error(
                keys["outcome"], "expect.outcome", f"{name!r} is not one of: {', '.join(valid)}"
            )
    return Expectation(
        outcomes=tuple(Outcome(n) for n in names),
        codes=_codes(r, keys["code"], "expect.code") if "code" in keys else (),
        replies=_codes(r, keys["replies"], "expect.replies") if "replies" in keys else None,
        level=_level(r, keys, "expect.level"),
    )


def _level(r: NodeReader, keys: dict[str, yaml.Node], field: str) -> Level | None:
    """The optional ``level`` key of a mapping: must, should or info."""
    if "level" not in keys:
        return None
    return Level(r.choice(keys["level"], field, _LEVELS))


def _faults(r: NodeReader, node: yaml.Node) -> tuple[Fault, ...]:
    out = []
    for i, item in enumerate(r.sequence(node, "faults")):
        try:
            out.append(parse_fault(r.string(item, f"faults[{i}]")))
        except ValueError as exc:
            raise r.error(item, f"faults[{i}]", str(exc)) from None
    return tuple(out)


def _limits(r: NodeReader, node: yaml.Node) -> Limits:
    keys = r.mapping(node, "limits", ("total", "read", "line", "message", "grace"))
    default = Limits()

    def octets(key: str, fallback: int) -> int:
        if key not in keys:
            return fallback
        value = r.scalar(keys[key], f"limits.{key}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise r.error(keys[key], f"limits.{key}", f"expected a number of octets, got {value!r}")
        if value > MAX_OCTETS:  # the limit is what keeps the server's memory bounded
            raise r.error(
                keys[key], f"limits.{key}", f"must be at most {MAX_OCTETS} octets, got {value}"
            )
        return value

    return Limits(
        total=r.number(keys["total"], "limits.total", minimum=0.01)
        if "total" in keys
        else default.total,
        read=r.number(keys["read"], "limits.read", minimum=0.01)
        if "read" in keys
        else default.read,
        line=octets("line", default.line),
        message=octets("message", default.message),
        grace=r.number(keys["grace"], "limits.grace", minimum=0.0)
        if "grace" in keys
        else default.grace,
    )


# --- exchange --------------------------------------------------------------------------------

# A line or message limit above 1 GiB would let one session take the machine's memory.
MAX_OCTETS = 2**30

_STEP_KINDS = ("server", "raw", "client", "auth", "tls", "delay", "close", "any_of", "unordered")


def _text_line(r: NodeReader, node: yaml.Node, field: str) -> bytes:
    text = r.string(node, field, allow_numbers=True)
    if "\r" in text or "\n" in text:
        raise r.error(
            node, field, "a reply line may not contain CR or LF; use `raw:` for exact bytes"
        )
    return text.encode("utf-8") + b"\r\n"


def _raw_bytes(r: NodeReader, node: yaml.Node, field: str) -> bytes:
    text = r.string(node, field)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise r.error(
            node,
            field,
            f"raw bytes must be characters \\x00-\\xff (write \\xNN escapes), found {text[exc.start]!r}",
        ) from None


def _send(r: NodeReader, kind: str, node: yaml.Node, field: str, line: int) -> Send:
    options: dict[str, yaml.Node] = {}
    payload_field = field
    if isinstance(node, yaml.MappingNode):
        payload_key = "lines" if kind == "server" else "bytes"
        options = r.mapping(
            node, field, (payload_key, "delay", "split", "pause"), required=(payload_key,)
        )
        node = options.pop(payload_key)
        payload_field = f"{field}.{payload_key}"
    if kind == "raw":
        data = _raw_bytes(r, node, payload_field)
    elif isinstance(node, yaml.SequenceNode):
        items = r.sequence(node, payload_field)
        if not items:
            raise r.error(node, payload_field, "expected at least one reply line")
        data = b"".join(
            _text_line(r, item, f"{payload_field}[{i}]") for i, item in enumerate(items)
        )
    else:
        data = _text_line(r, node, payload_field)
    split: tuple[int, ...] | None = None
    every = False
    if "split" in options:
        s = options["split"]
        if isinstance(s, yaml.ScalarNode) and s.value == "every":
            every = True
        else:
            offsets = []
            for i, item in enumerate(r.sequence(s, f"{field}.split")):
                value = r.scalar(item, f"{field}.split[{i}]")
                if (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or not 0 < value < len(data)
                ):
                    raise r.error(
                        item,
                        f"{field}.split[{i}]",
                        f"expected a byte offset between 1 and {len(data) - 1}, or `split: every`",
                    )
                offsets.append(value)
            split = tuple(sorted(set(offsets)))
    return Send(
        data=data,
        delay=r.number(options["delay"], f"{field}.delay") if "delay" in options else 0.0,
        split=split,
        every_byte=every,
        pause=r.number(options["pause"], f"{field}.pause") if "pause" in options else 0.0,
        line=line,
    )


def _check_pattern(r: NodeReader, node: yaml.Node, field: str, pattern: str) -> None:
    try:
        check_bounded(compile_pattern(pattern).pattern)
        verb, _, argument = pattern.partition(" ")
        if verb.upper() in ("MAIL", "RCPT"):
            parse_path_argument(argument, "FROM" if verb.upper() == "MAIL" else "TO")
    except (ValueError, RemoteProtocolError) as exc:
        raise r.error(node, field, f"bad command pattern {pattern!r}: {exc}") from None


def _client_step(r: NodeReader, node: yaml.Node, field: str, line: int) -> ClientStep:
    if isinstance(node, yaml.ScalarNode):
        expected = r.string(node, field)
        _check_pattern(r, node, field, expected)
        return ClientStep(kind="match", expected=expected, line=line)
    keys = r.mapping(node, field, (*_CLIENT_MATCHERS, "optional", "compare", "absent", "level"))
    kinds = [k for k in _CLIENT_MATCHERS if k in keys]
    if len(kinds) != 1:
        raise r.error(node, field, f"expected exactly one of: {', '.join(_CLIENT_MATCHERS)}")
    kind = kinds[0]
    if kind == "gives_up":
        if len(keys) != 1 or r.scalar(keys[kind], f"{field}.gives_up") is not True:
            raise r.error(node, field, "write `gives_up: true` (it takes no other keys)")
        return ClientStep(kind="gives_up", expected="", line=line)
    if kind == "silence":
        if len(keys) != 1:
            raise r.error(node, field, "`silence` takes no other keys")
        seconds = r.number(keys[kind], f"{field}.silence")
        if seconds <= 0:
            raise r.error(keys[kind], f"{field}.silence", "expected a number of seconds > 0")
        return ClientStep(kind="silence", expected="", seconds=seconds, line=line)
    expected = r.string(keys[kind], f"{field}.{kind}")
    if kind == "data" and expected != "message":
        raise r.error(
            keys[kind], f"{field}.data", "the only data source is `message` (client.message)"
        )
    if kind == "regex":
        try:
            check_bounded(expected)
        except ValueError as exc:
            raise r.error(keys[kind], f"{field}.regex", str(exc)) from None
    if kind == "match":
        _check_pattern(r, keys["match"], f"{field}.match", expected)
    if "absent" in keys and kind not in ("data", "bdat"):
        raise r.error(keys["absent"], f"{field}.absent", "absent applies only to `data` and `bdat`")
    if "compare" in keys and kind not in ("data", "bdat"):
        raise r.error(
            keys["compare"], f"{field}.compare", "compare applies only to `data` and `bdat`"
        )
    return ClientStep(
        kind=kind,
        expected=expected,
        compare=r.choice(keys["compare"], f"{field}.compare", _DATA_COMPARE)
        if "compare" in keys
        else "content",
        optional=r.boolean(keys["optional"], f"{field}.optional") if "optional" in keys else False,
        absent=r.strings(keys["absent"], f"{field}.absent") if "absent" in keys else (),
        level=_level(r, keys, f"{field}.level"),
        line=line,
    )


AUTH_MECHANISMS = (
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "XOAUTH2",
)  # the ones whose answers the harness can check


def _mechanisms(r: NodeReader, node: yaml.Node, field: str) -> tuple[str, ...]:
    names = tuple(n.upper() for n in r.strings(node, field))
    if names == ("ANY",):
        return ()
    for name in names:
        if name not in AUTH_MECHANISMS:
            raise r.error(node, field, f"{name!r} is not one of: {', '.join(AUTH_MECHANISMS)}, any")
    return names


def _auth_step(r: NodeReader, node: yaml.Node, field: str, line: int) -> AuthStep:
    if isinstance(node, yaml.ScalarNode):
        return AuthStep(mechanisms=_mechanisms(r, node, field), line=line)
    keys = r.mapping(
        node, field, ("mechanism", "prompts", "reply", "reject", "error", "optional", "level")
    )
    mechanisms = (
        _mechanisms(r, keys["mechanism"], f"{field}.mechanism") if "mechanism" in keys else ()
    )

    def reply(key: str) -> bytes:
        n = keys[key]
        if isinstance(n, yaml.SequenceNode):
            if not n.value:
                raise r.error(n, f"{field}.{key}", "expected at least one reply line")
            return b"".join(
                _text_line(r, item, f"{field}.{key}[{i}]") for i, item in enumerate(n.value)
            )
        return _text_line(r, n, f"{field}.{key}")

    if "reject" in keys and ("reply" in keys or "prompts" in keys):
        raise r.error(
            keys["reject"],
            f"{field}.reject",
            "reject answers AUTH at once: no prompts or reply with it",
        )
    return AuthStep(
        mechanisms=mechanisms,
        prompts=tuple(
            _text_line(r, p, f"{field}.prompts[{i}]")
            for i, p in enumerate(r.sequence(keys["prompts"], f"{field}.prompts"))
        )
        if "prompts" in keys
        else None,
        reply=reply("reply") if "reply" in keys else AuthStep().reply,
        reject=reply("reject") if "reject" in keys else None,
        error=r.string(keys["error"], f"{field}.error").encode() if "error" in keys else None,
        optional=r.boolean(keys["optional"], f"{field}.optional") if "optional" in keys else False,
        level=_level(r, keys, f"{field}.level"),
        line=line,
    )


def _steps(r: NodeReader, node: yaml.Node, field: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    for i, item in enumerate(r.sequence(node, field)):
        sub = f"{field}[{i}]"
        keys = r.mapping(item, sub, _STEP_KINDS)
        if len(keys) != 1:
            raise r.error(
                item, sub, f"expected exactly one step kind per item ({', '.join(_STEP_KINDS)})"
            )
        kind, value = next(iter(keys.items()))
        sub = f"{sub}.{kind}"
        line = node_line(item)
        if steps and isinstance(steps[-1], Close):
            raise r.error(item, sub, "nothing can follow `close`: the connection is gone")
        step: Step
        if kind in ("server", "raw"):
            step = _send(r, kind, value, sub, line)
        elif kind == "client":
            step = _client_step(r, value, sub, line)
        elif kind == "auth":
            step = _auth_step(r, value, sub, line)
        elif kind == "tls":
            if isinstance(value, yaml.MappingNode):
                t = r.mapping(
                    value, sub, ("start", "may_refuse", "certificate"), required=("start",)
                )
                if r.scalar(t["start"], f"{sub}.start") is not True:
                    raise r.error(t["start"], f"{sub}.start", "write `start: true`")
                may_refuse = (
                    r.boolean(t["may_refuse"], f"{sub}.may_refuse") if "may_refuse" in t else False
                )
                certificate = (
                    Certificate(r.choice(t["certificate"], f"{sub}.certificate", _CERTIFICATES))
                    if "certificate" in t
                    else Certificate.GOOD
                )
                step = StartTls(may_refuse=may_refuse, certificate=certificate, line=line)
            else:
                r.choice(value, sub, ("start",))
                step = StartTls(line=line)
        elif kind == "delay":
            step = Delay(seconds=r.number(value, sub), line=line)
        elif kind == "close":
            if r.scalar(value, sub) is not True:
                raise r.error(value, sub, "write `close: true`")
            step = Close(line=line)
        else:
            groups = tuple(
                _steps(r, g, f"{sub}[{j}]") for j, g in enumerate(r.sequence(value, sub))
            )
            if len(groups) < (2 if kind == "any_of" else 1):
                raise r.error(
                    value,
                    sub,
                    "expected at least two branches"
                    if kind == "any_of"
                    else "expected at least one group",
                )
            for j, (g, branch_node) in enumerate(zip(groups, r.sequence(value, sub), strict=True)):
                # An empty any_of branch means "go on with the steps after the any_of".
                if (g or kind != "any_of") and not (g and isinstance(g[0], ClientStep | AuthStep)):
                    raise r.error(
                        branch_node,
                        f"{sub}[{j}]",
                        "each branch must start with a client or auth step",
                    )
            step = (
                AnyOf(branches=groups, line=line)
                if kind == "any_of"
                else Unordered(groups=groups, line=line)
            )
        steps.append(step)
    return tuple(steps)


# --- entry points ----------------------------------------------------------------------------


def parse_scenario(text: str, path: str = "<string>") -> Scenario:
    """Parse one scenario from YAML text.

    Raises:
        ScenarioError: invalid YAML or an invalid scenario; the message names file:line and field.
    """
    root, r = compose(text, path)
    keys = r.mapping(
        root, "", _TOP_KEYS, required=("version", "id", "client", "expect", "exchange")
    )
    version = r.scalar(keys["version"], "version")
    if version != SUPPORTED_VERSION or type(version) is not int:
        raise r.error(
            keys["version"],
            "version",
            f"version {version!r} is not supported; this harness reads version {SUPPORTED_VERSION} "
            "(a newer file needs a newer smtp-harness; see docs/scenario-format.md)",
        )
    scenario_id = r.string(keys["id"], "id")
    if not _ID.match(scenario_id):
        raise r.error(keys["id"], "id", "use letters, digits, '.', '_' and '-' only")
    exchange = _steps(r, keys["exchange"], "exchange")
    if not exchange:
        raise r.error(keys["exchange"], "exchange", "expected at least one step")
    client = _client(r, keys["client"])
    limits = _limits(r, keys["limits"]) if "limits" in keys else Limits()
    certificate = Certificate.GOOD
    if "certificate" in keys:
        if client.tls is not TlsMode.IMPLICIT:
            raise r.error(
                keys["certificate"],
                "certificate",
                "only for client.tls: implicit (the handshake at connect); "
                "for STARTTLS write it on the step: `tls: {start: true, certificate: ...}`",
            )
        certificate = Certificate(r.choice(keys["certificate"], "certificate", _CERTIFICATES))
    gives_up = _first_gives_up(exchange)
    if gives_up is not None:
        if client.timeout is None:
            raise r.error(
                keys["exchange"],
                f"exchange (line {gives_up.line})",
                "a `gives_up` step needs client.timeout: the client is judged against it",
            )
        window = give_up_window(client.timeout)
        if window >= limits.total:
            raise r.error(
                keys["limits"] if "limits" in keys else keys["client"],
                "limits.total",
                f"must exceed {window:g} s, the time a `gives_up` step waits "
                f"(2 x client.timeout + {window - 2 * client.timeout:g} s)",
            )
    return Scenario(
        id=scenario_id,
        title=r.string(keys["title"], "title") if "title" in keys else scenario_id,
        refs=r.strings(keys["refs"], "refs") if "refs" in keys else (),
        tags=r.strings(keys["tags"], "tags") if "tags" in keys else (),
        source=r.string(keys["source"], "source") if "source" in keys else "",
        description=r.string(keys["description"], "description") if "description" in keys else "",
        limits=limits,
        faults=_faults(r, keys["faults"]) if "faults" in keys else (),
        certificate=certificate,
        client=client,
        expect=_expect(r, keys["expect"]),
        exchange=exchange,
        level=_level(r, keys, "level"),
        path=path,
        line=node_line(keys["id"]),
    )


def _first_gives_up(steps: tuple[Step, ...]) -> ClientStep | None:
    for step in steps:
        if isinstance(step, ClientStep) and step.kind == "gives_up":
            return step
        for branch in (
            step.branches
            if isinstance(step, AnyOf)
            else step.groups
            if isinstance(step, Unordered)
            else ()
        ):
            found = _first_gives_up(branch)
            if found is not None:
                return found
    return None


def load_scenario(path: str | Path | None = None, *, id: str | None = None) -> Scenario:
    """Load one scenario file, or one scenario of the built-in corpus by its id.

        load_scenario("scenarios/auth/login.yaml")
        load_scenario(id="auth.login")          # from the installed package, no checkout needed

    Raises:
        ScenarioError: unreadable file, invalid scenario, or no corpus scenario with that id
            (the message lists the closest ids).
    """
    if id is not None:
        if path is not None:
            raise TypeError("load_scenario() takes a path or id=..., not both")
        return load_scenario(corpus_file(id))
    if path is None:
        raise TypeError("load_scenario() needs a path or id=...")
    p = Path(path)
    text = read_yaml_text(p, "file")
    # Errors name the file as given; the scenario, for reports, as harness.corpus.report_path does.
    return replace(parse_scenario(text, str(p)), path=report_path(p))


_ID_LINE = re.compile(r"^id:\s*[\"']?([A-Za-z0-9][A-Za-z0-9._-]*)[\"']?\s*(?:#.*)?$", re.MULTILINE)


@functools.cache
def corpus_ids() -> dict[str, Path]:
    """``{scenario id: file}`` for the built-in corpus (read from each file's ``id:`` line)."""
    found: dict[str, Path] = {}
    for file in iter_scenario_files([corpus_path()]):
        m = _ID_LINE.search(file.read_text(encoding="utf-8", errors="replace"))
        if m is not None:
            found.setdefault(m.group(1), file)
    return found


def corpus_file(scenario_id: str) -> Path:
    """The corpus file of a scenario id.

    Raises:
        ScenarioError: no such id; the message names the closest ones.
    """
    ids = corpus_ids()
    if scenario_id in ids:
        return ids[scenario_id]
    close = difflib.get_close_matches(scenario_id, list(ids), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `smtp-harness list` shows them"
    raise ScenarioError(
        f"no scenario with id {scenario_id!r} in the built-in corpus{hint}", field="id"
    )


def iter_scenario_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every ``*.yaml``/``*.yml`` file named, or found below a named directory, sorted."""
    for path in paths:
        p = Path(path)
        if p.is_dir():
            yield from sorted(
                q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()
            )
        elif p.exists():
            yield p
        else:
            raise ScenarioError("no such file or directory", path=str(p))


def load_scenarios(paths: Iterable[str | Path]) -> list[Scenario]:
    """Load every scenario below ``paths``; duplicate ids are an error.

    Raises:
        ScenarioError: the first invalid file, or a duplicate id (naming both files).
    """
    return check_unique_ids(load_scenario(path) for path in iter_scenario_files(paths))


def check_unique_ids(scenarios: Iterable[Scenario]) -> list[Scenario]:
    """The scenarios, in order, once each id is known to be used only once.

    Raises:
        ScenarioError: a duplicate id, naming both files.
    """
    seen: dict[str, Scenario] = {}
    for scenario in scenarios:
        if scenario.id in seen:
            raise ScenarioError(
                f"duplicate scenario id {scenario.id!r}, first defined at {seen[scenario.id].location}",
                path=scenario.path,
                line=scenario.line,
                field="id",
            )
        seen[scenario.id] = scenario
    return list(seen.values())
