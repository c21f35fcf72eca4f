"""The ``command`` adapter: any external SMTP client, configured in YAML, no Python needed.

A config names the program, its arguments with placeholders, the extra arguments for each TLS
mode and AUTH mechanism, how its exit status (and optionally its output) maps to an outcome, and a
time limit. The program is started without a shell: every placeholder becomes part of exactly one
argument, so nothing in a scenario can inject a command. Whether a value can inject an *option*
depends on the program's own parser: see ``refuse_leading_dash`` and docs/clients.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import email.utils
import os
import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.adapters.base import Capabilities, Target
from harness.errors import AdapterError
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask, Outcome, TlsMode
from harness.yaml_nodes import NodeReader, compose, read_yaml_text

__all__ = [
    "PLACEHOLDERS",
    "CommandAdapter",
    "CommandConfig",
    "OptionalArgs",
    "builtin_config_path",
    "split_recipients",
]

PLACEHOLDERS = (
    "host",
    "port",
    "mail_from",
    "rcpt",
    "rcpt_list",
    "username",
    "password",
    "password_file",
    "message_file",
    "ca_file",
    "ehlo_name",
    "token",
    "token_file",
    "ehlo_name_url",
    "tls_mode",
    "timeout",
    "server_name",
    "header_rcpt_list",
    "bcc_list",
    "subject",
    "body_file",
    "config_dir",
)
# Placeholders that have no value when the task leaves the choice to the client. Outside an
# optional group {ehlo_name} then becomes "localhost" (what configs got before groups existed);
# {timeout} must be in an optional group.
MAYBE_UNSET = {"ehlo_name": "localhost", "ehlo_name_url": "localhost", "timeout": None}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_BUILTIN = Path(__file__).parent / "clients"


@dataclass(frozen=True, slots=True)
class OptionalArgs:
    """Arguments left out (``otherwise`` used instead) when one of their placeholders has no
    value for the task, e.g. ``--ehlo {ehlo_name}`` when the task leaves the name to the client."""

    args: tuple[str, ...]
    otherwise: tuple[str, ...] = ()


Arg = str | OptionalArgs


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandConfig:
    """A command-line client, as its YAML file describes it."""

    name: str
    program: str
    args: tuple[Arg, ...]
    each_recipient: tuple[Arg, ...] = ()
    each_bcc: tuple[Arg, ...] | None = None  # envelope-only recipients; None: each_recipient
    end_of_options: str = ""  # e.g. "--", put before the recipients
    null_sender: str = ""  # what {mail_from} becomes for the null sender, e.g. "<>"
    # False: the client refuses to send a password in clear unless told the mechanism.
    auth_without_tls: bool = True
    env: dict[str, str] = field(default_factory=dict)  # extra environment; placeholders allowed
    # True: the program writes its own message from the task's subject and body (a mail user
    # agent), so only those are compared (Capabilities.composes_message).
    composes_message: bool = False
    # Environment set only when the task authenticates: how a secret reaches a program that
    # reads it from there, out of the command line that any local user can read.
    auth_env: dict[str, str] = field(default_factory=dict)
    tls: dict[str, tuple[Arg, ...]]
    auth: dict[str, tuple[Arg, ...]]
    stdin: str = "none"  # none | message | body
    # True: the message handed over ends with a line holding a single "." (for a data option
    # such as swaks's --data, which strips one closing dot if present and adds its own).
    closing_dot: bool = False
    delivered: frozenset[int] = frozenset({0})
    # Output that shows the server accepted the message although the exit status says
    # otherwise (a client that also reports trouble at QUIT, after the work was done).
    delivered_output: str | None = None
    unsupported: frozenset[int] = frozenset()  # exit statuses that mean "cannot do this": skip
    code_pattern: str | None = None
    # The program reads any argument starting with "-" as an option, even where a value is due:
    # a task value like that is refused (the scenario is skipped), never passed on.
    refuse_leading_dash: bool = False
    picks_auth_mechanism: bool = False  # it cannot be told which mechanism to use
    sends_null_sender: bool = True  # False: it cannot send MAIL FROM:<>
    timeout: float = 30.0
    install: str = ""
    # Files that must exist besides the program (a library a driver script loads); "~" allowed.
    requires: tuple[str, ...] = ()
    path: str = ""

    @classmethod
    def from_file(cls, path: str | Path) -> CommandConfig:
        """Load and check a config file.

        Raises:
            ScenarioError: the file is unusable (with file:line and field).
        """
        p = Path(path)
        text = read_yaml_text(p, "client config")
        root, r = compose(text, str(p))
        keys = r.mapping(
            root,
            "",
            (
                "name",
                "program",
                "args",
                "each_recipient",
                "tls",
                "auth",
                "stdin",
                "outcome",
                "timeout",
                "install",
                "description",
                "end_of_options",
                "null_sender",
                "auth_without_tls",
                "env",
                "closing_dot",
                "composes_message",
                "each_bcc",
                "auth_env",
                "refuse_leading_dash",
                "picks_auth_mechanism",
                "sends_null_sender",
                "requires",
            ),
            required=("name", "program", "args", "tls"),
        )
        if "description" in keys:  # free text, but text: the JSON Schema says so too
            r.string(keys["description"], "description")
        tls = _arg_table(r, keys["tls"], "tls", [m.value for m in TlsMode])
        auth = (
            _arg_table(r, keys["auth"], "auth", ["any", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"])
            if "auth" in keys
            else {}
        )
        delivered, unsupported, pattern = frozenset({0}), frozenset[int](), None
        delivered_output = None
        if "outcome" in keys:
            o = r.mapping(
                keys["outcome"],
                "outcome",
                ("delivered", "unsupported", "delivered_output", "code_pattern"),
            )
            if "delivered" in o:
                delivered = _statuses(r, o["delivered"], "outcome.delivered")
            if "unsupported" in o:
                unsupported = _statuses(r, o["unsupported"], "outcome.unsupported")
            if "delivered_output" in o:
                delivered_output = r.string(o["delivered_output"], "outcome.delivered_output")
                try:
                    re.compile(delivered_output)
                except re.error as exc:
                    raise r.error(
                        o["delivered_output"], "outcome.delivered_output", f"invalid regex: {exc}"
                    ) from None
            if "code_pattern" in o:
                pattern = _code_pattern(r, o["code_pattern"])
        flag = {
            name: r.boolean(keys[name], name)
            for name in ("refuse_leading_dash", "picks_auth_mechanism", "sends_null_sender")
            if name in keys
        }
        config = cls(
            name=r.string(keys["name"], "name"),
            program=r.string(keys["program"], "program"),
            args=_args(r, keys["args"], "args"),
            each_recipient=_args(r, keys["each_recipient"], "each_recipient")
            if "each_recipient" in keys
            else (),
            each_bcc=_args(r, keys["each_bcc"], "each_bcc") if "each_bcc" in keys else None,
            end_of_options=r.string(keys["end_of_options"], "end_of_options")
            if "end_of_options" in keys
            else "",
            null_sender=r.string(keys["null_sender"], "null_sender")
            if "null_sender" in keys
            else "",
            auth_without_tls=r.boolean(keys["auth_without_tls"], "auth_without_tls")
            if "auth_without_tls" in keys
            else True,
            env=_env(r, keys["env"], "env") if "env" in keys else {},
            auth_env=_env(r, keys["auth_env"], "auth_env") if "auth_env" in keys else {},
            composes_message=r.boolean(keys["composes_message"], "composes_message")
            if "composes_message" in keys
            else False,
            tls=tls,
            auth=auth,
            stdin=r.choice(keys["stdin"], "stdin", ("none", "message", "body"))
            if "stdin" in keys
            else "none",
            closing_dot=r.boolean(keys["closing_dot"], "closing_dot")
            if "closing_dot" in keys
            else False,
            delivered=delivered,
            unsupported=unsupported,
            delivered_output=delivered_output,
            code_pattern=pattern,
            refuse_leading_dash=flag.get("refuse_leading_dash", False),
            picks_auth_mechanism=flag.get("picks_auth_mechanism", False),
            sends_null_sender=flag.get("sends_null_sender", True),
            timeout=r.number(keys["timeout"], "timeout", minimum=0.1)
            if "timeout" in keys
            else 30.0,
            install=r.string(keys["install"], "install") if "install" in keys else "",
            requires=r.strings(keys["requires"], "requires") if "requires" in keys else (),
            path=str(p),
        )
        return config


def _code_pattern(r: NodeReader, node: yaml.Node) -> str:
    """A regex whose one group, or whose group named ``code``, is the reply code."""
    field = "outcome.code_pattern"
    pattern = r.string(node, field)
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise r.error(node, field, f"invalid regex: {exc}") from None
    if compiled.groups != 1 and "code" not in compiled.groupindex:
        raise r.error(
            node,
            field,
            f"expected one group, or a group named `code` ((?P<code>...)), holding the reply "
            f"code; this regex has {compiled.groups} groups",
        )
    return pattern


def _reply_code(pattern: str, output: str) -> int | None:
    """The reply code in the last match of ``pattern`` (its group ``code``, else its group)."""
    compiled = re.compile(pattern, re.MULTILINE)
    group: str | int = "code" if "code" in compiled.groupindex else 1
    codes = [m.group(group) for m in compiled.finditer(output)]
    if not codes or codes[-1] is None or not codes[-1].strip().isdigit():
        return None
    return int(codes[-1])


def _statuses(r: NodeReader, node: yaml.Node, field: str) -> frozenset[int]:
    values = [r.scalar(n, field) for n in r.sequence(node, field)]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise r.error(node, field, "expected a list of exit statuses")
    return frozenset(values)


def _args(r: NodeReader, node: yaml.Node, field: str, *, in_group: bool = False) -> tuple[Arg, ...]:
    out: list[Arg] = []
    for i, item in enumerate(r.sequence(node, field)):
        where = f"{field}[{i}]"
        if isinstance(item, yaml.MappingNode) and not in_group:
            g = r.mapping(item, where, ("optional", "otherwise"), required=("optional",))
            args = _args(r, g["optional"], f"{where}.optional", in_group=True)
            otherwise = (
                _args(r, g["otherwise"], f"{where}.otherwise", in_group=True)
                if "otherwise" in g
                else ()
            )
            if not any(_PLACEHOLDER.search(a) for a in args if isinstance(a, str)):
                raise r.error(
                    g["optional"],
                    f"{where}.optional",
                    "names no placeholder, so it is never left out",
                )
            out.append(OptionalArgs(tuple(map(str, args)), tuple(map(str, otherwise))))
            continue
        arg = r.string(item, where, allow_numbers=True)
        for name in _PLACEHOLDER.findall(arg):
            if name not in PLACEHOLDERS:
                raise r.error(
                    item,
                    where,
                    f"unknown placeholder {{{name}}}; known: {', '.join(PLACEHOLDERS)}",
                )
            if not in_group and name in MAYBE_UNSET and MAYBE_UNSET[name] is None:
                raise r.error(
                    item,
                    where,
                    f"{{{name}}} has no value when the task leaves it to the client: put it in "
                    "an optional group ({optional: [...]})",
                )
        out.append(arg)
    return tuple(out)


def _env(r: NodeReader, node: yaml.Node, field: str) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode):
        raise r.error(node, field, "expected a mapping of variable names to values")
    out = {}
    for key_node, value_node in node.value:
        name = r.string(key_node, field)
        value = _args(
            r, yaml.SequenceNode("tag:yaml.org,2002:seq", [value_node]), f"{field}.{name}"
        )
        if not isinstance(value[0], str):
            raise r.error(value_node, f"{field}.{name}", "expected a string")
        out[name] = value[0]
    return out


def _arg_table(
    r: NodeReader, node: yaml.Node, field: str, allowed: list[str]
) -> dict[str, tuple[Arg, ...]]:
    keys = r.mapping(node, field, allowed)
    return {k: _args(r, v, f"{field}.{k}") for k, v in keys.items()}


def builtin_config_path(name: str) -> Path:
    return _BUILTIN / f"{name}.yaml"


class CommandAdapter:
    """Runs a configured external program as the client under test."""

    def __init__(self, config: CommandConfig) -> None:
        self.config = config
        self.name = config.name
        self.capabilities = Capabilities(
            tls_modes=frozenset(TlsMode(m) for m in config.tls),
            auth_mechanisms=frozenset(m for m in config.auth if m != "any")
            or (frozenset({"PLAIN", "LOGIN", "CRAM-MD5"}) if "any" in config.auth else frozenset()),
            operations=frozenset({"send"}),
            reports_codes=config.code_pattern is not None,
            auth_without_tls=config.auth_without_tls,
            dsn=False,
            sends_per_session=1,  # one run of the program, one message
            composes_message=config.composes_message,
            auth_default=self._auth_default(),
            picks_auth_mechanism=config.picks_auth_mechanism,
            null_sender=config.sends_null_sender,
        )

    def _auth_default(self) -> str:
        """The mechanism used when the task names none: "" (the program chooses) with an
        `auth.any` entry, else the first mechanism the config lists."""
        listed = [m for m in self.config.auth if m != "any"]
        return "" if "any" in self.config.auth or not listed else listed[0]

    @classmethod
    def from_file(cls, path: str | Path) -> CommandAdapter:
        return cls(CommandConfig.from_file(path))

    def unsupported(self, task: ClientTask) -> str | None:
        """Why this program cannot be given ``task`` (or not safely), or None. A client that is
        not installed says so when it is run (an error), not here as a skip."""
        c = self.config
        if self.missing() is not None:
            return None
        if not c.refuse_leading_dash:
            return None
        values = {
            "sender": [task.mail_from],
            "recipient": list(task.rcpt_to),
            "EHLO name": [task.ehlo_name or ""],
            "user name": [task.auth.username if task.auth else ""],
            "password": [task.auth.password if task.auth else ""],
            "token": [task.auth.token if task.auth else ""],
        }
        for what, texts in values.items():
            for text in texts:
                if text.startswith("-"):
                    return (
                        f"{self.name} would read the {what} {text[:40]!r} as an option "
                        "(it starts with '-'), so it cannot be given it"
                    )
        return None

    def argv(self, task: ClientTask, values: dict[str, str | None]) -> list[str]:
        """The full argument list for ``task`` (each placeholder becomes part of one argument;
        an optional group whose placeholder has no value (None) is left out)."""
        c = self.config

        def sub(arg: str, table: dict[str, str | None]) -> str:
            def one(m: re.Match[str]) -> str:
                name = m.group(1)
                value = table.get(name, m.group(0))
                return value if value is not None else (MAYBE_UNSET.get(name) or "")

            return _PLACEHOLDER.sub(one, arg)

        def fill(args: tuple[Arg, ...], extra: dict[str, str | None] | None = None) -> list[str]:
            table = {**values, **(extra or {})}
            out: list[str] = []
            for arg in args:
                if isinstance(arg, str):
                    out.append(sub(arg, table))
                    continue
                names = [n for a in arg.args for n in _PLACEHOLDER.findall(a)]
                chosen = arg.otherwise if any(table.get(n) is None for n in names) else arg.args
                out += [sub(a, table) for a in chosen]
            return out

        argv = [c.program, *fill(c.args), *fill(c.tls[task.tls.value])]
        if task.auth is not None:
            oauth_only = task.auth.token and not task.auth.password
            default = "XOAUTH2" if oauth_only else (self.capabilities.auth_default or "any")
            chosen = next((m for m in task.auth.mechanisms if m in c.auth), default)
            if chosen not in c.auth:
                raise AdapterError(f"{c.name}: the config has no auth arguments for {chosen}")
            argv += fill(c.auth[chosen])
        _header, bcc = split_recipients(task)
        if c.each_bcc is not None:  # options, so before the end of options
            for rcpt in bcc:
                argv += fill(c.each_bcc, {"rcpt": rcpt})
        if c.end_of_options:
            argv.append(c.end_of_options)
        for rcpt in task.rcpt_to:
            if c.each_bcc is None or rcpt not in bcc:
                argv += fill(c.each_recipient, {"rcpt": rcpt})
        return argv

    def missing(self) -> str | None:
        """What is not installed (with the install hint), or None when the client can run."""
        c = self.config
        hint = f" (install: {c.install})" if c.install else ""
        if shutil.which(c.program) is None:
            return f"{c.name}: the program {c.program!r} is not on PATH{hint}"
        for needed in c.requires:
            if not Path(needed).expanduser().exists():
                return f"{c.name}: {needed} is missing{hint}"
        return None

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        c = self.config
        absent = self.missing()
        if absent is not None:
            raise AdapterError(absent)
        program = shutil.which(c.program)
        assert program is not None
        refused = self.unsupported(task)
        if refused is not None:  # the runner skips such tasks; a direct caller gets a skip too
            return ClientOutcome(outcome=Outcome.FAILED, message=refused, unsupported=refused)
        message = task.message
        if c.closing_dot:
            message += (b"" if message.endswith(b"\n") else b"\r\n") + b".\r\n"
        with tempfile.TemporaryDirectory(prefix="smtp-harness-") as tmp:
            message_file = Path(tmp, "message.eml")
            message_file.write_bytes(message)
            body_file = Path(tmp, "body.txt")
            subject, body = _subject_and_body(task.message)
            if not task.raw_message:  # a local text file, as a user's program would write it
                body = body.replace(b"\r\n", b"\n")
            body_file.write_bytes(body)
            password_file = Path(tmp, "password")
            password_file.write_text(task.auth.password if task.auth else "")
            token_file = Path(tmp, "token")
            token_file.write_text(task.auth.token if task.auth else "")
            header, bcc = split_recipients(task)
            values: dict[str, str | None] = {
                "host": target.host,
                "port": str(target.port),
                "mail_from": task.mail_from or c.null_sender,
                "rcpt_list": ",".join(task.rcpt_to),
                "header_rcpt_list": ",".join(header),
                "bcc_list": ",".join(bcc),
                "username": task.auth.username if task.auth else "",
                "password": task.auth.password if task.auth else "",
                "password_file": str(password_file),
                "token": task.auth.token if task.auth else "",
                "token_file": str(token_file),
                "message_file": str(message_file),
                "body_file": str(body_file),
                "subject": subject,
                "ca_file": target.ca_file,
                "ehlo_name": task.ehlo_name,
                "ehlo_name_url": urllib.parse.quote(task.ehlo_name, safe="")
                if task.ehlo_name is not None
                else None,
                "tls_mode": task.tls.value,
                "timeout": f"{task.timeout:g}" if task.timeout is not None else None,
                "server_name": target.server_hostname,
                "config_dir": str(Path(c.path).resolve().parent) if c.path else "",
            }
            argv = self.argv(task, values)
            argv[0] = program
            env = {
                k: _PLACEHOLDER.sub(
                    lambda m: values.get(m.group(1)) or MAYBE_UNSET.get(m.group(1)) or "", v
                )
                for k, v in {**c.env, **(c.auth_env if task.auth else {})}.items()
            }
            stdin = {"message": message, "body": body}.get(c.stdin)
            return await self._run(argv, stdin, env)

    async def _run(
        self, argv: list[str], stdin: bytes | None, env: dict[str, str]
    ) -> ClientOutcome:
        c = self.config
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # A UTF-8 locale: with LC_ALL=C some programs turn non-ASCII text into "?".
            env={**os.environ, "LC_ALL": "C.UTF-8", **env},
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(stdin), c.timeout)
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return ClientOutcome(
                outcome=Outcome.FAILED, message=f"{c.name} did not finish within {c.timeout:g} s"
            )
        output = (out + err).decode("utf-8", "backslashreplace")
        status = process.returncode
        if status in c.delivered:
            return ClientOutcome(outcome=Outcome.DELIVERED, message=f"exit status {status}")
        if c.delivered_output is not None and re.search(c.delivered_output, output, re.MULTILINE):
            return ClientOutcome(
                outcome=Outcome.DELIVERED,
                message=f"exit status {status}, but the output shows the message was accepted",
            )
        tail = " | ".join(line.strip() for line in output.strip().splitlines()[-3:])
        if status in c.unsupported:
            reason = f"{c.name} says it cannot do this (exit status {status}: {tail})"
            return ClientOutcome(outcome=Outcome.FAILED, message=reason, unsupported=reason)
        code = _reply_code(c.code_pattern, output) if c.code_pattern is not None else None
        return ClientOutcome(
            outcome=Outcome.FAILED,
            code=code,
            message=f"exit status {status}: {tail}",
        )


def split_recipients(task: ClientTask) -> tuple[list[str], list[str]]:
    """The task's recipients named in the message's To or Cc header, and the envelope-only rest
    (Bcc: they get a RCPT but must appear in no header, RFC 5322 §3.6.3). When the message
    names none of them, all are header recipients."""
    head = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(task.message)
    fields = [str(v) for name in ("to", "cc") for v in head.get_all(name, [])]
    named = {addr.lower() for _, addr in email.utils.getaddresses(fields) if addr}
    header = [r for r in task.rcpt_to if r.lower() in named]
    if not header:  # the message names no recipient: there is nothing to keep out of a header
        return list(task.rcpt_to), []
    return header, [r for r in task.rcpt_to if r.lower() not in named]


def _subject_and_body(message: bytes) -> tuple[str, bytes]:
    """The Subject header (unfolded) and the body, for clients that compose their own message."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        head, found, body = message.partition(sep)
        if found:
            break
    else:
        head, body = message, b""
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + sep)
    subject = str(parsed.get("subject", "")).replace("\r\n", "").replace("\n", "")
    return subject, body


def swaks() -> CommandAdapter:
    return CommandAdapter.from_file(builtin_config_path("swaks"))


def curl() -> CommandAdapter:
    return CommandAdapter.from_file(builtin_config_path("curl"))


def msmtp() -> CommandAdapter:
    return CommandAdapter.from_file(builtin_config_path("msmtp"))


def nodemailer() -> CommandAdapter:
    return CommandAdapter.from_file(builtin_config_path("nodemailer"))


def s_nail() -> CommandAdapter:
    return CommandAdapter.from_file(builtin_config_path("s-nail"))
