"""The public surface: ``harness.__all__`` is exactly the sorted public names (httpx's
``test_exported_members``), and every ``__all__`` in both packages names things that exist."""

from __future__ import annotations
import __future__

import importlib
import pkgutil
import types
from importlib.metadata import version

import pytest

import fake_servers
import harness

# Dunder names that are part of the public surface even though they start with "_".
INCLUDED_PRIVATE_MEMBERS = {"__version__"}


def _all_modules() -> list[str]:
    names = []
    for package in (harness, fake_servers):
        names.append(package.__name__)
        names += [
            m.name for m in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")
        ]
    return sorted(names)


MODULES = _all_modules()


def test_all_is_sorted_and_complete() -> None:
    public = sorted(
        name
        for name, value in vars(harness).items()
        # submodules become attributes of the package as a side effect of importing them
        if not isinstance(value, types.ModuleType | __future__._Feature)
        and (not name.startswith("_") or name in INCLUDED_PRIVATE_MEMBERS)
    )
    exported = sorted([*harness.__all__, *INCLUDED_PRIVATE_MEMBERS])
    assert harness.__all__ == sorted(harness.__all__)
    assert exported == public


def test_version_matches_the_distribution() -> None:
    assert harness.__version__ == version("smtp-harness")


def test_module_list_is_found() -> None:
    assert {"harness.cli", "harness.scenario.loader", "harness.protocol.replies"} <= set(MODULES)
    assert "fake_servers.scripted" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert isinstance(exported, list | tuple)
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ names what it does not define"
