"""The ``smtp-harness`` command: run, serve, validate, list.

Exit status: 0 when nothing failed, 1 when a scenario failed or errored, 2 for unusable input
(a broken scenario file, an unknown client, nothing selected).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from harness import __version__
from harness.adapters.base import (
    ClientAdapter,
    available_adapters,
    load_adapter,
    missing_requirement,
)
from harness.corpus import corpus_path
from harness.deviations import apply_deviations, deviations_for
from harness.errors import AdapterError, ScenarioError, UsageError
from harness.event_loop import install_from_environment
from harness.faults import Fault, parse_fault
from harness.report.json_report import build_report, write_report
from harness.report.matrix import format_matrix_markdown, format_matrix_text
from harness.report.progress import Progress, is_quiet_worthy
from harness.report.text import format_failure, format_result_line, format_summary, shows_detail
from harness.results import Result
from harness.scenario.loader import (
    check_unique_ids,
    iter_scenario_files,
    load_scenario,
    load_scenarios,
)
from harness.scenario.model import Scenario, TlsMode
from harness.serving import port_number, serve_profile
from harness.subcommands import importing, record, schema

if TYPE_CHECKING:
    from fake_servers.scripted import Session

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _keyword_filter(expr: str) -> Callable[[Scenario], bool]:
    """pytest-style ``-k``: words matched as substrings of the id, tags and path, combined with
    ``and``, ``or``, ``not`` and parentheses."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expr)
    parts = []
    for token in tokens:
        if token in ("and", "or", "not", "(", ")"):
            parts.append(token)
        elif re.fullmatch(r"[\w.\-/#*:]+", token):
            parts.append(f"_m({token!r})")
        else:
            raise ScenarioError(f"-k: cannot use {token!r} in an expression")
    code = " ".join(parts)
    try:
        compiled = compile(code, "<-k>", "eval")
    except SyntaxError:
        raise ScenarioError(f"-k: {expr!r} is not a valid expression") from None

    def keep(s: Scenario) -> bool:
        haystack = " ".join([s.id, s.path, *s.tags]).lower()
        return bool(eval(compiled, {"__builtins__": {}, "_m": lambda w: w.lower() in haystack}))

    return keep


def _select(paths: Sequence[str], keyword: str | None) -> list[Scenario]:
    scenarios = load_scenarios(paths or [corpus_path()])
    if keyword:
        keep = _keyword_filter(keyword)
        scenarios = [s for s in scenarios if keep(s)]
    if not scenarios:
        raise ScenarioError(
            "no scenarios selected", path=", ".join(map(str, paths)) or str(corpus_path())
        )
    return scenarios


def _run_one_client(
    scenarios: list[Scenario],
    client: str,
    deviation_files: Sequence[str],
    show: Callable[[Result], None],
    jobs: int | None = None,
    faults: tuple[Fault, ...] = (),
    seed: int = 0,
    strict: bool = False,
    show_secrets: bool = False,
) -> list[Result]:
    from harness.runner import default_jobs, run_scenarios  # imports the servers: only when running

    adapter = _ready_adapter(client)
    deviations = deviations_for(adapter.name, deviation_files)

    def judged(result: Result) -> None:
        show(apply_deviations(result, deviations, strict=strict))

    return asyncio.run(
        run_scenarios(
            scenarios,
            adapter,
            jobs=jobs or default_jobs(),
            on_result=judged,
            faults=faults,
            seed=seed,
            show_secrets=show_secrets,
        )
    )


def _ready_adapter(client: str) -> ClientAdapter:
    """The adapter for ``client``, or one clear error if it cannot run here (not one per
    scenario)."""
    adapter = load_adapter(client)
    missing = missing_requirement(adapter)
    if missing is not None:
        raise AdapterError(missing)
    return adapter


def _faults(specs: Sequence[str]) -> tuple[Fault, ...]:
    try:
        return tuple(parse_fault(spec) for spec in specs)
    except ValueError as exc:
        raise ScenarioError(str(exc), field="--fault") from None


