"""What the line-based transcript readers share: replies gathered from their lines, message
content gathered after a 354, and the error that names the line."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import ScenarioError
from harness.importers.events import Command, Content, Event, Reply, ServerClosed, TlsStarted
from harness.protocol.data import dot_unstuff

__all__ = ["LineCollector", "unreadable"]


def unreadable(path: str, number: int, line: str, what: str) -> ScenarioError:
    shown = line if len(line) <= 80 else line[:77] + "..."
    return ScenarioError(f"cannot read this line as {what}: {shown!r}", path=path, line=number)


@dataclass
class LineCollector:
    """Builds events from one line at a time, for formats that print a line per line sent."""

    path: str
    events: list[Event] = field(default_factory=list)
    _reply: list[str] = field(default_factory=list)
    _reply_line: int = 0
    _content: list[str] | None = None  # lines of the message, while it is being sent
    _content_line: int = 0
    _expect_content: bool = False

    def server(self, text: str, number: int) -> None:
        if not self._reply:
            self._reply_line = number
        self._reply.append(text)
        if len(text) < 4 or text[3] != "-":  # the last line of a reply: "250 OK" or "250"
            data = "".join(f"{line}\r\n" for line in self._reply).encode("utf-8")
            reply = Reply(data=data, line=self._reply_line)
            self._reply = []
            self.events.append(reply)
            last_command = next((e for e in reversed(self.events) if isinstance(e, Command)), None)
            self._expect_content = (
                reply.code == 354
                and last_command is not None
                and last_command.text.upper() == "DATA"
            )

    def client(self, text: str, number: int) -> None:
        """A line the client sent: a command, or a line of the message after DATA's 354."""
        if self._content is not None:
            if text == ".":
                message = "".join(f"{line}\r\n" for line in self._content)
                self.events.append(
                    Content(
                        message=dot_unstuff(message.encode("utf-8", "surrogateescape")),
                        line=self._content_line,
                    )
                )
                self._content = None
            else:
                self._content.append(text)
            return
        if self._expect_content:
            self._expect_content = False
            self._content, self._content_line = [text], number
            if text == ".":
                self._content = None
                self.events.append(Content(message=b"", line=number))
            return
        self.events.append(Command(text=text, line=number))

    def tls_started(self, number: int) -> None:
        if not self.events or isinstance(self.events[-1], Reply):
            self.events.append(TlsStarted(line=number))

    def closed(self, number: int) -> None:
        self.events.append(ServerClosed(line=number))

    def finish(self) -> list[Event]:
        if self._reply:
            raise ScenarioError(
                "the transcript ends inside a multi-line reply",
                path=self.path,
                line=self._reply_line,
            )
        if self._content is not None:
            raise ScenarioError(
                "the transcript ends inside the message (no final '.' line)",
                path=self.path,
                line=self._content_line,
            )
        return self.events
