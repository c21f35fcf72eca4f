"""Servers that SMTP clients are tested against.

Imports ``harness`` submodules only (never ``from harness import ...``), so the two packages can
depend on each other while the module graph stays acyclic.
"""

from fake_servers.controller import ServerController
from fake_servers.playback import Playback
from fake_servers.scripted import ScriptedServer, Session
from fake_servers.tls import TlsMaterial

__all__ = ["Playback", "ScriptedServer", "ServerController", "Session", "TlsMaterial"]
