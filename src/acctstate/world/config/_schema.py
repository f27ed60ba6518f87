"""The JSON Schema of the workflow file format, shipped with the package
(``schema/workflow.schema.json`` in this folder)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["json_schema"]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the workflow file format (shipped in the package).

    >>> json_schema()["title"]
    'acctstate workflow'
    """
    text = (
        resources.files("acctstate.world.config")
        .joinpath("schema/workflow.schema.json")
        .read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema
