"""``smtp-harness record --upstream HOST:PORT [-o FILE.yaml]``: relay one real client session
to a real server and write it as a scenario (harness.record.proxy, harness.importers.build)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from fake_servers.tls import TlsMaterial
from harness.errors import ScenarioError
from harness.importers.build import Origin, build_scenario
from harness.importers.secrets import Redactor
from harness.record.proxy import RecordingError, RecordingProxy
from harness.scenario.model import Scenario
from harness.serving import port_number
from harness.subcommands.importing import scenario_text

__all__ = ["record_session", "register"]


def _upstream(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ScenarioError(f"expected HOST:PORT, got {text!r}", field="--upstream")
    return host.strip("[]"), int(port)


async def record_session(
    proxy: RecordingProxy,
    *,
    scenario_id: str,
    redact_message: bool = False,
    keep_timing: bool = False,
) -> Scenario:
    """Wait for the proxy's session and build its scenario (the proxy must be started)."""
    events = await proxy.wait()
    host, port = proxy.upstream
    origin = Origin(
        path="",
        what=f"a session recorded through smtp-harness record from {host}:{port}",
        scenario_id=scenario_id,
    )
    return build_scenario(
        events, origin, redactor=Redactor(redact_message), keep_writes=keep_timing
    )


def cmd_record(args: argparse.Namespace) -> int:
    upstream = _upstream(args.upstream)
    tls = TlsMaterial.shared()

    async def main() -> Scenario:
        proxy = RecordingProxy(
            upstream=upstream,
            tls=tls,
            upstream_ca=args.upstream_ca,
            listen_port=args.listen,
            timeout=args.timeout,
        )
        port = await proxy.start()
        print(
            f"recording: point the client at 127.0.0.1:{port} (for STARTTLS it must trust "
            f"{tls.ca_path}); relaying to {upstream[0]}:{upstream[1]}",
            file=sys.stderr,
            flush=True,
        )
        return await record_session(
            proxy,
            scenario_id=args.id,
            redact_message=args.redact_message,
            keep_timing=args.keep_timing,
        )

    try:
        scenario = asyncio.run(main())
    except RecordingError as exc:
        print(f"smtp-harness: {exc}", file=sys.stderr)
        return 1
    text = scenario_text(scenario)
    Path(args.output).write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({scenario.id})", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "record", help="relay one real session to a real server and write it as a scenario"
    )
    parser.add_argument("--upstream", required=True, metavar="HOST:PORT", help="the real server")
    parser.add_argument(
        "--listen",
        type=port_number,
        default=0,
        metavar="PORT",
        help="port on 127.0.0.1 (default: any)",
    )
    parser.add_argument(
        "--upstream-ca", metavar="FILE", help="CA file to verify the server's STARTTLS certificate"
    )
    parser.add_argument("-o", "--output", required=True, metavar="FILE.yaml")
    parser.add_argument("--id", default="recorded.session", help="the scenario id")
    parser.add_argument(
        "--redact-message",
        action="store_true",
        help="replace the addresses and the message body by generated ones",
    )
    parser.add_argument(
        "--keep-timing",
        action="store_true",
        help="replay the server's writes as they arrived: split into the same pieces, paused",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds any one read may take (default 60)"
    )
    parser.set_defaults(func=cmd_record)
