"""The event loop the harness runs on: asyncio's own, or uvloop when asked for.

``SMTP_HARNESS_LOOP=uvloop`` (after ``pip install 'smtp-harness[uvloop]'``) makes every loop the
harness creates a uvloop loop, for the command line and the pytest plugin alike. The scripted
server then spends markedly less CPU per session (``bench/run.py`` measures both loops). Unset,
or ``asyncio``: the standard loop, so nothing changes unless asked.
"""

from __future__ import annotations

import asyncio
import os

from harness.errors import UsageError

__all__ = ["ENVIRONMENT_VARIABLE", "install_from_environment"]

ENVIRONMENT_VARIABLE = "SMTP_HARNESS_LOOP"


def install_from_environment() -> str:
    """Install the loop ``SMTP_HARNESS_LOOP`` names; return its name ("asyncio" or "uvloop").

    Raises:
        UsageError: an unknown name, or uvloop asked for and not installed.
    """
    choice = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() or "asyncio"
    if choice == "asyncio":
        return choice
    if choice != "uvloop":
        raise UsageError(f"{ENVIRONMENT_VARIABLE}={choice!r}: expected 'asyncio' or 'uvloop'")
    try:
        import uvloop
    except ImportError:
        raise UsageError(
            f"{ENVIRONMENT_VARIABLE}=uvloop, but uvloop is not installed: "
            "pip install 'smtp-harness[uvloop]'"
        ) from None
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return choice
