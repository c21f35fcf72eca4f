"""Shared pytest configuration for the whole test suite.

Hypothesis profiles (choose with the HYPOTHESIS_PROFILE environment variable, default ``ci``):

* ``ci``: 100 examples, no deadline (shared CI runners are slow and noisy).
* ``dev``: Hypothesis' own defaults.
* ``deep``: 5000 examples, otherwise like ``ci``; for a long local or nightly run.

Other engineers will add shared fixtures here later; keep this file small and keep
module-specific fixtures in the conftest.py of that module's test folder.
"""

from __future__ import annotations

import contextlib
import os
import warnings

from hypothesis import HealthCheck, settings

# When a property fails, Hypothesis imports libcst (if installed) to suggest an @example patch.
# libcst 1.0 warns about mypy_extensions.TypedDict on import; with filterwarnings=error that
# DeprecationWarning becomes a pytest INTERNALERROR that hides the real failure. Import it once
# here, with the warning silenced, so the failure report comes through.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import libcst  # noqa: F401

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev")
settings.register_profile("deep", parent=settings.get_profile("ci"), max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