def cmd_run(args: argparse.Namespace) -> int:
    scenarios = _select(args.paths, args.keyword)
    faults = _faults(args.faults)
    seed = args.seed if args.seed is not None else random.randrange(1, 2**31)
    if faults or any(sc.faults for sc in scenarios):
        print(f"fault injection with seed {seed} (repeat the run with --seed {seed})", flush=True)
    progress = Progress(len(scenarios), args.client, plain=args.quiet)

    def show(result: Result) -> None:
        if not args.quiet or is_quiet_worthy(result):
            progress.clear()
            print(format_result_line(result), flush=True)
        progress.advance(result)

    try:
        results = _run_one_client(
            scenarios,
            args.client,
            args.deviations,
            show,
            args.jobs,
            faults,
            seed,
            args.strict,
            args.show_secrets,
        )
    finally:
        progress.close()
    for result in results:
        if shows_detail(result, strict=args.strict):
            print()
            print(format_failure(result))
    if args.report_json:
        client = results[0].client if results else args.client
        write_report(args.report_json, build_report(results, client=client, strict=args.strict))
    if args.junit_xml:
        from harness.report.junit import format_junit

        client = results[0].client if results else args.client
        Path(args.junit_xml).write_text(
            format_junit({client: results}, strict=args.strict), encoding="utf-8"
        )
    if args.html:
        from harness.report.html import format_run_report

        client = results[0].client if results else args.client
        Path(args.html).write_text(
            format_run_report(results, client=client, all_ladders=args.html_all), encoding="utf-8"
        )
    print()
    print(format_summary(results))
    bad = any(r.verdict.fails_run(strict=args.strict) for r in results)
    return EXIT_FAILED if bad else EXIT_OK


def cmd_matrix(args: argparse.Namespace) -> int:
    scenarios = _select(args.paths, args.keyword)
    for client in args.clients:  # every client ready before any runs: fail in a second, not later
        _ready_adapter(client)
    columns: dict[str, dict[str, Result]] = {}
    for client in args.clients:
        print(
            f"running {len(scenarios)} scenarios against {client} ...", file=sys.stderr, flush=True
        )
        progress = Progress(len(scenarios), client)
        try:
            results = _run_one_client(
                scenarios,
                client,
                args.deviations,
                progress.advance,
                args.jobs,
                strict=args.strict,
                show_secrets=args.show_secrets,
            )
        finally:
            progress.close()
        columns[results[0].client if results else client] = {r.scenario.id: r for r in results}
    print(format_matrix_text(scenarios, columns))
    if args.markdown:
        Path(args.markdown).write_text(format_matrix_markdown(scenarios, columns))
    if args.junit_xml:
        from harness.report.junit import format_junit

        runs = {client: list(column.values()) for client, column in columns.items()}
        Path(args.junit_xml).write_text(format_junit(runs, strict=args.strict), encoding="utf-8")
    if args.html:
        from harness.report.html import format_matrix_report

        Path(args.html).write_text(
            format_matrix_report(scenarios, columns, all_ladders=args.html_all), encoding="utf-8"
        )
    bad = any(
        r.verdict.fails_run(strict=args.strict)
        for column in columns.values()
        for r in column.values()
    )
    return EXIT_FAILED if bad else EXIT_OK


def cmd_coverage(args: argparse.Namespace) -> int:
    from harness.coverage import compute_coverage, format_coverage_markdown, format_coverage_text

    coverage = compute_coverage(_select(args.paths, None))
    print(format_coverage_text(coverage))
    if args.markdown:
        Path(args.markdown).write_text(format_coverage_markdown(coverage))
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.file_kinds import KIND_NAMES, check_file

    counts = dict.fromkeys(KIND_NAMES, 0)
    scenarios: list[Scenario] = []
    errors = 0
    for path in iter_scenario_files(args.paths):
        try:
            kind, scenario = check_file(path, None if args.kind == "auto" else args.kind)
        except ScenarioError as exc:
            errors += 1
            print(exc)
            continue
        counts[kind] += 1
        if scenario is not None:
            scenarios.append(scenario)
    count = sum(counts.values())
    if errors:
        print(f"{errors} invalid, {count} valid")
        return EXIT_USAGE
    check_unique_ids(scenarios)
    if count == counts["scenario"]:
        print(f"{count} valid scenario files")
    else:
        kinds = ", ".join(f"{n} {KIND_NAMES[k]}" + "s" * (n > 1) for k, n in counts.items() if n)
        print(f"{count} valid file{'s' * (count > 1)}: {kinds}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    for s in _select(args.paths, args.keyword):
        tags = f"  [{', '.join(s.tags)}]" if s.tags else ""
        print(f"{s.id}  {s.title}{tags}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from fake_servers.findings import scripted_finding
    from fake_servers.scripted import ScriptedServer
    from fake_servers.tls import TlsMaterial
    from harness.serving import (
        LiveTranscript,
        SessionTally,
        SessionWatch,
        listen,
        message_file,
        scenario_guide,
        show_waits,
    )
    from harness.transcript import Entry

    if args.profile:
        return serve_profile(args)
    if not args.file:
        raise ScenarioError("serve needs a scenario (a file or a corpus id) or --profile NAME")
    scenario = _scenario_arg(args.file)

    credentials = scenario.client.auth
    shown = LiveTranscript(
        show_secrets=args.show_secrets,
        known=(credentials.password, credentials.token) if credentials else (),
    )

    def live(session: Session, entry: Entry) -> None:
        if len(session.transcript.entries) == 1:
            print(f"--- session {session.number}: a client connected", flush=True)
        for line in shown.lines(session.number, entry):
            print(line, flush=True)

    async def serve() -> int:
        tls = TlsMaterial.shared()
        server = ScriptedServer(scenario, tls=tls, port=args.port, on_entry=live)
        await listen(server.start(), args.port)
        # Everything after the server is up runs under the finally: a signal at any point
        # still removes the message file and closes the server.
        tally = SessionTally()
        eml: Path | None = None
        try:
            mode = scenario.client.tls.value
            print(f"serving {scenario.id} on {server.host}:{server.port} (TLS: {mode})", flush=True)
            uses_tls = (
                scenario.client.tls is not TlsMode.NONE or "tls" in repr(scenario.exchange).lower()
            )
            if uses_tls:
                print(f"CA certificate for clients: {tls.ca_path}", flush=True)
            if scenario.client.sends:
                eml = message_file(scenario)
            print(
                scenario_guide(
                    scenario,
                    host=server.host,
                    port=server.port,
                    ca_path=tls.ca_path if uses_tls else None,
                    message_path=eml,
                ),
                flush=True,
            )
            print(
                "Ctrl-C to stop" + (" (exits after one session)" if args.once else ""), flush=True
            )
            watch = SessionWatch(server.sessions)
            shown_wait: dict[int, int] = {}  # session number -> transcript length when last shown
            while True:
                await asyncio.sleep(0.05)
                show_waits(
                    [
                        (s.number, s.transcript, s.done.is_set(), partial(_scenario_wait, s))
                        for s in server.sessions
                        if s.number > watch.reported
                    ],
                    shown_wait,
                )
                for session in watch.ended():
                    seen = session.number
                    shown_wait.pop(seen, None)
                    # Graded as ``run`` grades the server's side: a SHOULD is non-strict.
                    finding = scripted_finding(scenario, session, seen)
                    if finding is None:
                        print(f"[{seen}] verdict: PASS - the client followed the script")
                        tally.add("passed")
                    else:
                        f = session.failure
                        text = (
                            f"{f.message}; expected {f.expected} (line {f.line}); {f.hint}"
                            if f is not None and finding.grade != "not-exercised"
                            else f"{finding.message}; expected {finding.expected}"
                        )
                        grade = "FAIL" if finding.grade == "fail" else finding.grade.upper()
                        print(f"[{seen}] verdict: {grade} - {shown.hide(seen, text)}")
                        tally.add("failed" if finding.fails else finding.grade)
                    shown.forget(seen)
                    if args.once:
                        return EXIT_FAILED if "failed" in tally.counts else EXIT_OK
        finally:
            print(tally.summary(), flush=True)
            if eml is not None:
                eml.unlink(missing_ok=True)
            await server.close()

    try:
        return asyncio.run(serve())
    except KeyboardInterrupt:
        return EXIT_OK


def _scenario_wait(session: Session) -> str:
    steps = session.waiting_for() if session.waiting_for is not None else []
    return " | ".join(steps) or "(nothing more)"


def _scenario_arg(text: str) -> Scenario:
    """A scenario file, or a corpus scenario by id (``smtp-harness serve auth.login``)."""
    if (
        not Path(text).exists()
        and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text)
        and not text.endswith((".yaml", ".yml"))
    ):
        return load_scenario(id=text)
    return load_scenario(text)


def cmd_clients(args: argparse.Namespace) -> int:
    """Every registered adapter, and whether its program or package is present."""
    for name in available_adapters():
        try:
            missing = missing_requirement(load_adapter(name))
        except AdapterError as exc:
            missing = str(exc)
        print(f"{name:<12} {'ready' if missing is None else 'missing: ' + missing}")
    return EXIT_OK


def cmd_fuzz(args: argparse.Namespace) -> int:
    from harness.fuzz.engine import (  # imports Hypothesis: only when fuzzing
        DEFAULT_JOBS,
        format_report,
        fuzz,
    )

    adapter = load_adapter(args.client)
    seed = args.seed if args.seed is not None else random.randrange(1, 2**31)
    print(f"fuzzing {adapter.name} with seed {seed} (repeat with --seed {seed})", flush=True)
    # On a terminal a live bar (examples done, failing, time left) on stderr; in logs the plain
    # line every 50 examples. Shrinking and replaying come after the bar reaches its end.
    bar = Progress(args.examples, f"fuzz {adapter.name}", plain=False)

    def say(text: str) -> None:
        bar.clear()
        print(text, flush=True)

    try:
        report = fuzz(
            adapter,
            examples=args.examples,
            seed=seed,
            out=Path(args.out) if args.out else None,
            progress=say,
            deviations=deviations_for(adapter.name, args.deviations),
            on_example=(lambda failed: bar.step(failed=failed)) if bar.live else None,
            jobs=DEFAULT_JOBS if args.jobs is None else max(1, args.jobs),
        )
    finally:
        bar.close()
    print(format_report(report))
    return EXIT_FAILED if report.new_findings else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smtp-harness", description="SMTP client conformance harness"
    )
    parser.add_argument("--version", action="version", version=f"smtp-harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run scenarios against a client")
    run.add_argument(
        "paths", nargs="*", help="scenario files or directories (default: the built-in corpus)"
    )
    run.add_argument(
        "--client", default="reference", help="client adapter name (default: reference)"
    )
    run.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only results short of a pass (and their details) and the summary",
    )
    run.add_argument(
        "-k", dest="keyword", help="select scenarios by id/tag/path words, with and/or/not"
    )
    run.add_argument("--report-json", metavar="FILE", help="write every result as JSON")
    run.add_argument(
        "--junit-xml", metavar="FILE", help="write JUnit XML (a testcase per scenario and client)"
    )
    run.add_argument(
        "--html", metavar="FILE", help="write an HTML report with a ladder diagram per finding"
    )
    run.add_argument(
        "--html-all", action="store_true", help="in the HTML report, a ladder for every result"
    )
    run.add_argument(
        "--fault",
        dest="faults",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault into every scenario: delay=S[@N], split=every|A,B[@N], 421|reset|half-close|stall[@N]",
    )
    run.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for faults without @N (default: random, printed)",
    )
    run.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="scenarios run at once, each on its own port (default: 4 per core; 1 = serial)",
    )
    run.add_argument(
        "--deviations",
        action="append",
        default=[],
        metavar="FILE",
        help="a known-deviations file for the client (adds to the built-in one)",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help="non-strict results (a SHOULD not followed) fail the run too",
    )
    run.add_argument(
        "--show-secrets",
        action="store_true",
        help="show AUTH responses, passwords and tokens in reports (hidden by default)",
    )
    run.set_defaults(func=cmd_run)

    matrix = sub.add_parser(
        "matrix", help="run scenarios against several clients; print scenario x client"
    )
    matrix.add_argument(
        "paths", nargs="*", help="scenario files or directories (default: the built-in corpus)"
    )
    matrix.add_argument(
        "--client", dest="clients", action="append", required=True, help="repeat for each client"
    )
    matrix.add_argument("-k", dest="keyword")
    matrix.add_argument("--deviations", action="append", default=[], metavar="FILE")
    matrix.add_argument("--jobs", "-j", type=int, default=None, metavar="N")
    matrix.add_argument("--markdown", metavar="FILE", help="also write the matrix as Markdown")
    matrix.add_argument(
        "--junit-xml", metavar="FILE", help="write JUnit XML (a testcase per scenario and client)"
    )
    matrix.add_argument(
        "--html", metavar="FILE", help="also write the matrix as HTML, with ladder diagrams"
    )
    matrix.add_argument(
        "--html-all", action="store_true", help="in the HTML matrix, a ladder for every cell"
    )
    matrix.add_argument(
        "--strict",
        action="store_true",
        help="non-strict results (a SHOULD not followed) fail the run too",
    )
    matrix.add_argument(
        "--show-secrets",
        action="store_true",
        help="show AUTH responses, passwords and tokens in reports (hidden by default)",
    )
    matrix.set_defaults(func=cmd_matrix)

    serve = sub.add_parser(
        "serve", help="serve one scenario, or a server profile, for any client to connect to"
    )
    serve.add_argument("file", nargs="?", help="a scenario file or a corpus scenario id")
    serve.add_argument(
        "--profile",
        metavar="NAME",
        help="serve a profile instead: gmail, gmail-465, outlook, 163, qq, postfix",
    )
    serve.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="USER:PASSWORD",
        help="with --profile: credentials it accepts (default: any)",
    )
    serve.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="STAGE=CODE",
        help="with --profile: a failure knob, e.g. rcpt=550, rcpt#2=550, data=stall, greylist",
    )
    serve.add_argument(
        "--port", type=port_number, default=0, help="port on 127.0.0.1 (default: any free port)"
    )
    serve.add_argument("--once", action="store_true", help="exit after the first session")
    serve.add_argument(
        "--show-secrets",
        action="store_true",
        help="show AUTH responses, passwords and tokens in the live transcript and verdicts (hidden by default)",
    )
    serve.set_defaults(func=cmd_serve)

    coverage = sub.add_parser(
        "coverage", help="which rule ids (R-...) and client bugs (Q#...) the scenarios cover"
    )
    coverage.add_argument(
        "paths", nargs="*", help="scenario files or directories (default: the built-in corpus)"
    )
    coverage.add_argument("--markdown", metavar="FILE", help="also write the report as Markdown")
    coverage.set_defaults(func=cmd_coverage)

    validate = sub.add_parser(
        "validate",
        help="check scenario files, client configs and deviations files without running them",
    )
    validate.add_argument("paths", nargs="+", help="files, or directories to search for *.yaml")
    validate.add_argument(
        "--kind",
        choices=("auto", "scenario", "client", "deviations"),
        default="auto",
        help="read every file as this kind (default: tell each file's kind by its top-level keys)",
    )
    validate.set_defaults(func=cmd_validate)

    lst = sub.add_parser("list", help="list scenarios")
    lst.add_argument("paths", nargs="*")
    lst.add_argument("-k", dest="keyword")
    lst.set_defaults(func=cmd_list)

    fuzz = sub.add_parser(
        "fuzz", help="fuzz reply framing against a client; write each finding as a scenario"
    )
    fuzz.add_argument("--client", default="reference", help="adapter name or client YAML file")
    fuzz.add_argument("--examples", type=int, default=200, help="generated cases (default 200)")
    fuzz.add_argument("--seed", type=int, help="the same seed gives the same cases and findings")
    fuzz.add_argument("--out", metavar="DIR", help="write each finding as DIR/<name>.yaml")
    fuzz.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="cases run at once (default 16; the findings do not depend on it)",
    )
    fuzz.add_argument(
        "--deviations",
        action="append",
        default=[],
        metavar="FILE",
        help="a known-deviations file: findings it names (fuzz:) are known, not failures",
    )
    fuzz.set_defaults(func=cmd_fuzz)

    sub.add_parser(
        "clients", help="list the client adapters and whether each can run here"
    ).set_defaults(func=cmd_clients)
    schema.register(sub)
    importing.register(sub)
    record.register(sub)
    return parser


def _stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds as Ctrl-C does: temporary files removed, summary printed


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (kill, CI cancelling) and SIGHUP (terminal closed) end the run the way Ctrl-C does,
    # so the CA and message files in /tmp are removed; by default they would kill the process
    # before atexit runs.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                number = getattr(signal, name)
                previous[number] = signal.signal(number, _stop_on_signal)
    try:
        install_from_environment()
        return int(args.func(args))
    except (ScenarioError, AdapterError, UsageError) as exc:
        print(f"smtp-harness: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        sys.stderr.close()
        return EXIT_OK
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":
    sys.exit(main())
