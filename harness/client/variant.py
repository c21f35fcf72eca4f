"""Legal variations of the reference client: the choices the RFCs leave to a real client.

The default ``ClientVariant()`` is the reference client's strict behaviour. Each switch turns on
one thing a real client may legally do instead; the corpus must not fail any of them (the variant
test in ``tests/variants`` runs every named variant over the whole corpus). Variants are chosen by
name, ``reference:helo``, or several joined with ``+``: ``reference:helo+no-quit``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

from harness.errors import AdapterError

__all__ = ["STRICT", "VARIANTS", "AuthOrder", "ClientVariant", "parse_variant"]

AuthOrder = Literal["preferred", "last-offered", "seeded"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientVariant:
    """What the client chooses where the RFCs allow a choice.

    Attributes:
        helo: say HELO, not EHLO, whenever the task needs no extension (RFC 5321 §3.2). A task
            that needs STARTTLS, AUTH, DSN, SMTPUTF8 or 8BITMIME still says EHLO, as a real
            client must to use them.
        pipelining: use PIPELINING when advertised; False sends every command lock-step
            (RFC 2920 §3: the client "MAY" pipeline, never must).
        quit_after_error: False closes the connection without QUIT once an error decided the
            outcome, instead of saying QUIT.
        rset_before_quit: send RSET (and wait for its reply) before every QUIT in a session that
            got past EHLO/HELO (RFC 5321 §4.1.1.5: RSET may be sent at any time).
        regenerate: rewrite the message as mail libraries do: Date, Message-ID, MIME-Version and
            Content-Type added where missing, and a quoted-printable body when a line is longer
            than 76 octets or holds 8-bit bytes (RFC 2045 §6.7); see ``compose.py``.
        compose: as ``regenerate``, and also replace the Date and Message-ID the message has, as
            a mail user agent that writes its own message from the subject and the body does
            (the adapter then declares ``Capabilities.composes_message``).
        refuse_before_connect: refuse bad input (CR, LF or NUL in an address; a non-ASCII
            address when ``smtputf8`` is off) before connecting at all.
        smtputf8: False is a client without SMTPUTF8: it refuses every non-ASCII address locally,
            even where the server advertises SMTPUTF8 (RFC 6531 is an optional extension).
        report_lost_connection: when the server hangs up before QUIT, report the lost connection
            (no code) instead of the last failing reply (RFC 5321 §3.8).
        auth_order: which offered AUTH mechanism to try first, when the task names none:
            ``preferred`` (strongest first), ``last-offered`` (the server's list, last first) or
            ``seeded`` (a shuffle from ``seed``). Only mechanisms the server offered are tried.
        seed: the seed for ``auth_order: seeded``.
        exit_delay: seconds the client takes to report after its session has ended (a program
            that is slow to exit).
    """

    helo: bool = False
    pipelining: bool = True
    quit_after_error: bool = True
    rset_before_quit: bool = False
    regenerate: bool = False
    compose: bool = False
    refuse_before_connect: bool = False
    smtputf8: bool = True
    report_lost_connection: bool = False
    auth_order: AuthOrder = "preferred"
    seed: int = 0
    exit_delay: float = 0.0

    def describe(self) -> str:
        """The switches that differ from the strict default, e.g. ``helo=True``."""
        changed = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(STRICT, f.name)
        ]
        return ", ".join(changed) or "strict"


STRICT = ClientVariant()

# The named variants: one legal choice each, so a failure names the choice that caused it.
VARIANTS: dict[str, ClientVariant] = {
    "helo": ClientVariant(helo=True),
    "no-pipelining": ClientVariant(pipelining=False),
    "no-quit": ClientVariant(quit_after_error=False),
    "rset-quit": ClientVariant(rset_before_quit=True),
    "regenerate": ClientVariant(regenerate=True),
    "compose": ClientVariant(compose=True),
    "local-refusal": ClientVariant(refuse_before_connect=True),
    "no-smtputf8": ClientVariant(smtputf8=False),
    "lost-connection": ClientVariant(report_lost_connection=True),
    "auth-last": ClientVariant(auth_order="last-offered"),
    "auth-seeded": ClientVariant(auth_order="seeded", seed=1),
    "slow-exit": ClientVariant(exit_delay=1.5),
}


def parse_variant(spec: str) -> ClientVariant:
    """``helo`` or ``helo+no-quit`` → the variant with all of those switches.

    Raises:
        AdapterError: an unknown name (the message lists the known ones).
    """
    variant = STRICT
    for name in spec.split("+"):
        known = VARIANTS.get(name.strip())
        if known is None:
            raise AdapterError(
                f"no reference client variant named {name.strip()!r}; known: {', '.join(VARIANTS)}"
            )
        changes = {
            f.name: getattr(known, f.name)
            for f in fields(known)
            if getattr(known, f.name) != getattr(STRICT, f.name)
        }
        variant = replace(variant, **changes)
    return variant
