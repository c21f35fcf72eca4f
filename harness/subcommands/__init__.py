"""Subcommands of ``smtp-harness`` that live outside harness/cli.py, one module each; each
module's ``register(sub)`` adds its parser and sets ``func``."""

__all__: list[str] = []
