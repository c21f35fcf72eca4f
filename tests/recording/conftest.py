"""Fixtures shared by the import and record tests: a real upstream server (aiosmtpd with
STARTTLS and AUTH) and certificates for the replays, each made once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_servers.tls import TlsMaterial

from .upstream import Upstream, upstream


@pytest.fixture(scope="module")
def server() -> Iterator[Upstream]:
    with upstream() as u:
        yield u


@pytest.fixture(scope="module")
def tls() -> Iterator[TlsMaterial]:
    material = TlsMaterial()
    yield material
    material.close()
