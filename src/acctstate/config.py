"""Workflows as files: :func:`load_workflow` and :func:`dump_workflow` (TOML and JSON).

A workflow file declares the statuses, the transitions and the initial statuses.
Guards and effect rules are *named* (``{ name = "days_in_status", days = 180 }``) and
resolved from a registry when the file is loaded — :data:`acctstate.guards.GUARDS`
and :data:`acctstate.effects.EFFECT_RULES`, plus any the host passes — so an unknown
name fails at load time, never at fire time, and nothing in a file is ever executed.

A status behaves like its back-end class unless the file says otherwise (see
:meth:`acctstate.status.Status.custom`); seed 003's ``activates`` flag is accepted
too. :func:`dump_workflow` writes every behaviour flag explicitly, so a dumped file
means the same thing whatever the defaults become.

Every problem is a :class:`~acctstate.errors.ConfigError` naming the file, the line
when it is known, the key path (``transitions[3].dest``) and what was expected. The
file format is described by a JSON Schema shipped with the package
(:func:`json_schema`).

>>> wf = load_workflow('''
... name = "tiny"
... initial = ["new"]
... [[statuses]]
... code = 0
... name = "new"
... backend = "prospect"
... [[statuses]]
... code = 1
... name = "gone"
... backend = "closed"
... terminal = true
... [[transitions]]
... trigger = "close"
... source = "new"
... dest = "gone"
... ''')
>>> wf
<Workflow 'tiny': 2 statuses, 1 transitions>
>>> load_workflow(dump_workflow(wf, format="json")) == wf
True
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from importlib import resources
from typing import Any

# acctstate.refunds registers its effect rules on import: a file may name them even
# when the host has not imported it.
import acctstate.refunds  # noqa: F401
from acctstate.effects import EFFECT_RULES, EffectRule
from acctstate.errors import AcctStateError, ConfigError, DefinitionError, closest
from acctstate.graph import Transition
from acctstate.guards import GUARDS, Guard
from acctstate.status import Backend, Status
from acctstate.workflow import Workflow

__all__ = [
    "FORMAT_VERSION",
    "STATUS_KEYS",
    "TOP_KEYS",
    "TRANSITION_KEYS",
    "dump_workflow",
    "json_schema",
    "load_workflow",
    "workflow_document",
]

FORMAT_VERSION = 1
"""The file format's version (the optional top-level ``format`` key)."""

TOP_KEYS: Mapping[str, bool] = {
    "format": False,
    "name": False,
    "initial": True,
    "status_attr": False,
    "statuses": True,
    "transitions": True,
}
"""Top-level keys, each mapped to whether it is required."""

_BOOL_FLAGS = (
    "provisioned",
    "billable",
    "usage_billable",
    "terminal",
    "one_way",
    "show_in_statistics",
)
_TEXT_FIELDS = ("label", "description", "icon", "color")

