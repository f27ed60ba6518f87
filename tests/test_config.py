"""Workflows as files: round trips, registry-named guards and rules, precise errors,
the JSON Schema, and a fuzzed loader that only ever raises ConfigError."""

from __future__ import annotations

import json
import pathlib
import tomllib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acctstate.config import (
    FORMAT_VERSION,
    STATUS_KEYS,
    TOP_KEYS,
    TRANSITION_KEYS,
    dump_workflow,
    json_schema,
    load_workflow,
    workflow_document,
)
from acctstate.errors import ConfigError
from acctstate.graph import Transition
from acctstate.guards import Guard, all_of, balance_settled, guard, has_payment_method, not_
from acctstate.presets import account_class, engageip, isp, portabilling, sonar
from acctstate.refunds import RefundRule
from acctstate.status import Backend, Status
from acctstate.workflow import Workflow

PRESETS = {
    "isp": isp.workflow,
    "engageip": engageip.workflow,
    "portabilling": portabilling.workflow,
    "account_class": account_class.workflow,
    "sonar": sonar.workflow,
}

TINY = """\
name = "tiny"
initial = ["new"]

[[statuses]]
code = 0
name = "new"
backend = "prospect"

[[statuses]]
code = 1
name = "gone"
backend = "closed"
terminal = true

[[transitions]]
trigger = "close"
source = "new"
dest = "gone"
"""


def tiny_doc() -> dict[str, Any]:
    """The TINY document as data."""
    return tomllib.loads(TINY)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_every_preset_round_trips(preset: str, fmt: str) -> None:
    """Dumping a preset and loading it back gives an equal workflow."""
    wf = PRESETS[preset]()
    assert load_workflow(dump_workflow(wf, format=fmt)) == wf


def test_round_trip_keeps_guards_rules_reasons_and_permissions() -> None:
    """Nested guards, Decimal arguments, effect rules, reasons, permissions and a
    custom status attribute survive a round trip through both formats."""
    funds = balance_settled(attr="funds", tolerance=Decimal("2.50"))
    wf = Workflow(
        statuses=[
            Status.custom(0, "new", backend="prospect", icon="star", color="#ff0000"),
            Status.custom(1, "live", activates=True, show_in_statistics=False),
            Status.custom(-1, "gone", backend="closed", terminal=True, label="Gone for good"),
        ],
        transitions=[
            Transition("start", "new", "live", guards=[all_of(funds, has_payment_method())]),
            Transition(
                "close",
                "live",
                "gone",
                guards=[not_(funds)],
                effects=[RefundRule(default="prorated")],
                reasons=["moved", "price"],
                permission="edit_account_status",
                description='line one\nline "two"',
            ),
            Transition("drop", "new", "gone", reasons=[]),
        ],
        initial=["new"],
        name="shop",
        status_attr="state",
    )
    for fmt in ("toml", "json"):
        back = load_workflow(dump_workflow(wf, format=fmt))
        assert back == wf
        assert back.transitions[0].guards[0].kwargs["guards"][0].kwargs["tolerance"] == Decimal(
            "2.50"
        )


def test_files_are_read_from_paths(tmp_path: pathlib.Path) -> None:
    """A Path, or a one-line string ending in .toml / .json, is read as a file."""
    wf = sonar.workflow()
    (tmp_path / "wf.toml").write_text(dump_workflow(wf), encoding="utf-8")
    (tmp_path / "wf.json").write_text(dump_workflow(wf, format="json"), encoding="utf-8")
    assert load_workflow(tmp_path / "wf.toml") == wf
    assert load_workflow(str(tmp_path / "wf.json")) == wf


