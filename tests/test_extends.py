"""Workflow files that extend a preset or another file: statuses added or replaced by
code, transitions added and removed, the result validated, precise errors for unknown
bases and circles, and minimal dumps that load back into an equal workflow."""

from __future__ import annotations

import json
import pathlib
import tomllib

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from acctstate.config import (
    BASES,
    REMOVE_KEYS,
    dump_workflow,
    json_schema,
    load_workflow,
    register_base,
)
from acctstate.errors import ConfigError, DefinitionError, InvalidArgument, MissingDependency
from acctstate.graph import Transition
from acctstate.presets import isp
from acctstate.status import Status
from acctstate.workflow import Workflow

PRESETS = sorted(BASES)

VACATION = """\
extends = "isp"

[[statuses]]
code = 77
name = "vacation"
backend = "suspended"

[[transitions]]
trigger = "go_on_vacation"
source = "active"
dest = "vacation"

[[transitions]]
trigger = "come_back"
source = "vacation"
dest = "active"

[[remove]]
trigger = "cancel"
source = "permanent"
"""


def test_a_file_extends_a_preset() -> None:
    """`extends = "isp"` starts from the preset: its statuses, transitions, initial
    statuses and name, plus the file's additions, minus its removals."""
    wf = load_workflow(VACATION)
    base = isp.workflow()
    assert wf.name == "isp" and wf.initial == base.initial
    assert set(wf.catalog.names) == {*base.catalog.names, "vacation"}
    triggers = {(e.trigger, e.source.name) for e in wf.transitions}
    assert ("go_on_vacation", "active") in triggers and ("come_back", "vacation") in triggers
    assert ("cancel", "permanent") not in triggers
    assert len(wf.transitions) == len(base.transitions) + 1
    # the base's transitions keep their order, the file's come after them
    assert wf.transitions[-1].trigger == "come_back"


def test_a_status_with_an_existing_code_replaces_the_bases() -> None:
    """A `[[statuses]]` entry with a code the base has replaces that status; the base's
    transitions follow it by code, even when it is renamed."""
    wf = load_workflow(
        'extends = "isp"\nname = "mine"\n[[statuses]]\ncode = 51\nname = "cooling_off"\n'
        'backend = "suspended"\nlabel = "Cooling off"\n'
    )
    assert wf.name == "mine"
    assert wf.catalog[51].name == "cooling_off" and wf.catalog[51].label == "Cooling off"
    assert "temporary_ban" not in wf.catalog
    assert {e.trigger for e in wf.transitions if e.source.code == 51} == {
        e.trigger for e in isp.workflow().transitions if e.source.code == 51
    }


def test_the_extended_workflow_is_validated() -> None:
    """Removing what makes a status reachable is refused like any invalid workflow."""
    text = 'extends = "isp"\n[[remove]]\ntrigger = "start_trial"\n'
    with pytest.raises(ConfigError, match=r"\[unreachable\] status 'active_trial'") as info:
        load_workflow(text)
    assert isinstance(info.value.__cause__, DefinitionError)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ('extends = "ips"\n', "extends", r"unknown workflow 'ips' to extend; did you mean 'isp'"),
        ("extends = 3\n", "extends", "expected a string"),
        (
            'extends = "isp"\n[[remove]]\ntrigger = "suspend"\nsource = "prospect"\n',
            "remove[0]",
            "no transition of 'isp' matches this entry",
        ),
        (
            'extends = "isp"\n[[remove]]\ntrigger = "suspend"\nsauce = "active"\n',
            "remove[0].sauce",
            "did you mean 'source'",
        ),
        (
            'extends = "isp"\n[[transitions]]\ntrigger = "x"\nsource = "active"\ndest = "nowhere"\n',
            "transitions[0].dest",
            "unknown status 'nowhere'",
        ),
        (
            'name = "x"\ninitial = []\nstatuses = []\ntransitions = []\n'
            '[[remove]]\ntrigger = "x"\n',
            "remove",
            "'remove' drops transitions of the workflow in 'extends'",
        ),
        ('name = "x"\n', "", r"missing required key 'initial' \(or 'extends'"),
    ],
)
def test_extension_errors_name_the_key_path(text: str, path: str, message: str) -> None:
    """Mistakes in an extending file are ConfigErrors naming the key path."""
    with pytest.raises(ConfigError, match=message) as info:
        load_workflow(text)
    assert info.value.path == path


