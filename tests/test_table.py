"""The compiled table answers exactly as the ``transitions`` engine, for every status,
trigger and set of passing guards — on the ISP workflow and on random valid workflows."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from acctstate.engine import CompiledTable, Engine
from acctstate.errors import DefinitionError
from acctstate.graph import Transition
from acctstate.guards import Guard, guard, not_
from acctstate.presets import isp
from acctstate.status import Status
from acctstate.workflow import Workflow

ISP = isp.workflow()
ISP_ENGINE = Engine(ISP.catalog.codes, ISP.transitions)


def _flag(name: str) -> Guard:
    return guard(name, lambda ctx: None)


@st.composite
def workflows(draw: st.DrawFn) -> Workflow:
    """A random valid workflow: a spine that makes every status reachable and able to
    end, plus random edges, with exclusive guards where a trigger branches."""
    n = draw(st.integers(2, 7))
    statuses = [
        Status(code=c, name=f"s{c}", backend="active", terminal=(c == n - 1)) for c in range(n)
    ]
    pairs = [
        (draw(st.sampled_from(["a", "b", "c"])), s, draw(st.integers(0, n - 1)))
        for s in draw(st.lists(st.integers(0, n - 2), max_size=10))
    ]
    decls = [Transition("go", i, i + 1) for i in range(n - 1)]
    groups: dict[tuple[str, int], list[int]] = {}
    for trigger, source, dest in pairs:
        if len(groups.get((trigger, source), [])) >= 3:
            continue
        groups.setdefault((trigger, source), []).append(dest)
    for (trigger, source), dests in groups.items():
        g, h = _flag(f"g_{trigger}_{source}"), _flag(f"h_{trigger}_{source}")
        # Pairwise exclusive guard sets for one, two or three branches.
        sets = [[], [[g], [not_(g)]], [[g], [not_(g), h], [not_(g), not_(h)]]][len(dests) - 1]
        if len(dests) == 1:
            sets = [[]]
        for dest, guards in zip(dests, sets, strict=True):
            decls.append(Transition(trigger, source, dest, guards=guards))
    try:
        return Workflow(statuses=statuses, transitions=decls, initial=[0])
    except DefinitionError:
        assume(False)
        raise  # pragma: no cover


def _agree(
    table: CompiledTable, engine: Engine, source: int, trigger: str, passed: set[int]
) -> None:
    assert table.fire(source, trigger, passed) == engine.fire(source, trigger, passed)


@given(
    st.sampled_from(ISP.catalog.codes),
    st.sampled_from([*ISP.triggers, "bogus"]),
    st.data(),
)
def test_isp_table_matches_engine(source: int, trigger: str, data: st.DataObject) -> None:
    """Any status, any trigger (unknown ones too), any subset of passing edges."""
    everything = range(len(ISP.transitions))
    cands = [i for i, _, _ in ISP.table.candidates(source, trigger)]
    passed = data.draw(st.sets(st.sampled_from(cands)) if cands else st.just(set[int]()))
    passed |= data.draw(st.sets(st.sampled_from(list(everything)), max_size=5))
    _agree(ISP.table, ISP_ENGINE, source, trigger, passed)


def test_isp_table_matches_engine_exhaustively() -> None:
    """Every status x trigger x every subset of its candidate edges (the graph is finite)."""
    checked = 0
    for source in ISP.catalog.codes:
        for trigger in [*ISP.triggers, "bogus"]:
            cands = [i for i, _, _ in ISP.table.candidates(source, trigger)]
            for mask in range(2 ** len(cands)):
                passed = {c for k, c in enumerate(cands) if mask >> k & 1}
                _agree(ISP.table, ISP_ENGINE, source, trigger, passed)
                checked += 1
    assert checked > len(ISP.catalog.codes) * len(ISP.triggers)


@given(workflows(), st.data())
def test_random_workflow_table_matches_engine(wf: Workflow, data: st.DataObject) -> None:
    """On random valid workflows, every status and trigger, every passing subset."""
    engine = Engine(wf.catalog.codes, wf.transitions)
    for source in wf.catalog.codes:
        for trigger in [*wf.triggers, "zzz"]:
            cands = [i for i, _, _ in wf.table.candidates(source, trigger)]
            for mask in range(2 ** len(cands)):
                passed = {c for k, c in enumerate(cands) if mask >> k & 1}
                _agree(wf.table, engine, source, trigger, passed)
    source = data.draw(st.sampled_from(wf.catalog.codes))
    trigger = data.draw(st.sampled_from(wf.triggers))
    noise = data.draw(st.sets(st.integers(-1, len(wf.transitions) + 1)))
    _agree(wf.table, engine, source, trigger, noise)


@given(workflows())
def test_table_views_agree_with_edges(wf: Workflow) -> None:
    """candidates, by_trigger, depth, allowed and keys all describe the same edges."""
    table = wf.table
    for trigger in table.triggers:
        by_source = table.by_trigger(trigger)
        assert by_source == {
            s: table.candidates(s, trigger)
            for s in wf.catalog.codes
            if table.candidates(s, trigger)
        }
        assert table.depth(trigger) == max(len(c) for c in by_source.values())
    expected = {(e.source.code, e.trigger) for e in wf.transitions}
    assert set(table.keys()) == expected
    for code, names in table.allowed.items():
        assert set(names) == {t for s, t in expected if s == code}
    assert table.by_trigger("nope") == {} and table.depth("nope") == 0
    keys = table.keys()
    order = [[i for i, _, _ in table.candidates(s, t)] for s, t in keys]
    assert all(o == sorted(o) for o in order)  # declaration order, as transitions tries them
