"""``smtp-harness record``: a proxy on 127.0.0.1 that relays one real session and keeps its
events for harness.importers.build (proxy.py)."""

__all__: list[str] = []