def test_a_missing_file_names_the_file(tmp_path: pathlib.Path) -> None:
    """A file that cannot be read is a ConfigError naming it."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read the file") as info:
        load_workflow(missing)
    assert info.value.source == str(missing)


def test_statuses_inherit_behaviour_from_their_backend_in_files() -> None:
    """A status that gives only its back-end class behaves like it; ``activates``
    works as in seed 003."""
    text = TINY + '\n[[statuses]]\ncode = 2\nname = "biz"\nactivates = true\n'
    text += '\n[[transitions]]\ntrigger = "upgrade"\nsource = "new"\ndest = "biz"\n'
    text += '\n[[transitions]]\ntrigger = "close"\nsource = "biz"\ndest = "gone"\n'
    wf = load_workflow(text)
    assert wf.catalog["new"].one_way
    assert wf.catalog["biz"].backend is Backend.ACTIVE
    assert wf.catalog["biz"].provisioned and wf.catalog["biz"].billable


def test_a_transition_may_list_several_sources() -> None:
    """``source = [...]`` declares one transition per source."""
    text = TINY.replace('source = "new"', 'source = ["new", 0]').replace(
        'trigger = "close"', 'trigger = "close"'
    )
    with pytest.raises(ConfigError, match="duplicate"):
        load_workflow(text)  # 'new' and 0 are the same status: declared twice
    ok = TINY.replace('source = "new"', 'source = ["new"]')
    assert len(load_workflow(ok).transitions) == 1


@pytest.mark.parametrize(
    ("edit", "path", "line", "expected"),
    [
        (('dest = "gone"', 'dest = "gon"'), "transitions[0].dest", 18, "did you mean 'gone'"),
        (('backend = "closed"', 'backend = "dead"'), "statuses[1].backend", 12, "expected one of"),
        (("code = 1", 'code = "1"'), "statuses[1].code", 10, "expected an integer"),
        (("terminal = true", "terminal = 1"), "statuses[1].terminal", 13, "true or false"),
        (('name = "tiny"', 'nmae = "tiny"'), "nmae", 1, "did you mean 'name'"),
        (('trigger = "close"\n', ""), "transitions[0]", 15, "missing required key 'trigger'"),
        (('initial = ["new"]', 'initial = ["old"]'), "initial[0]", 2, "unknown status 'old'"),
    ],
)
def test_errors_name_the_key_path_the_line_and_what_was_expected(
    edit: tuple[str, str], path: str, line: int, expected: str
) -> None:
    """Each problem is a ConfigError with the key path, the line (TOML) and what was
    expected; the message says all three."""
    text = TINY.replace(*edit)
    assert text != TINY
    with pytest.raises(ConfigError, match=expected) as info:
        load_workflow(text)
    assert info.value.path == path
    assert info.value.line == line
    assert f" at {path}:" in str(info.value)


def test_parser_errors_carry_the_parsers_line() -> None:
    """A syntax error reports the line the parser found it on (TOML and JSON)."""
    with pytest.raises(ConfigError, match="not valid TOML") as toml_info:
        load_workflow(TINY.replace("code = 1\n", "code = = 1\n"))
    assert toml_info.value.line == 10
    with pytest.raises(ConfigError, match="not valid JSON") as json_info:
        load_workflow('{\n  "name": "x",\n  "initial": [,]\n}')
    assert json_info.value.line == 3


def test_a_workflow_breaking_a_rule_is_a_config_error_with_the_violations() -> None:
    """Graph rules are checked at load time; the DefinitionError is the cause."""
    text = TINY + '\n[[transitions]]\ntrigger = "reopen"\nsource = "gone"\ndest = "new"\n'
    with pytest.raises(ConfigError, match=r"terminal-exit.*\n?.*") as info:
        load_workflow(text)
    assert "one-way" in str(info.value)
    assert info.value.__cause__ is not None


def test_unknown_guard_and_rule_names_fail_at_load_time() -> None:
    """A guard or effect rule not in its registry is refused when loading (with a
    suggestion), never later when firing."""
    bad_guard = TINY.replace(
        'dest = "gone"', 'dest = "gone"\nguards = [{ name = "balance_setled" }]'
    )
    with pytest.raises(ConfigError, match="unknown guard 'balance_setled'; did you mean") as info:
        load_workflow(bad_guard)
    assert info.value.path == "transitions[0].guards[0].name"
    bad_rule = TINY.replace('dest = "gone"', 'dest = "gone"\neffects = [{ name = "refund_all" }]')
    with pytest.raises(ConfigError, match="unknown effect rule 'refund_all'"):
        load_workflow(bad_rule)


def test_nothing_in_a_file_is_executed() -> None:
    """Names that look like code are just unknown names: no import, no eval."""
    for name in ("os.system", "__import__", "eval", "builtins.exec"):
        text = TINY.replace('dest = "gone"', f'dest = "gone"\nguards = [{{ name = "{name}" }}]')
        with pytest.raises(ConfigError, match="unknown guard"):
            load_workflow(text)


def test_guard_arguments_are_checked_by_the_factory() -> None:
    """Wrong arguments for a known guard are a ConfigError at the guard's path."""
    text = TINY.replace('dest = "gone"', 'dest = "gone"\nguards = [{ name = "days_in_status" }]')
    with pytest.raises(ConfigError, match="arguments were refused") as info:
        load_workflow(text)
    assert info.value.path == "transitions[0].guards[0]"
    naive = TINY.replace(
        'dest = "gone"', 'dest = "gone"\nguards = [{ name = "days_in_status", days = -1 }]'
    )
    with pytest.raises(ConfigError, match="non-negative"):
        load_workflow(naive)


