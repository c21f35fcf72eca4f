"""The servers bind loopback addresses only, unless the caller asks for another on purpose:
a test server with canned credentials must never answer the network by default."""

from __future__ import annotations

import pytest

from fake_servers.profiles.server import ProfileServer
from fake_servers.scripted import ScriptedServer
from harness.corpus import corpus_path
from harness.scenario.loader import load_scenario


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "mx.example.com"])
def test_a_server_refuses_a_host_that_is_not_loopback(host: str) -> None:
    scenario = load_scenario(corpus_path() / "auth/login.yaml")
    with pytest.raises(ValueError, match="not a loopback address"):
        ScriptedServer(scenario, host=host)
    with pytest.raises(ValueError, match="not a loopback address"):
        ProfileServer("postfix", host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    scenario = load_scenario(corpus_path() / "auth/login.yaml")
    assert ScriptedServer(scenario, host=host).host == host
    assert ProfileServer("postfix", host=host).host == host


def test_another_address_only_when_asked_for_explicitly() -> None:
    # Only constructed, never started: nothing is bound off loopback in the test suite.
    scenario = load_scenario(corpus_path() / "auth/login.yaml")
    assert ScriptedServer(scenario, host="0.0.0.0", allow_non_loopback=True).host == "0.0.0.0"
