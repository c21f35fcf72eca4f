"""The ``command`` adapter: any external SMTP client, configured in YAML, no Python needed.

A config names the program, its arguments with placeholders, the extra arguments for each TLS
mode and AUTH mechanism, how its exit status (and optionally its output) maps to an outcome, and a
time limit. The program is started without a shell: every placeholder becomes exactly one
argument, so nothing in a scenario can inject a command. See docs/clients.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.adapters.base import Capabilities, Target
from harness.errors import AdapterError, ScenarioError
from harness.outcome import ClientOutcome
from harness.scenario.model import ClientTask, Outcome, TlsMode
from harness.yaml_nodes import NodeReader, compose

__all__ = ["PLACEHOLDERS", "CommandAdapter", "CommandConfig", "builtin_config_path"]

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
)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_BUILTIN = Path(__file__).parent / "clients"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandConfig:
    """A command-line client, as its YAML file describes it."""

    name: str
    program: str
    args: tuple[str, ...]
    each_recipient: tuple[str, ...] = ()
    end_of_options: str = ""  # e.g. "--", put before the recipients
    null_sender: str = ""  # what {mail_from} becomes for the null sender, e.g. "<>"
    # False: the client refuses to send a password in clear unless told the mechanism.
    auth_without_tls: bool = True
    env: dict[str, str] = field(default_factory=dict)  # extra environment; placeholders allowed
    # True: the program writes its own message from the task's subject and body (a mail user
    # agent), so only those are compared (Capabilities.composes_message).
    composes_message: bool = False
    tls: dict[str, tuple[str, ...]]
    auth: dict[str, tuple[str, ...]]
    stdin: str = "none"  # none | message
    delivered: frozenset[int] = frozenset({0})
    code_pattern: str | None = None
    timeout: float = 30.0
    install: str = ""
    path: str = ""

    @classmethod
    def from_file(cls, path: str | Path) -> CommandConfig:
        """Load and check a config file.

        Raises:
            ScenarioError: the file is unusable (with file:line and field).
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot read the client config: {exc}", path=str(p)) from None
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
                "composes_message",
            ),
            required=("name", "program", "args", "tls"),
        )
        tls = _arg_table(r, keys["tls"], "tls", [m.value for m in TlsMode])
        auth = (
            _arg_table(r, keys["auth"], "auth", ["any", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"])
            if "auth" in keys
            else {}
        )
        delivered, pattern = frozenset({0}), None
        if "outcome" in keys:
            o = r.mapping(keys["outcome"], "outcome", ("delivered", "code_pattern"))
            if "delivered" in o:
                values = [
                    r.scalar(n, "outcome.delivered")
                    for n in r.sequence(o["delivered"], "outcome.delivered")
                ]
                if not all(isinstance(v, int) for v in values):
                    raise r.error(
                        o["delivered"], "outcome.delivered", "expected a list of exit statuses"
                    )
                delivered = frozenset(values)
            if "code_pattern" in o:
                pattern = _code_pattern(r, o["code_pattern"])
        config = cls(
            name=r.string(keys["name"], "name"),
            program=r.string(keys["program"], "program"),
            args=_args(r, keys["args"], "args"),
            each_recipient=_args(r, keys["each_recipient"], "each_recipient")
            if "each_recipient" in keys
            else (),
            end_of_options=r.string(keys["end_of_options"], "end_of_options")
            if "end_of_options" in keys
            else "",
            null_sender=r.string(keys["null_sender"], "null_sender")
            if "null_sender" in keys
            else "",
            auth_without_tls=r.boolean(keys["auth_without_tls"], "auth_without_tls")
            if "auth_without_tls" in keys
            else True,
            env=_env(r, keys["env"]) if "env" in keys else {},
            composes_message=r.boolean(keys["composes_message"], "composes_message")
            if "composes_message" in keys
            else False,
            tls=tls,
            auth=auth,
            stdin=r.choice(keys["stdin"], "stdin", ("none", "message"))
            if "stdin" in keys
            else "none",
            delivered=delivered,
            code_pattern=pattern,
            timeout=r.number(keys["timeout"], "timeout", minimum=0.1)
            if "timeout" in keys
            else 30.0,
            install=r.string(keys["install"], "install") if "install" in keys else "",
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


def _args(r: NodeReader, node: yaml.Node, field: str) -> tuple[str, ...]:
    out = []
    for i, item in enumerate(r.sequence(node, field)):
        arg = r.string(item, f"{field}[{i}]", allow_numbers=True)
        for name in _PLACEHOLDER.findall(arg):
            if name not in PLACEHOLDERS:
                raise r.error(
                    item,
                    f"{field}[{i}]",
                    f"unknown placeholder {{{name}}}; known: {', '.join(PLACEHOLDERS)}",
                )
        out.append(arg)
    return tuple(out)


def _env(r: NodeReader, node: yaml.Node) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode):
        raise r.error(node, "env", "expected a mapping of variable names to values")
    out = {}
    for key_node, value_node in node.value:
        name = r.string(key_node, "env")
        out[name] = _args(
            r, yaml.SequenceNode("tag:yaml.org,2002:seq", [value_node]), f"env.{name}"
        )[0]
    return out


def _arg_table(
    r: NodeReader, node: yaml.Node, field: str, allowed: list[str]
) -> dict[str, tuple[str, ...]]:
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
        )

    def _auth_default(self) -> str:
        """The mechanism used when the task names none: "" (the program chooses) with an
        `auth.any` entry, else the first mechanism the config lists."""
        listed = [m for m in self.config.auth if m != "any"]
        return "" if "any" in self.config.auth or not listed else listed[0]

    @classmethod
    def from_file(cls, path: str | Path) -> CommandAdapter:
        return cls(CommandConfig.from_file(path))

    def missing(self) -> str | None:
        """Why this client cannot run here (its program is not installed), or None."""
        c = self.config
        if shutil.which(c.program) is not None:
            return None
        hint = f" (install: {c.install})" if c.install else ""
        return f"{c.name}: the program {c.program!r} is not on PATH{hint}"

    def argv(self, task: ClientTask, values: dict[str, str]) -> list[str]:
        """The full argument list for ``task`` (each placeholder becomes part of one argument)."""
        c = self.config

        def fill(args: tuple[str, ...], extra: dict[str, str] | None = None) -> list[str]:
            table = {**values, **(extra or {})}
            return [_PLACEHOLDER.sub(lambda m: table.get(m.group(1), m.group(0)), a) for a in args]

        argv = [c.program, *fill(c.args), *fill(c.tls[task.tls.value])]
        if task.auth is not None:
            oauth_only = task.auth.token and not task.auth.password
            default = "XOAUTH2" if oauth_only else (self.capabilities.auth_default or "any")
            chosen = next((m for m in task.auth.mechanisms if m in c.auth), default)
            if chosen not in c.auth:
                raise AdapterError(f"{c.name}: the config has no auth arguments for {chosen}")
            argv += fill(c.auth[chosen])
        if c.end_of_options:
            argv.append(c.end_of_options)
        for rcpt in task.rcpt_to:
            argv += fill(c.each_recipient, {"rcpt": rcpt})
        return argv

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        c = self.config
        program = shutil.which(c.program)
        if program is None:
            hint = f" (install: {c.install})" if c.install else ""
            raise AdapterError(f"{c.name}: the program {c.program!r} is not on PATH{hint}")
        with tempfile.TemporaryDirectory(prefix="smtp-harness-") as tmp:
            message_file = Path(tmp, "message.eml")
            message_file.write_bytes(task.message)
            password_file = Path(tmp, "password")
            password_file.write_text(task.auth.password if task.auth else "")
            token_file = Path(tmp, "token")
            token_file.write_text(task.auth.token if task.auth else "")
            values = {
                "host": target.host,
                "port": str(target.port),
                "mail_from": task.mail_from or c.null_sender,
                "rcpt_list": ",".join(task.rcpt_to),
                "username": task.auth.username if task.auth else "",
                "password": task.auth.password if task.auth else "",
                "password_file": str(password_file),
                "token": task.auth.token if task.auth else "",
                "token_file": str(token_file),
                "message_file": str(message_file),
                "ca_file": target.ca_file,
                "ehlo_name": task.ehlo_name or "localhost",
                "ehlo_name_url": urllib.parse.quote(task.ehlo_name or "localhost", safe=""),
            }
            argv = self.argv(task, values)
            argv[0] = program
            env = {
                k: _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), v)
                for k, v in c.env.items()
            }
            return await self._run(argv, task.message if c.stdin == "message" else None, env)

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
        code = _reply_code(c.code_pattern, output) if c.code_pattern is not None else None
        tail = " | ".join(line.strip() for line in output.strip().splitlines()[-3:])
        return ClientOutcome(
            outcome=Outcome.FAILED, code=code, message=f"exit status {status}: {tail}"
        )


def swaks() -> CommandAdapter:
    return CommandAdapter.from_file(builtin_config_path("swaks"))


def curl() -> CommandAdapter:
    return CommandAdapter.from_file(builtin_config_path("curl"))


def msmtp() -> CommandAdapter:
    return CommandAdapter.from_file(builtin_config_path("msmtp"))
