"""The JSON Schemas of the two YAML formats people write: scenarios and client configs.

They are shipped for editors (completion and errors as you type, through yaml-language-server's
``# yaml-language-server: $schema=...`` comment) and printed by ``smtp-harness schema``. The
loaders stay the authority: they check everything a schema checks and more (see
docs/scenario-format.md, "Editor support"). Nothing here needs a JSON Schema library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["SCHEMAS", "load_schema", "schema_path", "schema_text"]

SCHEMAS = ("scenario", "client")
_HERE = Path(__file__).parent


def schema_path(name: str) -> Path:
    """The shipped file of the schema ``name`` (one of SCHEMAS).

    Raises:
        ValueError: an unknown name.
    """
    if name not in SCHEMAS:
        raise ValueError(f"no schema {name!r}; expected one of: {', '.join(SCHEMAS)}")
    return _HERE / f"{name}.schema.json"


def schema_text(name: str) -> str:
    return schema_path(name).read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schema_text(name))
    return data
