"""The reading side of [`acctstate.config`][acctstate.config]: the parser, the reader
that turns a parsed document into a validated workflow, naming every problem's file,
line and key path, and [`load_workflow`][acctstate.config.load_workflow] over them."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

# acctstate.refunds registers its effect rules on import: a file may name them even
# when the host has not imported it.
import acctstate.operations.money.refunds  # noqa: F401
from acctstate.core.workflow import Workflow
from acctstate.values.effects import EFFECT_RULES, EffectRule
from acctstate.values.errors import AcctStateError, ConfigError, DefinitionError, closest
from acctstate.values.graph import Edge, Transition
from acctstate.values.guards import GUARDS, Guard
from acctstate.values.holds import HoldType
from acctstate.values.status import Backend, Status
from acctstate.world.config._bases import BASES
from acctstate.world.config._keys import (
    BOOL_FLAGS,
    FORMAT_VERSION,
    HOLD_KEYS,
    REMOVE_KEYS,
    STATUS_KEYS,
    TEXT_FIELDS,
    TOP_KEYS,
    TRANSITION_KEYS,
    WHOLE_KEYS,
    join,
    kind,
)

_COMPOSITE = {"all_of": "guards", "any_of": "guards", "not_": "guard"}

GuardFactory = Callable[..., Guard]
RuleFactory = Callable[..., EffectRule]


class Reader:
    """Turns a parsed document into a Workflow, reporting every problem with its path."""

    def __init__(
        self,
        source: str,
        text: str,
        is_toml: bool,
        guards: Mapping[str, GuardFactory],
        rules: Mapping[str, RuleFactory],
        chain: tuple[pathlib.Path, ...] = (),
    ) -> None:
        self.source = source
        self.text = text
        self.is_toml = is_toml
        self.guards = guards
        self.rules = rules
        # the files being read, outermost first (this one last, when it is a file):
        # an ``extends`` naming one of them would go round in a circle
        self.chain = chain

    def error(self, path: str, problem: str) -> ConfigError:
        return ConfigError(problem, source=self.source, path=path, line=self.locate(path))

    def locate(self, path: str) -> int | None:
        """Best-effort line of ``path`` in a TOML document (``None`` when unsure)."""
        if not self.is_toml or not path:
            return None
        m = re.match(r"^(statuses|transitions|remove)\[(\d+)\](?:\.(\w+))?", path)
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
            raise self.error(path, f"expected a table, got {kind(value)}")
        return value

    def keys(self, table: Mapping[str, Any], allowed: Mapping[str, bool], path: str) -> None:
        for key in table:
            if key not in allowed:
                hint = closest(key, allowed)
                also = f"; did you mean {hint[0]!r}?" if hint else ""
                raise self.error(
                    join(path, key),
                    f"unknown key {key!r}{also} (expected one of {', '.join(sorted(allowed))})",
                )
        for key, required in allowed.items():
            if required and key not in table:
                raise self.error(path, f"missing required key {key!r}")

    def text_of(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {kind(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.error(path, "expected valid Unicode text (found a lone surrogate)") from None
        return value

    def int_of(self, value: object, path: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(path, f"expected an integer, got {kind(value)}")
        return value

    def bool_of(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {kind(value)}")
        return value

    def list_of(self, value: object, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(path, f"expected an array, got {kind(value)}")
        return value

    def ref(self, value: object, path: str, known: Mapping[object, Status]) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.error(path, f"expected a status name or code, got {kind(value)}")
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
        if "extends" in top:
            return self.extension(top, self.base(top["extends"]))
        for key in WHOLE_KEYS:
            if key not in top:
                raise self.error(
                    "", f"missing required key {key!r} (or 'extends', to start from a workflow)"
                )
        if "remove" in top:
            raise self.error("remove", "'remove' drops transitions of the workflow in 'extends'")
        name = self.text_of(top.get("name", "workflow"), "name")
        status_attr = self.attr(top.get("status_attr", "status"))
        statuses = [
            self.status(entry, f"statuses[{i}]")
            for i, entry in enumerate(self.list_of(top["statuses"], "statuses"))
        ]
        known = self.known(statuses)
        transitions: list[Transition] = []
        for i, entry in enumerate(self.list_of(top["transitions"], "transitions")):
            transitions.extend(self.transition(entry, f"transitions[{i}]", known))
        initial = [
            self.ref(v, f"initial[{i}]", known)
            for i, v in enumerate(self.list_of(top["initial"], "initial"))
        ]
        holds = self.hold_types(top.get("holds", []), {})
        defaults = self.defaults(top, None)
        return self.build(statuses, transitions, initial, name, status_attr, holds, defaults)

    def defaults(self, top: Mapping[str, Any], base: Workflow | None) -> dict[str, Any]:
        """``default_timezone`` and ``default_currency`` (an extension keeps its base's)."""
        keys = ("default_timezone", "default_currency")
        return {k: self.text_of(top[k], k) if k in top else getattr(base, k, None) for k in keys}

    def attr(self, value: object) -> str:
        status_attr = self.text_of(value, "status_attr")
        if not status_attr.isidentifier():
            raise self.error("status_attr", "expected a Python attribute name")
        return status_attr

    @staticmethod
    def known(statuses: Sequence[Status]) -> dict[object, Status]:
        known: dict[object, Status] = {}
        for s in statuses:
            known.setdefault(s.name, s)
            known.setdefault(s.code, s)
        return known

    def build(
        self,
        statuses: Sequence[Status],
        transitions: Sequence[Transition],
        initial: Sequence[int],
        name: str,
        status_attr: str,
        holds: Sequence[HoldType],
        defaults: Mapping[str, Any],
    ) -> Workflow:
        try:
            return Workflow(
                statuses=statuses,
                transitions=transitions,
                initial=initial,
                name=name,
                status_attr=status_attr,
                holds=holds,
                **defaults,
            )
        except DefinitionError as exc:
            problems = "; ".join(str(v) for v in exc.violations)
            raise self.error("", f"the workflow is not valid: {problems}") from exc
        except AcctStateError as exc:  # a default that is not a time zone or a currency
            raise self.error(getattr(exc, "name", ""), str(exc)) from None

    # -- extends

    def base(self, value: object) -> Workflow:
        """The workflow named by ``extends``: a registered name or a workflow file
        (relative to this file's folder)."""
        ref = self.text_of(value, "extends")
        factory = BASES.get(ref)
        if factory is not None:
            return factory()
        if not ref.lower().endswith((".toml", ".json")):
            hint = closest(ref, BASES)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise self.error(
                "extends",
                f"unknown workflow {ref!r} to extend{also} (expected a preset: "
                f"{', '.join(sorted(BASES))}, or a .toml / .json workflow file)",
            )
        folder = self.chain[-1].parent if self.chain else pathlib.Path.cwd()
        path = (folder / ref).resolve()
        if path in self.chain:
            circle = " -> ".join(str(p) for p in [*self.chain[self.chain.index(path) :], path])
            raise self.error("extends", f"the files extend each other in a circle: {circle}")
        if not path.is_file():
            raise self.error("extends", f"no workflow file {ref!r} to extend (looked for {path})")
        return read_file(path, None, self.guards, self.rules, (*self.chain, path))

    def extension(self, top: Mapping[str, Any], base: Workflow) -> Workflow:
        """``base`` with this file's statuses (added, or replacing one with the same
        code), minus its ``remove`` entries, plus its transitions."""
        name = self.text_of(top.get("name", base.name), "name")
        status_attr = self.attr(top.get("status_attr", base.status_attr))
        merged = {s.code: s for s in base.catalog}
        for i, entry in enumerate(self.list_of(top.get("statuses", []), "statuses")):
            s = self.status(entry, f"statuses[{i}]")
            merged[s.code] = s
        known = self.known(list(merged.values()))
        transitions: list[Transition] = []
        for i, entry in enumerate(self.list_of(top.get("transitions", []), "transitions")):
            transitions.extend(self.transition(entry, f"transitions[{i}]", known))
        removals = [
            (f"remove[{i}]", self.removal(entry, f"remove[{i}]", known))
            for i, entry in enumerate(self.list_of(top.get("remove", []), "remove"))
        ]
        kept: list[Transition] = []
        used: set[str] = set()
        for e in base.transitions:
            hits = {path for path, match in removals if match(e)}
            used |= hits
            if not hits:
                kept.append(e.to_transition())
        for path, _ in removals:
            if path not in used:
                raise self.error(path, f"no transition of {base.name!r} matches this entry")
        if "initial" in top:
            initial = [
                self.ref(v, f"initial[{i}]", known)
                for i, v in enumerate(self.list_of(top["initial"], "initial"))
            ]
        else:
            initial = [s.code for s in base.initial]
        holds = self.hold_types(top.get("holds", []), dict(base.hold_types))
        merged_statuses, defaults = list(merged.values()), self.defaults(top, base)
        return self.build(
            merged_statuses, [*kept, *transitions], initial, name, status_attr, holds, defaults
        )

    def hold_types(self, value: object, start: dict[str, HoldType]) -> list[HoldType]:
        """The ``[[holds]]`` entries, each replacing a hold type of the same name."""
        found = dict(start)
        for i, entry in enumerate(self.list_of(value, "holds")):
            path = f"holds[{i}]"
            table = self.table(entry, path)
            self.keys(table, HOLD_KEYS, path)
            fields: dict[str, Any] = {
                k: self.text_of(table[k], join(path, k))
                for k in ("name", "kind", "permission", "description")
                if k in table
            }
            for key in ("blocks", "reasons", "release_reasons"):
                if key in table:
                    fields[key] = [
                        self.text_of(v, f"{path}.{key}[{j}]")
                        for j, v in enumerate(self.list_of(table[key], join(path, key)))
                    ]
            try:
                hold = HoldType(**fields)
            except AcctStateError as exc:
                raise self.error(path, str(exc)) from exc
            found[hold.name] = hold
        return list(found.values())

    def removal(
        self, entry: object, path: str, known: Mapping[object, Status]
    ) -> Callable[[Edge], bool]:
        """A ``[[remove]]`` entry as a test of the base's transitions."""
        table = self.table(entry, path)
        self.keys(table, REMOVE_KEYS, path)
        trigger = self.text_of(table["trigger"], join(path, "trigger"))
        sources: set[int] | None = None
        if "source" in table:
            raw = table["source"]
            if isinstance(raw, list):
                sources = {self.ref(v, f"{path}.source[{i}]", known) for i, v in enumerate(raw)}
            else:
                sources = {self.ref(raw, join(path, "source"), known)}
        dest = self.ref(table["dest"], join(path, "dest"), known) if "dest" in table else None

        def match(e: Edge) -> bool:
            return (
                e.trigger == trigger
                and (sources is None or e.source.code in sources)
                and (dest is None or e.dest.code == dest)
            )

        return match

    def status(self, entry: object, path: str) -> Status:
        table = self.table(entry, path)
        self.keys(table, STATUS_KEYS, path)
        fields: dict[str, Any] = {}
        code = self.int_of(table["code"], join(path, "code"))
        name = self.text_of(table["name"], join(path, "name"))
        backend: str | None = None
        if "backend" in table:
            backend = self.text_of(table["backend"], join(path, "backend"))
            values = [b.value for b in Backend]
            if backend not in values:
                raise self.error(
                    join(path, "backend"),
                    f"unknown back-end {backend!r}; expected one of {values}",
                )
        activates = None
        if "activates" in table:
            activates = self.bool_of(table["activates"], join(path, "activates"))
        if backend is None and activates is None:
            raise self.error(path, "missing required key 'backend' (or 'activates')")
        for key in BOOL_FLAGS:
            if key in table:
                fields[key] = self.bool_of(table[key], join(path, key))
        for key in TEXT_FIELDS:
            if key in table:
                fields[key] = self.text_of(table[key], join(path, key))
        if "dunning_step" in table:
            fields["dunning_step"] = self.int_of(table["dunning_step"], join(path, "dunning_step"))
        try:
            return Status.custom(code, name, backend=backend, activates=activates, **fields)
        except AcctStateError as exc:
            raise self.error(path, str(exc)) from exc

    def transition(
        self, entry: object, path: str, known: Mapping[object, Status]
    ) -> list[Transition]:
        table = self.table(entry, path)
        self.keys(table, TRANSITION_KEYS, path)
        trigger = self.text_of(table["trigger"], join(path, "trigger"))
        sources_raw = table["source"]
        if isinstance(sources_raw, list):
            if not sources_raw:
                raise self.error(join(path, "source"), "expected at least one status")
            sources = [self.ref(v, f"{path}.source[{i}]", known) for i, v in enumerate(sources_raw)]
        else:
            sources = [self.ref(sources_raw, join(path, "source"), known)]
        dest = self.ref(table["dest"], join(path, "dest"), known)
        options: dict[str, Any] = {}
        if "guards" in table:
            options["guards"] = [
                self.guard(g, f"{path}.guards[{i}]")
                for i, g in enumerate(self.list_of(table["guards"], join(path, "guards")))
            ]
        if "effects" in table:
            options["effects"] = [
                self.rule(r, f"{path}.effects[{i}]")
                for i, r in enumerate(self.list_of(table["effects"], join(path, "effects")))
            ]
        if "reasons" in table:
            options["reasons"] = [
                self.text_of(r, f"{path}.reasons[{i}]")
                for i, r in enumerate(self.list_of(table["reasons"], join(path, "reasons")))
            ]
        if "permission" in table:
            options["permission"] = self.text_of(table["permission"], join(path, "permission"))
        if "description" in table:
            options["description"] = self.text_of(table["description"], join(path, "description"))
        try:
            return [Transition(trigger, s, dest, **options) for s in sources]
        except AcctStateError as exc:
            raise self.error(path, str(exc)) from exc

    def _named(self, entry: object, path: str, registry: Mapping[str, Any], what: str) -> Any:
        table = self.table(entry, path)
        if "name" not in table:
            raise self.error(path, f"missing required key 'name' (the {what}'s registry name)")
        name = self.text_of(table["name"], join(path, "name"))
        factory = registry.get(name)
        if factory is None:
            hint = closest(name, registry)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            raise self.error(
                join(path, "name"),
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
                args = [self.guard(inner, join(path, key))]
            else:
                items = self.list_of(inner, join(path, key))
                args = [self.guard(g, f"{path}.{key}[{i}]") for i, g in enumerate(items)]
            return self._call(factory, args, {}, path, "guard")  # type: ignore[no-any-return]
        values = {k: self.value(v, join(path, k)) for k, v in kwargs.items()}
        made = self._call(factory, [], values, path, "guard")
        if not isinstance(made, Guard):
            raise self.error(path, f"guard factory {name!r} did not return a Guard")
        return made

    def rule(self, entry: object, path: str) -> EffectRule:
        _, factory, kwargs = self._named(entry, path, self.rules, "effect rule")
        values = {k: self.value(v, join(path, k)) for k, v in kwargs.items()}
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


_LINE = re.compile(r"line (\d+)")


def parse(text: str, is_toml: bool, source: str) -> object:
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


def registered_effect_rules() -> dict[str, RuleFactory]:
    """The effect-rule registry as it stands now (a copy)."""
    return dict(EFFECT_RULES)


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
            [`acctstate.guards.GUARDS`][acctstate.guards.GUARDS].
        effect_rules: more effect-rule factories by name, on top of
            [`acctstate.effects.EFFECT_RULES`][acctstate.effects.EFFECT_RULES].

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
        raise ConfigError(f"expected a path or the text of a document, got {kind(source)}")
    elif "\n" not in source and source.strip().lower().endswith((".toml", ".json")):
        path = pathlib.Path(source.strip())
    registry = {**GUARDS, **(guards or {})}
    rules = {**registered_effect_rules(), **(effect_rules or {})}
    if path is not None:
        return read_file(path, format, registry, rules, (path.resolve(),), name=str(path))
    text = str(source)
    fmt = format or ("json" if text.lstrip().startswith("{") else "toml")
    return read_text(text, fmt, name, registry, rules, ())


def read_file(
    path: pathlib.Path,
    format: str | None,
    guards: Mapping[str, GuardFactory],
    rules: Mapping[str, RuleFactory],
    chain: tuple[pathlib.Path, ...],
    *,
    name: str | None = None,
) -> Workflow:
    """The workflow in the file at ``path`` (``chain``: the files being read, this one last)."""
    name = str(path) if name is None else name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", source=name) from exc
    fmt = format or ("json" if path.suffix.lower() == ".json" else "toml")
    return read_text(text, fmt, name, guards, rules, chain)


def read_text(
    text: str,
    fmt: str,
    name: str,
    guards: Mapping[str, GuardFactory],
    rules: Mapping[str, RuleFactory],
    chain: tuple[pathlib.Path, ...],
) -> Workflow:
    """The workflow in the document ``text`` (read from ``name``)."""
    if fmt not in ("toml", "json"):
        raise ConfigError(f"unknown format {fmt!r}; expected 'toml' or 'json'", source=name)
    doc = parse(text, fmt == "toml", name)
    return Reader(name, text, fmt == "toml", guards, rules, chain).workflow(doc)