def test_a_file_extends_another_file_relative_to_itself(tmp_path: pathlib.Path) -> None:
    """`extends` may name a workflow file, found relative to the extending file, and
    extensions stack."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "vacation.toml").write_text(VACATION, encoding="utf-8")
    (tmp_path / "mine.toml").write_text(
        'extends = "base/vacation.toml"\nname = "mine"\n[[transitions]]\n'
        'trigger = "cancel"\nsource = "vacation"\ndest = "canceled"\n',
        encoding="utf-8",
    )
    wf = load_workflow(tmp_path / "mine.toml")
    assert wf.name == "mine"
    assert wf.may(attrs.evolve(_account(wf, "vacation")), "cancel")


def _account(wf: Workflow, status: str) -> object:
    import datetime as dt

    from acctstate.account import Account

    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return Account(id="A-1", status=wf.catalog[status].code, status_since=at)


def test_a_circle_of_extends_is_a_config_error_naming_the_files(tmp_path: pathlib.Path) -> None:
    """Files that extend each other in a circle are refused, naming the circle."""
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n', encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"extend each other in a circle: .*a\.toml -> .*b\.toml -> .*a\.toml"
    ):
        load_workflow(tmp_path / "a.toml")
    (tmp_path / "self.json").write_text('{"extends": "self.json"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="circle"):
        load_workflow(tmp_path / "self.json")


def test_a_missing_base_file_names_the_path(tmp_path: pathlib.Path) -> None:
    """A base file that does not exist is a ConfigError naming where it was looked for."""
    (tmp_path / "a.toml").write_text('extends = "gone.toml"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no workflow file 'gone.toml' to extend") as info:
        load_workflow(tmp_path / "a.toml")
    assert str(tmp_path / "gone.toml") in str(info.value)
    assert info.value.source == str(tmp_path / "a.toml") and info.value.line == 1


def test_a_broken_base_file_is_reported_with_its_own_name(tmp_path: pathlib.Path) -> None:
    """A problem inside the base file names the base file and its line."""
    (tmp_path / "base.toml").write_text('extends = "isp"\nstatuses = 3\n', encoding="utf-8")
    (tmp_path / "a.toml").write_text('extends = "base.toml"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="expected an array") as info:
        load_workflow(tmp_path / "a.toml")
    assert info.value.source == str((tmp_path / "base.toml").resolve())
    assert info.value.line == 2


def test_hosts_register_their_own_bases() -> None:
    """`register_base` lets files extend a workflow built in Python."""
    register_base("house", isp.workflow)
    try:
        assert load_workflow('extends = "house"\n') == isp.workflow()
    finally:
        del BASES["house"]
    with pytest.raises(InvalidArgument, match=r"does not end in \.toml"):
        register_base("x.toml", isp.workflow)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_a_preset_against_itself_dumps_to_nothing_but_extends(preset: str, fmt: str) -> None:
    """A preset written as the difference from itself is just `extends`, and loads back
    equal."""
    wf = BASES[preset]()
    text = dump_workflow(wf, format=fmt, minimal_against=preset)
    doc = json.loads(text) if fmt == "json" else tomllib.loads(text)
    assert doc == {"format": 1, "extends": preset}
    assert load_workflow(text, format=fmt) == wf


def test_a_minimal_dump_holds_only_the_difference() -> None:
    """The vacation file dumped against the preset gives back what it changes."""
    wf = load_workflow(VACATION)
    doc = tomllib.loads(dump_workflow(wf, minimal_against="isp"))
    assert [s["name"] for s in doc["statuses"]] == ["vacation"]
    assert [t["trigger"] for t in doc["transitions"]] == ["go_on_vacation", "come_back"]
    assert doc["remove"] == [{"trigger": "cancel", "source": "permanent", "dest": "canceled"}]
    assert load_workflow(dump_workflow(wf, minimal_against="isp")) == wf


def test_a_minimal_dump_refuses_a_dropped_status() -> None:
    """A workflow lacking one of the base's statuses cannot be written as an extension."""
    from acctstate.presets import sonar

    with pytest.raises(ConfigError, match="cannot drop one: write the whole workflow"):
        dump_workflow(sonar.workflow(), minimal_against="isp")


