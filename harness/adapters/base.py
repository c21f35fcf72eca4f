"""The adapter interface, and discovery of adapters through the ``smtp_harness.adapters``
entry-point group (the built-in ones register there too, so the mechanism is always used)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol, TypeVar, runtime_checkable

from harness.errors import AdapterError
from harness.outcome import ClientOutcome
from harness.scenario.model import AnyOf, AuthStep, ClientTask, Scenario, Step, TlsMode, Unordered

__all__ = [
    "ENTRY_POINT_GROUP",
    "Capabilities",
    "ClientAdapter",
    "Target",
    "available_adapters",
    "in_own_thread",
    "load_adapter",
    "unsupported_reason",
]

ENTRY_POINT_GROUP = "smtp_harness.adapters"

_T = TypeVar("_T")


async def in_own_thread(work: Callable[[], _T]) -> _T:
    """Run a blocking client in a thread of its own, never the loop's shared executor.

    That executor has a few workers (cores + 4), fewer than ``--jobs`` runs at once; clients
    blocked on a stalled server would hold them all, and the next runs' clients would not start
    before their time limit: judged as never connected. A thread per run makes each client's
    clock start when its run does. The thread is a daemon: one still blocked when the run ends
    finishes on its own timeout without holding up the exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(outcome: _T | None, error: BaseException | None) -> None:
        if future.done():  # the run was cancelled while the client still worked
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]

    def run() -> None:
        outcome: _T | None = None
        error: BaseException | None = None
        try:
            outcome = work()
        except BaseException as exc:  # handed to the awaiting task, which decides
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome, error)

    threading.Thread(target=run, name="smtp-harness-client", daemon=True).start()
    return await future


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where the scripted server listens, and what a client needs to trust it.

    Attributes:
        host, port: the server's address (always loopback).
        ca_file: PEM file of the CA that signed the server certificate.
        ssl_context: a verifying client context trusting that CA.
        server_hostname: the name in the server certificate.
        timeout: seconds the client may wait for any one reply before it gives up: the task's
            ``client.timeout`` when the scenario sets one (adapters pass it to the library's
            timeout argument, or a command's ``{timeout}``), else the run's ``limits.total``.
    """

    host: str
    port: int
    ca_file: str
    ssl_context: ssl.SSLContext
    server_hostname: str = "localhost"
    timeout: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What an adapter can be asked to do; a scenario needing more is skipped, never passed."""

    tls_modes: frozenset[TlsMode] = frozenset(TlsMode)
    auth_mechanisms: frozenset[str] = frozenset({"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"})
    operations: frozenset[str] = frozenset({"send", "vrfy", "expn", "noop", "help", "rset"})
    reports_codes: bool = True  # the outcome carries reply codes that scenarios may check
    # False: the client will not send a password over a connection without TLS unless it is told
    # which mechanism to use (msmtp's policy, which RFC 4954 §4 and RFC 8314 encourage).
    auth_without_tls: bool = True
    dsn: bool = True  # can be asked to request delivery status notifications (RFC 3461)
    sends_per_session: int | None = None  # most messages it sends on one connection (None: any)
    # True: the client is given only the task's Subject and body text and writes the message
    # itself (a mail user agent): its content is compared on those two, whatever else it adds.
    composes_message: bool = False
    # The mechanism the client uses when the task names none ("": it picks one the server
    # offers). A command config without an `auth.any` entry always uses its first mechanism.
    auth_default: str = ""
    picks_auth_mechanism: bool = False  # it chooses the mechanism itself and cannot be told one
    null_sender: bool = True  # it can send MAIL FROM:<> (a bounce, RFC 5321 §4.5.5)


@runtime_checkable
class ClientAdapter(Protocol):
    """Runs one client for one task and says what the client reported."""

    name: str
    capabilities: Capabilities

    async def deliver(self, task: ClientTask, target: Target) -> ClientOutcome:
        """Run the client against ``target``; report failures as outcomes, not exceptions."""
        ...


def available_adapters() -> list[str]:
    """Names of every installed adapter."""
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_adapter(name: str) -> ClientAdapter:
    """Instantiate the adapter registered as ``name``, or the command adapter described by the
    YAML file ``name`` (a path ending in .yaml or .yml). ``NAME:VARIANT`` asks an adapter that
    has variants (``reference:helo``) for one of them, through its ``from_variant`` method.

    Raises:
        AdapterError: no such adapter or variant (the message lists the installed ones), or it
            failed to load.
        ScenarioError: the YAML client config is invalid.
    """
    if name.endswith((".yaml", ".yml")):
        from harness.adapters.command import CommandAdapter  # only configs need it

        return CommandAdapter.from_file(name)
    base, _, variant = name.partition(":")
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == base]
    if not matches:
        known = ", ".join(available_adapters()) or "none (is smtp-harness installed? pip install .)"
        raise AdapterError(f"no client adapter named {base!r}; installed: {known}")
    try:
        factory = matches[0].load()
    except Exception as exc:
        raise AdapterError(f"client adapter {base!r} failed to load: {exc!r}") from exc
    if variant:
        from_variant = getattr(factory, "from_variant", None)
        if from_variant is None:
            raise AdapterError(f"client adapter {base!r} has no variants (reference has)")
        adapter = from_variant(variant)  # raises AdapterError for an unknown variant
    else:
        try:
            adapter = factory()
        except Exception as exc:
            raise AdapterError(f"client adapter {name!r} failed to load: {exc!r}") from exc
    if not isinstance(adapter, ClientAdapter):
        raise AdapterError(f"client adapter {name!r} lacks name, capabilities or deliver()")
    return adapter


def missing_requirement(adapter: ClientAdapter) -> str | None:
    """Why the client behind ``adapter`` cannot run on this machine (a program that is not
    installed), or None. Adapters may define ``missing() -> str | None``; a library adapter
    whose package is missing already fails in load_adapter."""
    check = getattr(adapter, "missing", None)
    result = check() if callable(check) else None
    return result if isinstance(result, str) else None


def unsupported_reason(adapter: ClientAdapter, scenario: Scenario) -> str | None:
    """Why ``adapter`` cannot run ``scenario``, or None if it can."""
    caps, task = adapter.capabilities, scenario.client
    own = getattr(adapter, "unsupported", None)  # an adapter may refuse a task's values
    reason = own(task) if callable(own) else None
    if isinstance(reason, str):
        return reason
    if task.tls not in caps.tls_modes:
        return f"{adapter.name} cannot do TLS mode {task.tls.value}"
    if (
        task.auth is not None
        and task.auth.mechanisms
        and not set(task.auth.mechanisms) & caps.auth_mechanisms
    ):
        return (
            f"{adapter.name} supports none of the AUTH mechanisms {', '.join(task.auth.mechanisms)}"
        )
    if task.auth is not None and task.auth.mechanisms and caps.picks_auth_mechanism:
        return f"{adapter.name} picks its own AUTH mechanism and cannot be told to use {', '.join(task.auth.mechanisms)}"
    if task.sends and not task.mail_from and not caps.null_sender:
        return f"{adapter.name} cannot send the null sender (MAIL FROM:<>)"
    auth = task.auth
    if auth is not None and not caps.auth_mechanisms:
        return f"{adapter.name} cannot authenticate (no AUTH mechanism configured)"
    if auth is not None and task.tls is TlsMode.NONE and not caps.auth_without_tls:
        named = set(auth.mechanisms) & caps.auth_mechanisms
        oauth_only = bool(auth.token) and not auth.password  # XOAUTH2 is then named implicitly
        if not named and not oauth_only:
            return f"{adapter.name} will not send a password without TLS unless told the mechanism (its policy)"
    if (
        auth is not None
        and auth.token
        and not auth.password
        and "XOAUTH2" not in caps.auth_mechanisms
    ):
        return f"{adapter.name} cannot authenticate with an OAuth token (XOAUTH2)"
    if auth is not None and not auth.mechanisms and caps.auth_default:
        per_step = _auth_step_mechanisms(scenario.exchange)
        if per_step and all(n and caps.auth_default not in n for n in per_step):
            accepted = sorted({m for n in per_step for m in n})
            return (
                f"{adapter.name} always uses {caps.auth_default} when the task names no mechanism "
                f"(its config has no `auth.any` entry), and this server accepts only "
                + "/".join(accepted)
            )
    sends = sum(op.kind == "send" for op in task.operations)
    if caps.sends_per_session is not None and sends > caps.sends_per_session:
        return f"{adapter.name} sends at most {caps.sends_per_session} message(s) per connection"
    if task.dsn is not None and not caps.dsn:
        return f"{adapter.name} cannot be asked to request delivery status notifications"
    for op in task.operations:
        if op.kind not in caps.operations:
            return f"{adapter.name} cannot perform the operation {op.kind}"
    return None


def _auth_step_mechanisms(steps: tuple[Step, ...]) -> list[tuple[str, ...]]:
    """The mechanisms each AUTH step of the exchange accepts (() for any), in every branch."""
    out: list[tuple[str, ...]] = []
    for step in steps:
        if isinstance(step, AuthStep):
            out.append(step.mechanisms)
        elif isinstance(step, AnyOf | Unordered):
            for group in step.branches if isinstance(step, AnyOf) else step.groups:
                out += _auth_step_mechanisms(group)
    return out
