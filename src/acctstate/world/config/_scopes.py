"""Scopes as files: [`load_scopes`][acctstate.config.load_scopes] (TOML and JSON).

A scopes file names the levels of a customer, each with its workflow (a workflow file
beside it, a preset, or a workflow the host passes by name), and the cascade rules
between them. Exemptions are named (``exempt = "paid_ahead"``), as guards are in
workflow files; nothing in a file is ever executed.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.scopes import (
    EXEMPTIONS,
    Cascade,
    Exemption,
    HoldCascade,
    Scope,
    Scopes,
    no_active_service,
)
from acctstate.values.errors import AcctStateError, ConfigError, DefinitionError
from acctstate.world.config._bases import BASES
from acctstate.world.config._keys import kind
from acctstate.world.config._read import GuardFactory, load_workflow, parse

__all__ = ["SCOPE_FILE_KEYS", "load_scopes"]

SCOPE_FILE_KEYS: Mapping[str, frozenset[str]] = {
    "": frozenset({"scopes", "cascades", "hold_cascades"}),
    "scopes": frozenset({"name", "workflow", "parent"}),
    "cascades": frozenset(
        {"scope", "entering", "target", "fire", "among", "strict", "exempt", "reason", "name"}
    ),
    "hold_cascades": frozenset({"scope", "target", "types", "blocks", "exempt", "name"}),
}
"""The keys a scopes file accepts: at the top (``""``) and in each kind of table."""


class _Reader:
    def __init__(
        self,
        source: str,
        folder: pathlib.Path | None,
        workflows: Mapping[str, Workflow],
        exemptions: Mapping[str, Callable[..., Exemption]],
        guards: Mapping[str, GuardFactory] | None,
    ) -> None:
        self.source = source
        self.folder = folder
        self.workflows = workflows
        self.exemptions = exemptions
        self.guards = guards

    def fail(self, path: str, problem: str) -> ConfigError:
        return ConfigError(problem, source=self.source, path=path)

    def tables(self, doc: Mapping[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
        found = doc.get(key, [])
        if not isinstance(found, list):
            raise self.fail(key, f"expected an array of tables, got {kind(found)}")
        out = []
        for i, t in enumerate(found):
            path = f"{key}[{i}]"
            if not isinstance(t, dict):
                raise self.fail(path, f"expected a table, got {kind(t)}")
            if unknown := sorted(set(t) - SCOPE_FILE_KEYS[key]):
                allowed = ", ".join(sorted(SCOPE_FILE_KEYS[key]))
                raise self.fail(f"{path}.{unknown[0]}", f"unknown key; expected one of {allowed}")
            out.append((path, t))
        return out

    def text(self, t: Mapping[str, Any], path: str, key: str, *, required: bool = True) -> Any:
        value = t.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise self.fail(f"{path}.{key}", f"expected a string, got {kind(value)}")
        return value

    def names(self, t: Mapping[str, Any], path: str, key: str, *, required: bool) -> Any:
        value = t.get(key)
        if value is None and not required:
            return None
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{path}.{key}", f"expected names (strings), got {kind(value)}")
        return value

    def workflow(self, path: str, name: str) -> Workflow:
        if name in self.workflows:
            return self.workflows[name]
        if name.lower().endswith((".toml", ".json")):
            file = pathlib.Path(name)
            if not file.is_absolute() and self.folder is not None:
                file = self.folder / file
            try:
                return load_workflow(file, guards=self.guards)
            except ConfigError as exc:
                raise self.fail(f"{path}.workflow", f"cannot load {name!r}: {exc}") from exc
        if name in BASES:
            return BASES[name]()
        known = sorted({*self.workflows, *BASES})
        raise self.fail(
            f"{path}.workflow",
            f"unknown workflow {name!r}; expected a .toml/.json file or one of {known}",
        )

    def exempt(self, t: Mapping[str, Any], path: str) -> Exemption | None:
        value = t.get("exempt")
        if value is None:
            return None
        args: dict[str, Any] = {}
        if isinstance(value, dict):
            args = {k: v for k, v in value.items() if k != "name"}
            value = value.get("name")
        if not isinstance(value, str) or value not in self.exemptions:
            known = ", ".join(sorted(self.exemptions))
            raise self.fail(f"{path}.exempt", f"unknown exemption {value!r}; expected {known}")
        try:
            return self.exemptions[value](**args)
        except (TypeError, AcctStateError) as exc:
            raise self.fail(f"{path}.exempt", f"bad arguments for {value!r}: {exc}") from exc

    def scopes(self, doc: object) -> Scopes:
        if not isinstance(doc, dict):
            raise self.fail("", f"expected a table at the top, got {kind(doc)}")
        if unknown := sorted(set(doc) - SCOPE_FILE_KEYS[""]):
            raise self.fail(unknown[0], "unknown key; expected scopes, cascades, hold_cascades")
        levels = [
            Scope(
                self.text(t, p, "name"),
                self.workflow(p, self.text(t, p, "workflow")),
                self.text(t, p, "parent", required=False),
            )
            for p, t in self.tables(doc, "scopes")
        ]
        rules: list[Cascade | HoldCascade] = []
        for p, t in self.tables(doc, "cascades"):
            strict = t.get("strict", False)
            if not isinstance(strict, bool):
                raise self.fail(f"{p}.strict", f"expected true or false, got {kind(strict)}")
            rules.append(
                Cascade(
                    self.text(t, p, "scope"),
                    self.names(t, p, "entering", required=True),
                    self.text(t, p, "target"),
                    self.text(t, p, "fire"),
                    among=self.names(t, p, "among", required=False),
                    strict=strict,
                    exempt=self.exempt(t, p),
                    reason=self.text(t, p, "reason", required=False),
                    name=self.text(t, p, "name", required=False) or "",
                )
            )
        for p, t in self.tables(doc, "hold_cascades"):
            rules.append(
                HoldCascade(
                    self.text(t, p, "scope"),
                    self.text(t, p, "target"),
                    types=self.names(t, p, "types", required=False),
                    blocks=self.names(t, p, "blocks", required=False),
                    exempt=self.exempt(t, p),
                    name=self.text(t, p, "name", required=False) or "",
                )
            )
        try:
            return Scopes(levels, cascades=rules)
        except DefinitionError as exc:
            raise self.fail("", f"the scopes break rules: {exc}") from exc


def load_scopes(
    source: str | os.PathLike[str],
    *,
    format: str | None = None,
    workflows: Mapping[str, Workflow] | None = None,
    exemptions: Mapping[str, Callable[..., Exemption]] | None = None,
    guards: Mapping[str, GuardFactory] | None = None,
) -> Scopes:
    """Load [`Scopes`][acctstate.scopes.Scopes] from a TOML or JSON file, or the text of one.

    ``[[scopes]]`` tables name each level (``name``, ``workflow``, ``parent``);
    ``[[cascades]]`` and ``[[hold_cascades]]`` tables hold the rules with the fields of
    [`Cascade`][acctstate.scopes.Cascade] and [`HoldCascade`][acctstate.scopes.HoldCascade].
    A ``workflow`` is a name in ``workflows``, a workflow file (relative to the scopes
    file) or a preset.

    Args:
        source: a path, or the document's text.
        format: ``"toml"`` or ``"json"`` (default: the suffix, or JSON for text starting
            with ``{``).
        workflows: workflows by the names the file uses.
        exemptions: more exemptions by name, on top of
            [`EXEMPTIONS`][acctstate.scopes.EXEMPTIONS].
        guards: more guard factories for the workflow files it names (these files may
            also name the guard ``no_active_service``).

    Raises:
        ConfigError: the file cannot be read or parsed, a key is unknown or of the wrong
            type, a workflow or exemption is unknown, or the scopes break a rule (the
            ``DefinitionError`` is the cause).
    """
    path: pathlib.Path | None = None
    if isinstance(source, os.PathLike):
        path = pathlib.Path(source)
    elif not isinstance(source, str):
        raise ConfigError(f"expected a path or the text of a document, got {kind(source)}")
    elif "\n" not in source and source.strip().lower().endswith((".toml", ".json")):
        path = pathlib.Path(source.strip())
    name = "<string>" if path is None else str(path)
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the file: {exc}", source=name) from exc
        fmt = format or ("json" if path.suffix.lower() == ".json" else "toml")
    else:
        text = str(source)
        fmt = format or ("json" if text.lstrip().startswith("{") else "toml")
    if fmt not in ("toml", "json"):
        raise ConfigError(f"unknown format {fmt!r}; expected 'toml' or 'json'", source=name)
    doc = parse(text, fmt == "toml", name)
    reader = _Reader(
        name,
        None if path is None else path.parent,
        dict(workflows or {}),
        {**EXEMPTIONS, **(exemptions or {})},
        {"no_active_service": no_active_service, **(guards or {})},
    )
    return reader.scopes(doc)
