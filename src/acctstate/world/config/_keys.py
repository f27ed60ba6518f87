"""The workflow file format's keys: which a document, a status, a transition and a
``remove`` entry may have, and which of them are required."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

__all__ = [
    "BOOL_FLAGS",
    "FORMAT_VERSION",
    "HOLD_KEYS",
    "REMOVE_KEYS",
    "STATUS_KEYS",
    "TEXT_FIELDS",
    "TOP_KEYS",
    "TRANSITION_KEYS",
    "WHOLE_KEYS",
    "join",
    "kind",
]

FORMAT_VERSION = 1
"""The file format's version (the optional top-level ``format`` key)."""

TOP_KEYS: Mapping[str, bool] = {
    "format": False,
    "extends": False,
    "name": False,
    "initial": False,
    "status_attr": False,
    "default_timezone": False,
    "default_currency": False,
    "statuses": False,
    "transitions": False,
    "remove": False,
    "holds": False,
    "ladders": False,
}
"""Top-level keys, each mapped to whether it is always required. ``initial``,
``statuses`` and ``transitions`` are required unless the file ``extends`` another
workflow; ``remove`` is only allowed with ``extends``; ``ladders`` (dunning ladders by
name) is read by ``load_ladders``, not by ``load_workflow``."""

WHOLE_KEYS = ("initial", "statuses", "transitions")
"""The keys a workflow file needs when it does not extend another workflow."""

BOOL_FLAGS = (
    "provisioned",
    "billable",
    "usage_billable",
    "terminal",
    "one_way",
    "show_in_statistics",
)
TEXT_FIELDS = ("label", "description", "icon", "color")

STATUS_KEYS: Mapping[str, bool] = {
    "code": True,
    "name": True,
    "backend": False,
    "activates": False,
    "dunning_step": False,
    **dict.fromkeys(TEXT_FIELDS, False),
    **dict.fromkeys(BOOL_FLAGS, False),
}
"""Keys of a ``[[statuses]]`` entry, each mapped to whether it is required
(``backend`` may be left out when ``activates`` is given)."""

TRANSITION_KEYS: Mapping[str, bool] = {
    "trigger": True,
    "source": True,
    "dest": True,
    "guards": False,
    "effects": False,
    "reasons": False,
    "permission": False,
    "description": False,
}
"""Keys of a ``[[transitions]]`` entry, each mapped to whether it is required."""

REMOVE_KEYS: Mapping[str, bool] = {"trigger": True, "source": False, "dest": False}
"""Keys of a ``[[remove]]`` entry (transitions of the extended workflow to drop): every
transition with this trigger, and this source and destination when given."""

HOLD_KEYS: Mapping[str, bool] = {
    "name": True,
    "kind": True,
    "blocks": True,
    "reasons": False,
    "permission": False,
    "description": False,
    "release_reasons": False,
}
"""Keys of a ``[[holds]]`` entry (a hold type accounts may carry), each mapped to whether
it is required. In a file that extends another workflow, an entry with the name of one
of its hold types replaces it."""


def join(path: str, key: str) -> str:
    """A key path one level deeper (``transitions[3]`` + ``dest``)."""
    return f"{path}.{key}" if path else key


def kind(value: object) -> str:
    """What a value read from a file is, in the words an error message uses."""
    names = {
        dict: "a table",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        Decimal: "a number",
    }
    return names.get(type(value), type(value).__name__)
