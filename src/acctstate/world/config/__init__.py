"""Workflows as files: [`load_workflow`][acctstate.config.load_workflow] and
[`dump_workflow`][acctstate.config.dump_workflow] (TOML and JSON).

A workflow file declares the statuses, the transitions and the initial statuses.
Guards and effect rules are *named* (``{ name = "days_in_status", days = 180 }``) and
resolved from a registry when the file is loaded — [`acctstate.guards.GUARDS`][acctstate.guards.GUARDS]
and [`acctstate.effects.EFFECT_RULES`][acctstate.effects.EFFECT_RULES], plus any the host passes — so an unknown
name fails at load time, never at fire time, and nothing in a file is ever executed.

A status behaves like its back-end class unless the file says otherwise (see
[`acctstate.status.Status.custom`][acctstate.status.Status.custom]); an ``activates`` flag (provisioned and
billed, or neither) is accepted too. [`dump_workflow`][acctstate.config.dump_workflow]
writes every behaviour flag explicitly, so a dumped file means the same thing whatever the defaults become.

A file may start from another workflow instead of declaring everything: ``extends``
names a preset (or any workflow registered with [`register_base`][acctstate.config.register_base]) or another
workflow file, and the file adds or replaces statuses by code, adds transitions and
drops some of the base's with ``[[remove]]`` entries. ``dump_workflow(wf,
minimal_against="isp")`` writes only the difference.

Every problem is a [`ConfigError`][acctstate.errors.ConfigError] naming the file, the line
when it is known, the key path (``transitions[3].dest``) and what was expected.
Dunning ladders live beside the workflow in ``[ladders.<name>]`` tables (see
[`load_ladders`][acctstate.config.load_ladders]). The file format is described by a
JSON Schema shipped with the package
([`json_schema`][acctstate.config.json_schema]).

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

from acctstate.world.config._bases import BASES, register_base
from acctstate.world.config._keys import (
    FORMAT_VERSION,
    REMOVE_KEYS,
    STATUS_KEYS,
    TOP_KEYS,
    TRANSITION_KEYS,
)
from acctstate.world.config._ladders import (
    LADDER_KEYS,
    STEP_KEYS,
    ladder_document,
    ladder_document_text,
    ladder_from_document,
    load_ladders,
)
from acctstate.world.config._read import load_workflow
from acctstate.world.config._schema import json_schema
from acctstate.world.config._scopes import SCOPE_FILE_KEYS, load_scopes
from acctstate.world.config._write import dump_workflow, extension_document, workflow_document

__all__ = [
    "BASES",
    "FORMAT_VERSION",
    "LADDER_KEYS",
    "REMOVE_KEYS",
    "SCOPE_FILE_KEYS",
    "STATUS_KEYS",
    "STEP_KEYS",
    "TOP_KEYS",
    "TRANSITION_KEYS",
    "dump_workflow",
    "extension_document",
    "json_schema",
    "ladder_document",
    "ladder_document_text",
    "ladder_from_document",
    "load_ladders",
    "load_scopes",
    "load_workflow",
    "register_base",
    "workflow_document",
]