def test_host_guards_are_named_through_a_registry() -> None:
    """A host's own guard is dumped and loaded by name with ``guards=``; without the
    registry both refuse."""

    def is_vip() -> Guard:
        return guard("is_vip", lambda ctx: None if ctx.value("vip", False) else "not a VIP")

    wf = load_workflow(TINY).extend(
        transitions=[Transition("close_vip", "new", "gone", guards=[is_vip()])]
    )
    with pytest.raises(ConfigError, match="'is_vip' is not in the guard registry"):
        dump_workflow(wf)
    text = dump_workflow(wf, guards={"is_vip": is_vip})
    with pytest.raises(ConfigError, match="unknown guard 'is_vip'"):
        load_workflow(text)
    assert load_workflow(text, guards={"is_vip": is_vip}) == wf


def test_unknown_format_is_refused() -> None:
    """Only TOML and JSON are read and written."""
    with pytest.raises(ConfigError, match="unknown format 'yaml'"):
        dump_workflow(isp.workflow(), format="yaml")
    with pytest.raises(ConfigError, match="unknown format 'yaml'"):
        load_workflow(TINY, format="yaml")


def test_unsupported_format_version_is_refused() -> None:
    """A future format version is refused rather than misread."""
    with pytest.raises(ConfigError, match="unsupported format 2") as info:
        load_workflow(f"format = 2\n{TINY}")
    assert info.value.path == "format"


# -- the JSON Schema ---------------------------------------------------------------------


def test_schema_is_shipped_and_matches_the_loader() -> None:
    """The schema is valid JSON in the package, and its keys, required keys and
    back-end values are exactly those the loader uses."""
    schema = json_schema()
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert set(schema["required"]) == {k for k, req in TOP_KEYS.items() if req}
    status = schema["$defs"]["status"]
    assert set(status["properties"]) == set(STATUS_KEYS)
    assert set(status["required"]) == {k for k, req in STATUS_KEYS.items() if req}
    assert status["properties"]["backend"]["enum"] == [b.value for b in Backend]
    transition = schema["$defs"]["transition"]
    assert set(transition["properties"]) == set(TRANSITION_KEYS)
    assert set(transition["required"]) == {k for k, req in TRANSITION_KEYS.items() if req}
    assert schema["properties"]["format"]["const"] == FORMAT_VERSION


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_dumped_preset_validates_against_the_schema(preset: str) -> None:
    """What dump_workflow writes is valid under the shipped schema (when the
    optional ``jsonschema`` package is there to check it)."""
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads(dump_workflow(PRESETS[preset](), format="json"))
    jsonschema.validate(doc, json_schema())
    assert doc == json.loads(json.dumps(workflow_document(PRESETS[preset]()), default=float))


# -- fuzzing -----------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.text(max_size=8),
    st.sampled_from(["new", "gone", "closed", "prospect", "days_in_status", "not_", "guards"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from([*TOP_KEYS, *STATUS_KEYS, *TRANSITION_KEYS, "name", "days"]),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


def _load_or_config_error(text: str) -> None:
    try:
        wf = load_workflow(text)
    except ConfigError:
        return
    assert isinstance(wf, Workflow)


@given(st.text(max_size=200))
def test_fuzz_random_text_loads_or_raises_config_error(text: str) -> None:
    """Arbitrary text either loads or raises ConfigError, never anything else."""
    _load_or_config_error(text)


@given(st.dictionaries(st.sampled_from(list(TOP_KEYS)), values, max_size=6))
def test_fuzz_random_documents_load_or_raise_config_error(doc: dict[str, Any]) -> None:
    """Arbitrary JSON documents built from the format's own keys either load or
    raise ConfigError."""
    _load_or_config_error(json.dumps(doc))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], action: str, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(doc) if isinstance(doc, dict) else list(doc)
    if not rest and action == "delete":
        del copy[head]
    else:
        copy[head] = _mutate(doc[head], rest, action, new)
    return copy


@given(
    st.sampled_from(sorted(PRESETS)),
    st.data(),
    st.sampled_from(["replace", "delete"]),
    values,
)
def test_fuzz_mutated_presets_load_or_raise_config_error(
    preset: str, data: st.DataObject, action: str, new: Any
) -> None:
    """A preset's document with one value replaced or deleted either loads (into a
    valid workflow) or raises ConfigError."""
    doc = workflow_document(PRESETS[preset]())
    doc = json.loads(json.dumps(doc, default=str))
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    mutated = _mutate(doc, path, action, new)
    _load_or_config_error(json.dumps(mutated))


@given(st.data())
def test_fuzz_mutated_toml_text_loads_or_raises_config_error(data: st.DataObject) -> None:
    """A dumped TOML file with a slice of text replaced either loads or raises
    ConfigError."""
    text = dump_workflow(engageip.workflow())
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    junk = data.draw(st.text(max_size=10))
    _load_or_config_error(text[:start] + junk + text[end:])