def test_a_transition_changed_in_place_still_round_trips() -> None:
    """A base transition changed where it stands is removed and added again, with the
    ones after it, so the order (part of a workflow's identity) is kept."""
    base = isp.workflow()
    changed = [e.to_transition() for e in base.transitions]
    changed[3] = attrs.evolve(changed[3], description="our own words")
    wf = Workflow(statuses=base.catalog, transitions=changed, initial=["prospect"], name="isp")
    assert load_workflow(dump_workflow(wf, minimal_against="isp")) == wf


@st.composite
def extensions(draw: st.DrawFn) -> tuple[str, Workflow]:
    """A preset and a small valid extension of it: new detour statuses, relabelled
    statuses, and removed transitions."""
    preset = draw(st.sampled_from(PRESETS))
    base = BASES[preset]()
    inner = [s for s in base.catalog if not s.terminal]
    statuses: list[Status] = []
    transitions: list[Transition] = []
    for i in range(draw(st.integers(0, 2))):
        code = max(base.catalog.codes) + 1 + i
        at = draw(st.sampled_from(inner))
        back = draw(st.sampled_from([s for s in inner if not s.one_way]))
        statuses.append(Status.custom(code, f"detour_{i}", backend="suspended"))
        transitions.append(Transition(f"detour_{i}", at.code, code))
        transitions.append(Transition(f"return_{i}", code, back.code))
    for s in draw(st.lists(st.sampled_from(list(base.catalog)), max_size=2, unique=True)):
        statuses.append(attrs.evolve(s, label=draw(st.sampled_from(["Ours", "Theirs ✓"]))))
    remove = [
        (e.trigger, e.source.code)
        for e in draw(st.lists(st.sampled_from(base.transitions), max_size=2, unique=True))
    ]
    try:
        wf = base.extend(statuses=statuses, transitions=transitions, remove=remove)
    except DefinitionError:
        assume(False)
        raise
    return preset, wf


@given(extensions(), st.sampled_from(["toml", "json"]))
def test_random_extensions_round_trip_through_minimal_dumps(
    case: tuple[str, Workflow], fmt: str
) -> None:
    """Any small extension of a preset, dumped minimally, loads back equal."""
    preset, wf = case
    text = dump_workflow(wf, format=fmt, minimal_against=preset)
    assert load_workflow(text, format=fmt) == wf


def test_the_schema_covers_extending_files() -> None:
    """The JSON Schema accepts an extending file and its minimal dumps, and refuses
    `remove` without `extends`."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    assert set(schema["$defs"]["removal"]["properties"]) == set(REMOVE_KEYS)
    jsonschema.validate(tomllib.loads(VACATION), schema)
    jsonschema.validate(
        json.loads(dump_workflow(load_workflow(VACATION), format="json", minimal_against="isp")),
        schema,
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        doc = {"initial": [], "statuses": [], "transitions": [], "remove": [{"trigger": "x"}]}
        jsonschema.validate(doc, schema)


def test_toml_needs_tomli_w(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without tomli-w, writing TOML names the extra to install; JSON needs nothing."""
    import sys

    monkeypatch.setitem(sys.modules, "tomli_w", None)
    with pytest.raises(MissingDependency, match=r"pip install acctstate\[toml\]"):
        dump_workflow(isp.workflow())
    assert load_workflow(dump_workflow(isp.workflow(), format="json")) == isp.workflow()