STATUS_KEYS: Mapping[str, bool] = {
    "code": True,
    "name": True,
    "backend": False,
    "activates": False,
    "dunning_step": False,
    **dict.fromkeys(_TEXT_FIELDS, False),
    **dict.fromkeys(_BOOL_FLAGS, False),
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

_COMPOSITE = {"all_of": "guards", "any_of": "guards", "not_": "guard"}

GuardFactory = Callable[..., Guard]
RuleFactory = Callable[..., EffectRule]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the workflow file format (shipped in the package).

    >>> json_schema()["title"]
    'acctstate workflow'
    """
    text = resources.files("acctstate").joinpath("schema/workflow.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _effect_rules() -> dict[str, RuleFactory]:
    return dict(EFFECT_RULES)


# -- reading ------------------------------------------------------------------------------


class _Reader:
    """Turns a parsed document into a Workflow, reporting every problem with its path."""

    def __init__(
        self,
        source: str,
        text: str,
        is_toml: bool,
        guards: Mapping[str, GuardFactory],
        rules: Mapping[str, RuleFactory],
    ) -> None:
        self.source = source
        self.text = text
        self.is_toml = is_toml
        self.guards = guards
        self.rules = rules

    def error(self, path: str, problem: str) -> ConfigError:
        return ConfigError(problem, source=self.source, path=path, line=self.locate(path))

    def locate(self, path: str) -> int | None:
        """Best-effort line of ``path`` in a TOML document (``None`` when unsure)."""
        if not self.is_toml or not path:
            return None
        m = re.match(r"^(statuses|transitions)\[(\d+)\](?:\.(\w+))?", path)
        lines = self.text.splitlines()
        if m is None:
            key = re.match(r"^\w+", path)
            if key is None:
                return None
            pattern = re.compile(rf"^\s*{key.group(0)}\s*=")
            return next((i + 1 for i, ln in enumerate(lines) if pattern.match(ln)), None)
        header = re.compile(rf"^\s*\[\[\s*{m.group(1)}\s*\]\]")
        starts = [i for i, ln in enumerate(lines) if header.match(ln)]
        index = int(m.group(2))
        if index >= len(starts):
            return None
        start = starts[index]
        if m.group(3) is None:
            return start + 1
        pattern = re.compile(rf"^\s*{m.group(3)}\s*=")
        for i in range(start + 1, len(lines)):
            if lines[i].lstrip().startswith("["):
                break
            if pattern.match(lines[i]):
                return i + 1
        return start + 1

    # -- typed access

    def table(self, value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {_kind(value)}")
        return value

    def keys(self, table: Mapping[str, Any], allowed: Mapping[str, bool], path: str) -> None:
        for key in table:
            if key not in allowed:
                hint = closest(key, allowed)
                also = f"; did you mean {hint[0]!r}?" if hint else ""
                raise self.error(
                    _join(path, key),
                    f"unknown key {key!r}{also} (expected one of {', '.join(sorted(allowed))})",
                )
        for key, required in allowed.items():
            if required and key not in table:
                raise self.error(path, f"missing required key {key!r}")

    def text_of(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {_kind(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.error(path, "expected valid Unicode text (found a lone surrogate)") from None
        return value

    def int_of(self, value: object, path: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(path, f"expected an integer, got {_kind(value)}")
        return value

    def bool_of(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {_kind(value)}")
        return value

    def list_of(self, value: object, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(path, f"expected an array, got {_kind(value)}")
        return value

    def ref(self, value: object, path: str, known: Mapping[object, Status]) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.error(path, f"expected a status name or code, got {_kind(value)}")
        found = known.get(value)
        if found is None:
            names = [k for k in known if isinstance(k, str)]
            hint = closest(value, names) if isinstance(value, str) else []
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise self.error(
                path, f"unknown status {value!r}{also} (expected a status declared in 'statuses')"
            )
        return found.code

    # -- the document

    def workflow(self, doc: object) -> Workflow:
        top = self.table(doc, "")
        self.keys(top, TOP_KEYS, "")
        if "format" in top and self.int_of(top["format"], "format") != FORMAT_VERSION:
            raise self.error("format", f"unsupported format {top['format']}; expected 1")
        name = self.text_of(top.get("name", "workflow"), "name")
        status_attr = self.text_of(top.get("status_attr", "status"), "status_attr")
        if not status_attr.isidentifier():
            raise self.error("status_attr", "expected a Python attribute name")
        statuses = [
            self.status(entry, f"statuses[{i}]")
            for i, entry in enumerate(self.list_of(top["statuses"], "statuses"))
        ]
        known: dict[object, Status] = {}
        for s in statuses:
            known.setdefault(s.name, s)
            known.setdefault(s.code, s)
        transitions: list[Transition] = []
        for i, entry in enumerate(self.list_of(top["transitions"], "transitions")):
            transitions.extend(self.transition(entry, f"transitions[{i}]", known))
        initial = [
            self.ref(v, f"initial[{i}]", known)
            for i, v in enumerate(self.list_of(top["initial"], "initial"))
        ]
        try:
            return Workflow(
                statuses=statuses,
                transitions=transitions,
                initial=initial,
                name=name,
                status_attr=status_attr,
            )
        except DefinitionError as exc:
            problems = "; ".join(str(v) for v in exc.violations)
            raise self.error("", f"the workflow is not valid: {problems}") from exc

    def status(self, entry: object, path: str) -> Status:
        table = self.table(entry, path)
        self.keys(table, STATUS_KEYS, path)
        fields: dict[str, Any] = {}
        code = self.int_of(table["code"], _join(path, "code"))
        name = self.text_of(table["name"], _join(path, "name"))
        backend: str | None = None
        if "backend" in table:
            backend = self.text_of(table["backend"], _join(path, "backend"))
            values = [b.value for b in Backend]
            if backend not in values:
                raise self.error(
                    _join(path, "backend"),
                    f"unknown back-end {backend!r}; expected one of {values}",
                )
        activates = None
        if "activates" in table:
            activates = self.bool_of(table["activates"], _join(path, "activates"))
        if backend is None and activates is None:
            raise self.error(path, "missing required key 'backend' (or 'activates')")
        for key in _BOOL_FLAGS:
            if key in table:
                fields[key] = self.bool_of(table[key], _join(path, key))
        for key in _TEXT_FIELDS:
            if key in table:
                fields[key] = self.text_of(table[key], _join(path, key))
        if "dunning_step" in table:
            fields["dunning_step"] = self.int_of(table["dunning_step"], _join(path, "dunning_step"))
        try:
            return Status.custom(code, name, backend=backend, activates=activates, **fields)
        except AcctStateError as exc:
            raise self.error(path, str(exc)) from exc

    def transition(
        self, entry: object, path: str, known: Mapping[object, Status]
    ) -> list[Transition]:
        table = self.table(entry, path)
        self.keys(table, TRANSITION_KEYS, path)
        trigger = self.text_of(table["trigger"], _join(path, "trigger"))
        sources_raw = table["source"]
        if isinstance(sources_raw, list):
            if not sources_raw:
                raise self.error(_join(path, "source"), "expected at least one status")
            sources = [self.ref(v, f"{path}.source[{i}]", known) for i, v in enumerate(sources_raw)]
        else:
            sources = [self.ref(sources_raw, _join(path, "source"), known)]
        dest = self.ref(table["dest"], _join(path, "dest"), known)
        options: dict[str, Any] = {}
        if "guards" in table:
            options["guards"] = [
                self.guard(g, f"{path}.guards[{i}]")
                for i, g in enumerate(self.list_of(table["guards"], _join(path, "guards")))
            ]
        if "effects" in table:
            options["effects"] = [
                self.rule(r, f"{path}.effects[{i}]")
                for i, r in enumerate(self.list_of(table["effects"], _join(path, "effects")))
            ]
        if "reasons" in table:
            options["reasons"] = [
                self.text_of(r, f"{path}.reasons[{i}]")
                for i, r in enumerate(self.list_of(table["reasons"], _join(path, "reasons")))
            ]
        if "permission" in table:
            options["permission"] = self.text_of(table["permission"], _join(path, "permission"))
        if "description" in table:
            options["description"] = self.text_of(table["description"], _join(path, "description"))
        try:
            return [Transition(trigger, s, dest, **options) for s in sources]
        except AcctStateError as exc:
            raise self.error(path, str(exc)) from exc

    def _named(self, entry: object, path: str, registry: Mapping[str, Any], what: str) -> Any:
        table = self.table(entry, path)
        if "name" not in table:
            raise self.error(path, f"missing required key 'name' (the {what}'s registry name)")
        name = self.text_of(table["name"], _join(path, "name"))
        factory = registry.get(name)
        if factory is None:
            hint = closest(name, registry)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise self.error(
                _join(path, "name"),
                f"unknown {what} {name!r}{also} (expected one of {', '.join(sorted(registry))})",
            )
        return name, factory, {k: v for k, v in table.items() if k != "name"}

    def guard(self, entry: object, path: str) -> Guard:
        name, factory, kwargs = self._named(entry, path, self.guards, "guard")
        if name in _COMPOSITE and factory is GUARDS[name]:
            key = _COMPOSITE[name]
            self.keys(kwargs, {key: True}, path)
            inner = kwargs[key]
            if key == "guard":
                args = [self.guard(inner, _join(path, key))]
            else:
                items = self.list_of(inner, _join(path, key))
                args = [self.guard(g, f"{path}.{key}[{i}]") for i, g in enumerate(items)]
            return self._call(factory, args, {}, path, "guard")  # type: ignore[no-any-return]
        values = {k: self.value(v, _join(path, k)) for k, v in kwargs.items()}
        made = self._call(factory, [], values, path, "guard")
        if not isinstance(made, Guard):
            raise self.error(path, f"guard factory {name!r} did not return a Guard")
        return made

    def rule(self, entry: object, path: str) -> EffectRule:
        _, factory, kwargs = self._named(entry, path, self.rules, "effect rule")
        values = {k: self.value(v, _join(path, k)) for k, v in kwargs.items()}
        made = self._call(factory, [], values, path, "effect rule")
        if not isinstance(made, EffectRule):
            raise self.error(path, "the effect-rule factory did not return an EffectRule")
        return made

    def value(self, value: object, path: str) -> Any:
        """A guard or rule argument: scalars, arrays (as tuples) and nested guards."""
        if isinstance(value, dict):
            return self.guard(value, path)
        if isinstance(value, list):
            return tuple(self.value(v, f"{path}[{i}]") for i, v in enumerate(value))
        if isinstance(value, str):
            return self.text_of(value, path)
        if isinstance(value, dt.datetime) and value.utcoffset() is None:
            raise self.error(path, "expected a date-time with a UTC offset (naive is refused)")
        if isinstance(value, Decimal) and not value.is_finite():
            raise self.error(path, f"expected a finite number, got {value}")
        return value

    def _call(
        self,
        factory: Callable[..., Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        path: str,
        what: str,
    ) -> Any:
        try:
            return factory(*args, **kwargs)
        except Exception as exc:  # the factory is the judge of its own arguments
            raise self.error(path, f"the {what}'s arguments were refused: {exc}") from exc


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: object) -> str:
    names = {
        dict: "a table",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        Decimal: "a number",
    }
    return names.get(type(value), type(value).__name__)


_LINE = re.compile(r"line (\d+)")


def _parse(text: str, is_toml: bool, source: str) -> object:
    try:
        if is_toml:
            return tomllib.loads(text, parse_float=Decimal)
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except tomllib.TOMLDecodeError as exc:
        m = _LINE.search(str(exc))
        line = int(m.group(1)) if m else None
        raise ConfigError(f"not valid TOML: {exc}", source=source, line=line) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", source=source, line=exc.lineno) from exc
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"not a valid document: {exc}", source=source) from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number acctstate accepts")


def load_workflow(
    source: str | os.PathLike[str],
    *,
    format: str | None = None,
    guards: Mapping[str, GuardFactory] | None = None,
    effect_rules: Mapping[str, RuleFactory] | None = None,
) -> Workflow:
    """Load a workflow from a TOML or JSON file, or from the text of one.

    Args:
        source: a path (``pathlib.Path``, or a one-line string ending in ``.toml`` /
            ``.json``), or the document's text.
        format: ``"toml"`` or ``"json"``; by default the file's suffix, or for text,
            JSON when it starts with ``{`` and TOML otherwise.
        guards: more guard factories by name (your own guards), on top of
            :data:`acctstate.guards.GUARDS`.
        effect_rules: more effect-rule factories by name, on top of
            :data:`acctstate.effects.EFFECT_RULES`.

    Returns:
        The validated workflow.

    Raises:
        ConfigError: the file cannot be read or parsed, a key is unknown, missing or
            of the wrong type, a guard or rule name is not in the registry, or the
            workflow breaks a rule (the ``DefinitionError`` is the cause).

    >>> load_workflow('name = "x"\\ninitial = []\\nstatuses = 3\\ntransitions = []')
    Traceback (most recent call last):
    ...
    acctstate.errors.ConfigError: <string>:3 at statuses: expected an array, got an integer
    """
    name = "<string>"
    path: pathlib.Path | None = None
    if isinstance(source, os.PathLike):
        path = pathlib.Path(source)
    elif not isinstance(source, str):
        raise ConfigError(f"expected a path or the text of a document, got {_kind(source)}")
    elif "\n" not in source and source.strip().lower().endswith((".toml", ".json")):
        path = pathlib.Path(source.strip())
    if path is not None:
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the file: {exc}", source=name) from exc
        kind = format or ("json" if path.suffix.lower() == ".json" else "toml")
    else:
        text = str(source)
        kind = format or ("json" if text.lstrip().startswith("{") else "toml")
    if kind not in ("toml", "json"):
        raise ConfigError(f"unknown format {kind!r}; expected 'toml' or 'json'", source=name)
    registry = {**GUARDS, **(guards or {})}
    rules = {**_effect_rules(), **(effect_rules or {})}
    doc = _parse(text, kind == "toml", name)
    return _Reader(name, text, kind == "toml", registry, rules).workflow(doc)


# -- writing ------------------------------------------------------------------------------


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


def workflow_document(
    wf: Workflow,
    *,
    guards: Mapping[str, GuardFactory] | None = None,
    effect_rules: Mapping[str, RuleFactory] | None = None,
) -> dict[str, Any]:
    """The workflow as plain data, in the file format (what :func:`dump_workflow` writes).

    Raises:
        ConfigError: a guard or effect rule is not in its registry, or has an
            argument a file cannot hold.
    """
    registry = {**GUARDS, **(guards or {})}
    rules = {**_effect_rules(), **(effect_rules or {})}
    statuses = []
    for s in wf.catalog:
        entry: dict[str, Any] = {"code": s.code, "name": s.name, "backend": s.backend.value}
        if s.label != s.name.replace("_", " ").capitalize():
            entry["label"] = s.label
        if s.description:
            entry["description"] = s.description
        for flag in _BOOL_FLAGS[:-1]:
            entry[flag] = bool(getattr(s, flag))
        if s.dunning_step is not None:
            entry["dunning_step"] = s.dunning_step
        for key in ("icon", "color"):
            if getattr(s, key) is not None:
                entry[key] = getattr(s, key)
        if not s.show_in_statistics:
            entry["show_in_statistics"] = False
        statuses.append(entry)
    transitions = []
    for e in wf.transitions:
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
        transitions.append(t)
    doc: dict[str, Any] = {"format": FORMAT_VERSION, "name": wf.name}
    if wf.status_attr != "status":
        doc["status_attr"] = wf.status_attr
    doc["initial"] = [s.name for s in wf.initial]
    doc["statuses"] = statuses
    doc["transitions"] = transitions
    return doc


def dump_workflow(
    wf: Workflow,
    *,
    format: str = "toml",
    guards: Mapping[str, GuardFactory] | None = None,
    effect_rules: Mapping[str, RuleFactory] | None = None,
) -> str:
    """Write ``wf`` as a TOML or JSON document that :func:`load_workflow` reads back
    into an equal workflow.

    Args:
        wf: the workflow.
        format: ``"toml"`` or ``"json"``.
        guards: the registry your own guards are named in (as for loading).
        effect_rules: the registry your own effect rules are named in.

    Raises:
        ConfigError: a guard or rule cannot be named in a file, or an unknown format.

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
    doc = workflow_document(wf, guards=guards, effect_rules=effect_rules)
    return _toml(doc) if format == "toml" else _json(doc, 0) + "\n"


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _string(text: str) -> str:
    # A JSON string is a TOML basic string, except that TOML wants DEL escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007F")


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ConfigError(f"{value} cannot be written to a file", source="<dump>")
    text = format(value, "f")
    # keep it a float literal, so it is read back as a Decimal, not an int
    return text if "." in text else text + ".0"


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise ConfigError(f"{value!r} cannot be written to a file", source="<dump>")  # pragma: no cover


def _key(key: str) -> str:
    return key if _BARE.match(key) else _string(key)


def _inline(value: object) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return _scalar(value)


def _toml(doc: Mapping[str, Any]) -> str:
    lines: list[str] = []
    tables: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in doc.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_inline(value)}")
    for key, entries in tables:
        for entry in entries:
            lines.append("")
            lines.append(f"[[{_key(key)}]]")
            lines.extend(f"{_key(k)} = {_inline(v)}" for k, v in entry.items())
    return "\n".join(lines) + "\n"


def _json(value: object, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{_string(k)}: {_json(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if not any(isinstance(v, dict | list) for v in value):
            return "[" + ", ".join(_json(v, depth + 1) for v in value) + "]"
        return "[\n" + ",\n".join(inner + _json(v, depth + 1) for v in value) + "\n" + pad + "]"
    if isinstance(value, dt.datetime):
        raise ConfigError("a date-time argument can only be written to TOML", source="<dump>")
    if isinstance(value, str):
        return json.dumps(value)
    return _scalar(value)
