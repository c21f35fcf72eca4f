"""Scenarios from sessions people already have: transcripts of real clients (``smtp-harness
import``) and sessions relayed through the recording proxy (``smtp-harness record``).

* ``events``: what a session is made of (commands, replies, message content, TLS start).
* ``secrets``: generated stand-ins for passwords, tokens and, when asked, addresses and bodies.
* ``build``: events → a Scenario that the scripted server replays.
* ``formats``: one reader per transcript format, and the guess of which one a file is.
"""

__all__: list[str] = []
