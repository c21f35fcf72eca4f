"""docs/profiles.md, written from the catalogue: every profile's replies with their sources.

python -m fake_servers.profiles.describe > docs/profiles.md
"""

from __future__ import annotations

from fake_servers.profiles.catalog import PROFILES
from fake_servers.profiles.knobs import STAGES

__all__ = ["profiles_markdown"]

_HEAD = """# Server profiles

Generated from `fake_servers/profiles/catalog.py` by
`python -m fake_servers.profiles.describe > docs/profiles.md`; a test keeps it in step.

A profile is a stateful server that answers as a named real server does: any envelope, any number
of recipients and messages, in any order that server accepts. It checks the wire as strictly as the
scripted server and hands the test what arrived. How to use them: the README, "Using it from
Python and pytest". Failure knobs (`fail=`) take these stages: {stages}, and `greylist`.

"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def profiles_markdown() -> str:
    out = [_HEAD.format(stages=", ".join(f"`{s}`" for s in STAGES))]
    seen: set[int] = set()
    for name, p in PROFILES.items():
        if id(p) in seen:
            out.append(f"`{name}` is another name for `{p.name}`.\n")
            continue
        seen.add(id(p))
        out.append(f"## `{name}`: {p.title}\n")
        out.append(f"Connection: `{p.tls}`; size limit {p.size_limit} octets.\n")
        out += [f"- {n}" for n in p.notes]
        out.append("\n| reply | wire text | source |\n|---|---|---|")
        for what, said in p.replies().items():
            text = "<br>".join(f"`{_cell(line)}`" for line in said.lines)
            out.append(f"| {what} | {text} | {_cell(said.source)} |")
        out.append("")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(profiles_markdown(), end="")
