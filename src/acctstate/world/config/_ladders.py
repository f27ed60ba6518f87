"""Dunning ladders in workflow files: the ``[ladders.<name>]`` tables, read with
[`load_ladders`][acctstate.config.load_ladders] and written with
[`ladder_document`][acctstate.config.ladder_document] (or ``dump_workflow(wf,
ladders=...)``).

A ladder in a file says everything a ``DunningLadder`` says: the evaluation order, the
step-down trigger (per ladder or per step), a final step's cancellation, control tags,
payment failure reasons and host conditions by their registered name.

>>> ladders = load_ladders('''
... [ladders.kill_bill]
... order = "first_match"
... home = "active"
... deescalate = "deescalate_dunning"
... [[ladders.kill_bill.steps]]
... status = "od2"
... min_balance = "5.00"
... [[ladders.kill_bill.steps]]
... status = "od1"
... min_days = 30
... ''')
>>> ladder = ladders["kill_bill"]
>>> ladder.order, [s.status for s in ladder.climb]
('first_match', ['od1', 'od2'])
>>> load_ladders(ladder_document_text(ladders)) == ladders
True
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from acctstate.operations.automation import DunningLadder, LadderCancellation, LadderStep
from acctstate.values.errors import AcctStateError, ConfigError
from acctstate.values.status import Status
from acctstate.world.config._keys import join, kind
from acctstate.world.config._read import parse

__all__ = [
    "LADDER_KEYS",
    "STEP_KEYS",
    "ladder_document",
    "ladder_document_text",
    "ladder_from_document",
    "load_ladders",
]

LADDER_KEYS: Mapping[str, bool] = {
    "steps": True,
    "home": False,
    "escalate": False,
    "clear": False,
    "order": False,
    "deescalate": False,
    "ends_in_cancellation": False,
    "enforcement_off": False,
}
"""Keys of a ``[ladders.<name>]`` table, each mapped to whether it is required."""

STEP_KEYS: Mapping[str, bool] = {
    "status": True,
    "min_days": False,
    "min_balance": False,
    "min_invoices": False,
    "with_tags": False,
    "without_tags": False,
    "failure_reasons": False,
    "condition": False,
    "down": False,
    "cancel": False,
}
"""Keys of a ladder step (``cancel`` is a table: ``trigger``, ``when``, ``refund``)."""

_CANCEL_KEYS = ("trigger", "when", "refund")
_DEFAULT = DunningLadder([LadderStep(1, min_days=1)])


def _ref(value: object) -> int | str:
    return value.code if isinstance(value, Status) else value  # type: ignore[return-value]


def ladder_document(ladder: DunningLadder) -> dict[str, Any]:
    """The ladder as plain data in the file format (defaults left out; money as text).

    >>> from acctstate.automation import reference_ladder
    >>> ladder_document(reference_ladder())["steps"][0]
    {'status': 10, 'min_days': 1, 'min_balance': '0.01'}
    """
    doc: dict[str, Any] = {}
    for key in ("home", "escalate", "clear", "order", "deescalate", "ends_in_cancellation"):
        value = getattr(ladder, key)
        if value != getattr(_DEFAULT, key):
            doc[key] = list(value) if isinstance(value, tuple) else _ref(value)
    if ladder.enforcement_off != _DEFAULT.enforcement_off:
        # None (no tag stops dunning) has no TOML form: an empty name says it.
        doc["enforcement_off"] = ladder.enforcement_off or ""
    doc["steps"] = [_step_document(s) for s in ladder.steps]
    return doc


def _step_document(s: LadderStep) -> dict[str, Any]:
    out: dict[str, Any] = {"status": _ref(s.status)}
    if s.min_days:
        out["min_days"] = s.min_days
    if s.min_balance:
        out["min_balance"] = str(s.min_balance)
    if s.min_invoices:
        out["min_invoices"] = s.min_invoices
    for key in ("with_tags", "without_tags", "failure_reasons"):
        value = getattr(s, key)
        if value:
            out[key] = sorted(value)
    if s.condition is not None:
        out["condition"] = s.condition
    if s.down is not None:
        out["down"] = s.down
    if s.cancel is not None:
        out["cancel"] = {
            "trigger": s.cancel.trigger,
            "when": s.cancel.when,
            "refund": s.cancel.refund,
        }
    return out


def ladder_document_text(ladders: Mapping[str, DunningLadder], *, format: str = "json") -> str:
    """``{"ladders": {name: ladder_document(...)}}`` as JSON text (TOML through
    ``dump_workflow(wf, ladders=...)``)."""
    if format != "json":
        raise ConfigError(f"unknown format {format!r}; expected 'json'", source="<dump>")
    doc = {"ladders": {name: ladder_document(ladder) for name, ladder in ladders.items()}}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, problem: str) -> ConfigError:
        return ConfigError(problem, source=self.source, path=path)

    def table(self, value: object, path: str, keys: Mapping[str, bool]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {kind(value)}")
        for key in value:
            if key not in keys:
                raise self.error(
                    join(path, str(key)), f"unknown key; expected one of {', '.join(keys)}"
                )
        for key, required in keys.items():
            if required and key not in value:
                raise self.error(path, f"missing required key {key!r}")
        return value

    def names(self, value: object, path: str) -> list[str]:
        if not isinstance(value, list) or not all(type(v) is str for v in value):
            raise self.error(path, f"expected an array of names, got {kind(value)}")
        return list(value)

    def count(self, value: object, path: str) -> int:
        if type(value) is not int or value < 0:
            got = str(value) if type(value) is int else kind(value)
            raise self.error(path, f"expected a non-negative integer, got {got}")
        return value

    def text(self, value: object, path: str) -> str:
        if type(value) is not str:
            raise self.error(path, f"expected a string, got {kind(value)}")
        return value

    def amount(self, value: object, path: str) -> Decimal:
        if isinstance(value, Decimal):
            return value
        if type(value) is int:
            return Decimal(value)
        if type(value) is str:
            try:
                return Decimal(value)
            except InvalidOperation:
                pass
        raise self.error(path, f"expected an amount as a string ('5.00'), got {kind(value)}")

    def ref(self, value: object, path: str) -> int | str:
        if type(value) is int or type(value) is str:
            return value
        raise self.error(path, f"expected a status code or name, got {kind(value)}")

    def step(self, entry: object, path: str) -> LadderStep:
        doc = self.table(entry, path, STEP_KEYS)
        options: dict[str, Any] = {}
        for key in ("min_days", "min_invoices"):
            if key in doc:
                options[key] = self.count(doc[key], join(path, key))
        if "min_balance" in doc:
            options["min_balance"] = self.amount(doc["min_balance"], join(path, "min_balance"))
        for key in ("with_tags", "without_tags", "failure_reasons"):
            if key in doc:
                options[key] = self.names(doc[key], join(path, key))
        for key in ("condition", "down"):
            if key in doc:
                options[key] = self.text(doc[key], join(path, key))
        if "cancel" in doc:
            where = join(path, "cancel")
            c = self.table(doc["cancel"], where, dict.fromkeys(_CANCEL_KEYS, False))
            args = {k: self.text(c[k], join(where, k)) for k in _CANCEL_KEYS if k in c}
            options["cancel"] = self.build(LadderCancellation, where, **args)
        status = self.ref(doc["status"], join(path, "status"))
        step: LadderStep = self.build(LadderStep, path, status, **options)
        return step

    def ladder(self, value: object, path: str) -> DunningLadder:
        doc = self.table(value, path, LADDER_KEYS)
        steps_doc = doc["steps"]
        if not isinstance(steps_doc, list):
            raise self.error(join(path, "steps"), f"expected an array, got {kind(steps_doc)}")
        steps = [self.step(s, f"{join(path, 'steps')}[{i}]") for i, s in enumerate(steps_doc)]
        options: dict[str, Any] = {}
        if "home" in doc:
            options["home"] = self.ref(doc["home"], join(path, "home"))
        for key in ("escalate", "order", "deescalate"):
            if key in doc:
                options[key] = self.text(doc[key], join(path, key))
        if "enforcement_off" in doc:
            off = self.text(doc["enforcement_off"], join(path, "enforcement_off"))
            options["enforcement_off"] = off or None
        if "clear" in doc:
            options["clear"] = self.names(doc["clear"], join(path, "clear"))
        if "ends_in_cancellation" in doc:
            flag = doc["ends_in_cancellation"]
            if type(flag) is not bool:
                raise self.error(
                    join(path, "ends_in_cancellation"), f"expected a boolean, got {kind(flag)}"
                )
            options["ends_in_cancellation"] = flag
        ladder: DunningLadder = self.build(DunningLadder, path, steps, **options)
        return ladder

    def build(self, cls: Any, path: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return cls(*args, **kwargs)
        except AcctStateError as exc:
            raise self.error(path, str(exc)) from exc


def ladder_from_document(
    doc: object, *, path: str = "ladder", source: str = "<ladder>"
) -> DunningLadder:
    """A ladder from its plain-data form (as `ladder_document` writes it).

    Raises:
        ConfigError: an unknown or missing key, a value of the wrong type, or a ladder
            that does not validate (the ``PolicyError`` is the cause).
    """
    return _Reader(source).ladder(doc, path)


def load_ladders(
    source: str | os.PathLike[str], *, format: str | None = None
) -> dict[str, DunningLadder]:
    """The ``[ladders.<name>]`` tables of a workflow file (or of the text of one).

    Args:
        source: a path, or the document's text.
        format: ``"toml"`` or ``"json"``; by default the suffix, or JSON for text that
            starts with ``{``.

    Returns:
        The ladders by name (none: an empty dict).

    Raises:
        ConfigError: the file cannot be read or parsed, or a ladder is not valid.
    """
    name = "<string>"
    if isinstance(source, os.PathLike) or (
        isinstance(source, str)
        and "\n" not in source
        and source.strip().lower().endswith((".toml", ".json"))
    ):
        path = pathlib.Path(source)
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the file: {exc}", source=name) from exc
        fmt = format or ("json" if path.suffix.lower() == ".json" else "toml")
    elif isinstance(source, str):
        text = source
        fmt = format or ("json" if text.lstrip().startswith("{") else "toml")
    else:
        raise ConfigError(f"expected a path or the text of a document, got {kind(source)}")
    doc = parse(text, fmt == "toml", name)
    reader = _Reader(name)
    if not isinstance(doc, dict):
        raise reader.error("", f"expected a table, got {kind(doc)}")
    tables = doc.get("ladders", {})
    if not isinstance(tables, dict):
        raise reader.error("ladders", f"expected a table of ladders, got {kind(tables)}")
    return {str(k): reader.ladder(v, join("ladders", str(k))) for k, v in tables.items()}
