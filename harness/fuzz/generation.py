"""Generating the fuzz cases: Hypothesis, seeded, in a process of its own.

Why a process of its own:

* the cases must depend on the seed alone, and in-process they do not: Hypothesis mixes into
  its draws constants it reads from every "local" module (not stdlib, not site-packages) loaded
  in the process, so importing one more module of your own changed the cases a seed gave (38 of
  60 for seed 7 in a check). A fresh interpreter that imports only what generating needs gives
  the same cases whether ``fuzz`` is called from the command line, a test suite or a script.
  The generating process also turns that mixing off (``_without_local_constants``): with an
  editable install the harness's own modules count as local, and editing one changed the cases.
* Hypothesis costs about as much CPU per case as running it: streamed to the loop that runs
  them, the cases are made on another core meanwhile.

The cases come in Hypothesis's order: the test body only collects and never fails, so what
Hypothesis generates depends on nothing the runs do. (Unpickling what that process sends is
safe: it runs this package's own code, started by us.)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import pickle
import struct
import sys
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed

from harness.fuzz.cases import BASES, FuzzCase, fuzz_cases

__all__ = ["case_stream", "fewer_collections", "generate_cases"]

_CHUNK = 16  # cases per message: the first arrive at once, and the pipe is not flooded


@contextlib.contextmanager
def fewer_collections(young: int = 10_000) -> Iterator[None]:
    """Run the cyclic garbage collector less often meanwhile (its youngest generation every
    ``young`` allocations, not 700): generating and running cases allocate many short-lived
    objects, and the collections took a tenth of a run's CPU. The old setting comes back after."""
    before = gc.get_threshold()
    gc.set_threshold(max(young, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def generate_cases(
    examples: int,
    seed: int,
    bases: tuple[str, ...] = BASES,
    on_case: Callable[[FuzzCase], None] | None = None,
) -> list[FuzzCase]:
    """The ``examples`` cases Hypothesis generates for ``seed``, in its order (each also given
    to ``on_case`` as soon as it is made)."""
    cases: list[FuzzCase] = []

    # Every setting pinned, from Hypothesis's own defaults: a loaded profile (a test suite's,
    # or the "ci" one Hypothesis loads itself where CI is set, with derandomize) must not
    # change the cases a seed gives, here or in the generating process.
    @settings(
        parent=settings.get_profile("default"),
        derandomize=False,
        max_examples=examples,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @hypothesis_seed(seed)
    @given(fuzz_cases(bases=bases))
    def collect(case: FuzzCase) -> None:
        cases.append(case)
        if on_case is not None:
            on_case(case)

    collect()
    return cases


# The generating process: no multiprocessing, whose "spawn" runs the parent's main script again
# (a script without the __main__ guard would start itself over) and whose "fork" copies a
# process that may have threads. A plain interpreter, told what to do on stdin, writes
# length-prefixed pickles of case lists to stdout, then None (or the error, as text).
_CHILD = (
    # Ctrl-C reaches the whole process group: the parent stops this process, quietly.
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "import pickle, sys; job = pickle.load(sys.stdin.buffer); sys.path[:] = job['path']; "
    "from harness.fuzz.generation import _generate_to_stdout; _generate_to_stdout(job)"
)
_LENGTH = struct.Struct(">I")


def _without_local_constants() -> None:
    """Stop Hypothesis (6.131 on) mixing into its draws the literals of every "local" module
    loaded: with an editable install those are the harness's own, so a reworded docstring
    anywhere in it changed the cases of a seed (and an installed copy gave other cases again).
    No setting turns it off; this replaces the internal helper that collects them, in this
    process only, and does nothing on a Hypothesis without it."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - another layout: nothing to turn off
        return
    constants = getattr(providers, "Constants", None)
    if constants is not None and hasattr(providers, "_get_local_constants"):
        none = constants()
        providers._get_local_constants = lambda: none


def _generate_to_stdout(job: dict[str, Any]) -> None:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not break the framing
    _without_local_constants()
    chunk: list[FuzzCase] = []

    def send(message: object) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_LENGTH.pack(len(data)) + data)
        out.flush()

    def collect(case: FuzzCase) -> None:
        chunk.append(case)
        if len(chunk) >= _CHUNK:
            send(chunk)
            chunk.clear()

    try:
        with fewer_collections():
            generate_cases(job["examples"], job["seed"], job["bases"], on_case=collect)
        send(chunk)
        send(None)
    except BrokenPipeError:  # the reading side stopped: nobody to tell
        pass
    except Exception as exc:  # reported by the reading side, which raises it
        with contextlib.suppress(OSError):
            send(f"{type(exc).__name__}: {exc}")


async def case_stream(
    examples: int, seed: int, bases: tuple[str, ...]
) -> AsyncGenerator[FuzzCase, None]:
    """The cases of ``generate_cases``, in order, as a fresh interpreter makes them (about
    half a second to start)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    job = {"path": list(sys.path), "examples": examples, "seed": seed, "bases": bases}
    process.stdin.write(pickle.dumps(job))
    process.stdin.close()
    try:
        while True:
            try:
                head = await process.stdout.readexactly(_LENGTH.size)
                message = pickle.loads(await process.stdout.readexactly(*_LENGTH.unpack(head)))
            except asyncio.IncompleteReadError:
                status = await process.wait()
                raise RuntimeError(
                    f"generating the fuzz cases failed: the process exited ({status}) before "
                    "it was done"
                ) from None
            if message is None:
                return
            if isinstance(message, str):
                raise RuntimeError(f"generating the fuzz cases failed: {message}")
            for case in message:
                yield case
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()  # done, or stopped early: it has nothing left to say
            await process.wait()
