"""The harness's exception tree.

    HarnessError                      root of everything we raise
    ├── ScenarioError(ValueError)     a scenario file is unusable: prints as file:line: field: message
    ├── ProtocolError                 somebody broke SMTP framing
    │   ├── LocalProtocolError        we were asked to send something illegal
    │   └── RemoteProtocolError       the peer sent something illegal
    │       └── MessageTooLarge       ... more message octets than the limit allows
    └── AdapterError                  a client adapter is missing or broken

A client that breaks the RFC is *not* an exception: that is a verdict, recorded in a Result.
Exceptions mean bad input or a harness bug.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "HarnessError",
    "LocalProtocolError",
    "MessageTooLarge",
    "ProtocolError",
    "RemoteProtocolError",
    "ScenarioError",
]


class HarnessError(Exception):
    """Root of every exception the harness raises on purpose."""


class ScenarioError(HarnessError, ValueError):
    """A scenario file cannot be used.

    Args:
        message: what is wrong and what was expected.
        path: the file, if known.
        line: 1-based line number, if known.
        field: dotted path of the offending field, e.g. ``exchange[3].client``.
    """

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, field: str = ""
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.path is None and self.line is None:  # not about a file (e.g. a command-line option)
            return f"{self.field}: {self.message}" if self.field else self.message
        where = self.path or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class ProtocolError(HarnessError):
    """SMTP framing was broken; see the two subclasses for who broke it."""


class LocalProtocolError(ProtocolError):
    """We (the caller of the sans-IO core) tried to do something illegal."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not valid SMTP."""


class MessageTooLarge(RemoteProtocolError):
    """The client sent (or announced) more message octets than the server's limit: answered
    552 (RFC 5321 §4.5.3.1.10, RFC 3030 §2), and nothing more is read."""

    reply = b"552 5.3.4 smtp-harness: message exceeds the size limit of this session\r\n"


class AdapterError(HarnessError):
    """A client adapter could not be found, loaded or run."""


class UsageError(HarnessError, ValueError):
    """The harness was asked for something it cannot do here (e.g. an event loop that is not
    installed)."""
