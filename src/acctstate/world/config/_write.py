"""The writing side of [`acctstate.config`][acctstate.config]: a workflow as a document in the file
format ([`workflow_document`][acctstate.config.workflow_document]), and that document as TOML (with tomli-w, the
``toml`` extra) or JSON text ([`dump_workflow`][acctstate.config.dump_workflow])."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import DunningLadder
from acctstate.values.errors import ConfigError, MissingDependency
from acctstate.values.graph import Edge, Transition
from acctstate.values.guards import GUARDS, Guard
from acctstate.values.holds import HoldType
from acctstate.values.status import Status
from acctstate.world.config._keys import BOOL_FLAGS, FORMAT_VERSION
from acctstate.world.config._ladders import ladder_document
from acctstate.world.config._read import (
    GuardFactory,
    Reader,
    RuleFactory,
    registered_effect_rules,
)

__all__ = ["dump_workflow", "extension_document", "workflow_document"]


def _guard_doc(g: Guard, registry: Mapping[str, GuardFactory]) -> dict[str, Any]:
    if g.name not in registry:
        raise ConfigError(
            f"guard {g.name!r} is not in the guard registry, so a file could not name it; "
            "register its factory and pass guards=",
            source="<dump>",
        )
    out: dict[str, Any] = {"name": g.name}
    for key, value in g.args:
        out[key] = _arg_doc(value, registry)
    return out


def _arg_doc(value: object, registry: Mapping[str, GuardFactory]) -> Any:
    if isinstance(value, Guard):
        return _guard_doc(value, registry)
    if isinstance(value, tuple | list):
        return [_arg_doc(v, registry) for v in value]
    if isinstance(value, bool | int | str | Decimal | dt.datetime):
        return value
    raise ConfigError(
        f"argument {value!r} cannot be written to a file (expected a string, number, "
        "boolean, date-time, array or guard)",
        source="<dump>",
    )


def _status_doc(s: Status) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": s.code, "name": s.name, "backend": s.backend.value}
    if s.label != s.name.replace("_", " ").capitalize():
        entry["label"] = s.label
    if s.description:
        entry["description"] = s.description
    for flag in BOOL_FLAGS[:-1]:
        entry[flag] = bool(getattr(s, flag))
    if s.dunning_step is not None:
        entry["dunning_step"] = s.dunning_step
    for key in ("icon", "color"):
        if getattr(s, key) is not None:
            entry[key] = getattr(s, key)
    if not s.show_in_statistics:
        entry["show_in_statistics"] = False
    return entry


def _transition_doc(
    e: Edge, registry: Mapping[str, GuardFactory], rules: Mapping[str, RuleFactory]
) -> dict[str, Any]:
    t: dict[str, Any] = {"trigger": e.trigger, "source": e.source.name, "dest": e.dest.name}
    if e.guards:
        t["guards"] = [_guard_doc(g, registry) for g in e.guards]
    if e.effects:
        docs = []
        for r in e.effects:
            if r.name not in rules:
                raise ConfigError(
                    f"effect rule {r.name!r} is not in the effect-rule registry; "
                    "register it with register_effect_rule or pass effect_rules=",
                    source="<dump>",
                )
            docs.append({"name": r.name, **{k: _arg_doc(v, {}) for k, v in r.kwargs.items()}})
        t["effects"] = docs
    if e.reasons is not None:
        t["reasons"] = sorted(e.reasons)
    if e.permission is not None:
        t["permission"] = e.permission
    if e.description:
        t["description"] = e.description
    return t


def extension_document(
    wf: Workflow,
    base: str,
    *,
    guards: Mapping[str, GuardFactory] | None = None,
    effect_rules: Mapping[str, RuleFactory] | None = None,
) -> dict[str, Any]:
    """``wf`` as a document that extends ``base`` (a preset name or a workflow file)
    and holds only what differs from it (what [`dump_workflow`][acctstate.config.dump_workflow] writes with
    ``minimal_against=``).

    Raises:
        ConfigError: ``base`` is unknown, ``wf`` lacks one of its statuses (an
            extension can add or replace statuses, not drop them), or a guard or rule
            cannot be named in a file.
    """
    registry = {**GUARDS, **(guards or {})}
    rules = {**registered_effect_rules(), **(effect_rules or {})}
    start = Reader("<dump>", "", False, registry, rules).base(base)
    doc: dict[str, Any] = {"format": FORMAT_VERSION, "extends": base}
    if wf.name != start.name:
        doc["name"] = wf.name
    if wf.status_attr != start.status_attr:
        doc["status_attr"] = wf.status_attr
    for key in ("default_timezone", "default_currency"):
        if getattr(wf, key) != getattr(start, key):
            doc[key] = getattr(wf, key)
    if wf.initial != start.initial:
        doc["initial"] = [s.name for s in wf.initial]
    for s in start.catalog:
        if s.code not in wf.catalog:
            raise ConfigError(
                f"{wf.name!r} has no status {s.name!r} ({s.code}) of {base!r}; an extension "
                "adds or replaces statuses but cannot drop one: write the whole workflow",
                source="<dump>",
            )
    # Keep the longest run of the base's transitions, in order, that the workflow
    # starts with; drop the rest of the base's and add the rest of the workflow's.
    # Transitions are compared by status code, as an extension applies them.
    want = [e.to_transition() for e in wf.transitions]
    kept: list[Transition] = []
    dropped: list[Edge] = []
    for e in start.transitions:
        t = e.to_transition()
        if len(kept) < len(want) and t == want[len(kept)]:
            kept.append(t)
        else:
            dropped.append(e)
    keys = {(e.trigger, e.source.code, e.dest.code) for e in dropped}
    if any((t.trigger, t.source, t.dest) in keys for t in kept):
        # a [[remove]] entry would drop a kept transition too: drop them all, add all
        kept, dropped = [], list(start.transitions)
    removals = list(dict.fromkeys((e.trigger, e.source.name, e.dest.name) for e in dropped))
    statuses = [_status_doc(s) for s in wf.catalog if start.catalog.get(s.code) != s]
    added = [_transition_doc(e, registry, rules) for e in wf.transitions[len(kept) :]]
    doc["statuses"] = statuses
    doc["transitions"] = added
    doc["remove"] = [{"trigger": t, "source": src, "dest": d} for t, src, d in removals]
    doc["holds"] = [
        _hold_doc(h) for h in wf.hold_types.values() if start.hold_types.get(h.name) != h
    ]
    return {k: v for k, v in doc.items() if v != []}


def workflow_document(
    wf: Workflow,
    *,
    guards: Mapping[str, GuardFactory] | None = None,
    effect_rules: Mapping[str, RuleFactory] | None = None,
    ladders: Mapping[str, DunningLadder] | None = None,
) -> dict[str, Any]:
    """The workflow as plain data, in the file format (what [`dump_workflow`][acctstate.config.dump_workflow] writes).

    ``ladders`` are written as ``[ladders.<name>]`` tables (read back with
    [`load_ladders`][acctstate.config.load_ladders]).

    Raises:
        ConfigError: a guard or effect rule is not in its registry, or has an
            argument a file cannot hold.
    """
    registry = {**GUARDS, **(guards or {})}
    rules = {**registered_effect_rules(), **(effect_rules or {})}
    statuses = [_status_doc(s) for s in wf.catalog]
    transitions = [_transition_doc(e, registry, rules) for e in wf.transitions]
    doc: dict[str, Any] = {"format": FORMAT_VERSION, "name": wf.name}
    if wf.status_attr != "status":
        doc["status_attr"] = wf.status_attr
    for key in ("default_timezone", "default_currency"):
        if getattr(wf, key) is not None:
            doc[key] = getattr(wf, key)
    doc["initial"] = [s.name for s in wf.initial]
    doc["statuses"] = statuses
    doc["transitions"] = transitions
    if wf.hold_types:
        doc["holds"] = [_hold_doc(h) for h in wf.hold_types.values()]
    if ladders:
        doc["ladders"] = {name: ladder_document(ladder) for name, ladder in ladders.items()}
    return doc


def _hold_doc(h: HoldType) -> dict[str, Any]:
    if h.guards or h.release_guards:
        raise ConfigError(
            f"hold type {h.name!r} has guards, which a workflow file cannot hold; "
            "declare it in Python",
            source="<dump>",
        )
    doc: dict[str, Any] = {"name": h.name, "kind": h.kind, "blocks": sorted(h.blocks)}
    if h.reasons is not None:
        doc["reasons"] = sorted(h.reasons)
    if h.permission is not None:
        doc["permission"] = h.permission
    if h.description:
        doc["description"] = h.description
    if h.release_reasons is not None:
        doc["release_reasons"] = sorted(h.release_reasons)
    return doc


def dump_workflow(
    wf: Workflow,
    *,
    format: str = "toml",
    guards: Mapping[str, GuardFactory] | None = None,
    effect_rules: Mapping[str, RuleFactory] | None = None,
    minimal_against: str | None = None,
    ladders: Mapping[str, DunningLadder] | None = None,
) -> str:
    """Write ``wf`` as a TOML or JSON document that [`load_workflow`][acctstate.config.load_workflow] reads back
    into an equal workflow.

    Args:
        wf: the workflow.
        format: ``"toml"`` or ``"json"``.
        guards: the registry your own guards are named in (as for loading).
        effect_rules: the registry your own effect rules are named in.
        minimal_against: a preset name or a workflow file: write a file that
            ``extends`` it with only what ``wf`` adds, changes or removes.
        ladders: dunning ladders to write beside the workflow, by name
            (``[ladders.<name>]``; read them with
            [`load_ladders`][acctstate.config.load_ladders]).

    Raises:
        ConfigError: a guard or rule cannot be named in a file, an unknown format,
            or (with ``minimal_against``) an unknown base or a status of the base that
            ``wf`` lacks.
        MissingDependency: TOML was asked for and ``tomli-w`` (the ``toml`` extra) is
            not installed.

    >>> from acctstate.presets import isp
    >>> print(dump_workflow(isp.workflow())[:60])
    format = 1
    name = "isp"
    initial = ["prospect"]
    <BLANKLINE>
    [[statuses]]
    """
    if format not in ("toml", "json"):
        raise ConfigError(f"unknown format {format!r}; expected 'toml' or 'json'", source="<dump>")
    if minimal_against is None:
        doc = workflow_document(wf, guards=guards, effect_rules=effect_rules)
    else:
        doc = extension_document(wf, minimal_against, guards=guards, effect_rules=effect_rules)
    if ladders:
        doc["ladders"] = {name: ladder_document(ladder) for name, ladder in ladders.items()}
    return _toml(doc) if format == "toml" else _json(doc, 0) + "\n"


def _tomli_w() -> Any:
    try:
        import tomli_w
    except ImportError:
        raise MissingDependency(
            "tomli-w", needed_for="writing TOML", install="pip install acctstate[toml]"
        ) from None
    return tomli_w


# tomli-w writes every scalar (strings with their escapes, numbers, date-times, keys).
# It cannot lay an array out on one line (it always writes one item per line) nor keep
# short entries as ``[[transitions]]`` tables (it inlines them), and a workflow file
# reads best with ``source = ["active", "suspended"]`` and one ``[[...]]`` per entry;
# so the few lines below arrange the document and tomli-w writes each value in it.


def _scalar(tomli_w: Any, value: object) -> str:
    if isinstance(value, Decimal) and not value.is_finite():
        raise ConfigError(f"{value} cannot be written to a file", source="<dump>")
    if not isinstance(value, bool | int | str | Decimal | dt.datetime):
        raise ConfigError(f"cannot write {value!r} to a file", source="<dump>")  # pragma: no cover
    line: str = tomli_w.dumps({"v": value})
    return line.removeprefix("v = ").removesuffix("\n")


def _key(tomli_w: Any, key: str) -> str:
    line: str = tomli_w.dumps({key: 0})
    return line.removesuffix(" = 0\n")


def _inline(tomli_w: Any, value: object) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = (f"{_key(tomli_w, k)} = {_inline(tomli_w, v)}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(tomli_w, v) for v in value) + "]"
    return _scalar(tomli_w, value)


def _toml(doc: Mapping[str, Any]) -> str:
    tomli_w = _tomli_w()
    lines: list[str] = []
    tables: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in doc.items():
        if key == "ladders":
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value))
        else:
            lines.append(f"{_key(tomli_w, key)} = {_inline(tomli_w, value)}")
    for key, entries in tables:
        for entry in entries:
            lines.append("")
            lines.append(f"[[{_key(tomli_w, key)}]]")
            lines.extend(f"{_key(tomli_w, k)} = {_inline(tomli_w, v)}" for k, v in entry.items())
    # Ladders as [ladders.<name>] tables, one [[ladders.<name>.steps]] per step.
    for name, ladder in doc.get("ladders", {}).items():
        head = f"ladders.{_key(tomli_w, name)}"
        lines.append("")
        lines.append(f"[{head}]")
        lines.extend(
            f"{_key(tomli_w, k)} = {_inline(tomli_w, v)}" for k, v in ladder.items() if k != "steps"
        )
        for step in ladder["steps"]:
            lines.append("")
            lines.append(f"[[{head}.steps]]")
            lines.extend(f"{_key(tomli_w, k)} = {_inline(tomli_w, v)}" for k, v in step.items())
    return "\n".join(lines) + "\n"


def _json(value: object, depth: int) -> str:
    # json.dumps(indent=2) would put every item of a flat array on its own line.
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {_json(v, depth + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if not any(isinstance(v, dict | list) for v in value):
            return "[" + ", ".join(_json(v, depth + 1) for v in value) + "]"
        return "[\n" + ",\n".join(inner + _json(v, depth + 1) for v in value) + "\n" + pad + "]"
    if isinstance(value, dt.datetime):
        raise ConfigError("a date-time argument can only be written to TOML", source="<dump>")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ConfigError(f"{value} cannot be written to a file", source="<dump>")
        text = format(value, "f")
        # keep it a number with a point, so it is read back as a Decimal, not an int
        return text if "." in text else text + ".0"
    return json.dumps(value)
