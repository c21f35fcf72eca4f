"""Scenario texts shared by several test modules."""

from __future__ import annotations


def wants_noop(scenario_id: str) -> str:
    """A script that wants NOOP where the reference client sends MAIL (the NOOP step is line 18)."""
    return f"""\
version: 1
id: {scenario_id}
title: A script that wants NOOP where the reference client sends MAIL
tags: [test]
limits: {{total: 3, read: 1}}
client:
  mail_from: alice@example.com
  rcpt_to: [bob@example.com]
  message: |
    Subject: hi

    body
expect: {{outcome: delivered}}
exchange:
  - server: "220 mx.example.com ESMTP"
  - client: "EHLO {{domain}}"
  - server: "250 ok"
  - client: "NOOP"
  - server: "250 ok"
"""
