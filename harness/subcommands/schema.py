"""``smtp-harness schema [scenario|client]``: print a shipped JSON Schema."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from harness.schema import SCHEMAS, schema_path, schema_text

__all__ = ["register"]


def cmd_schema(args: argparse.Namespace) -> int:
    if args.path:
        print(schema_path(args.name))
    else:
        sys.stdout.write(schema_text(args.name))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "schema",
        help="print the JSON Schema of the scenario or the client config format (for editors)",
    )
    parser.add_argument("name", nargs="?", choices=SCHEMAS, default="scenario")
    parser.add_argument(
        "--path", action="store_true", help="print where the schema file is installed instead"
    )
    parser.set_defaults(func=cmd_schema)
