"""Build-time checks: every invariant is verified over the whole graph, and a workflow
breaking one is refused with every violation listed."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

import acctstate
from acctstate import DefinitionError, Status, Transition, Workflow
from acctstate.graph import RULES
from acctstate.guards import has_payment_method, not_


def S(code: int, name: str, **flags: object) -> Status:
    return Status(code=code, name=name, backend=flags.pop("backend", "active"), **flags)  # type: ignore[arg-type]


BASE = [
    S(30, "prospect", backend="prospect", one_way=True),
    S(1, "active"),
    S(-1, "suspended", backend="suspended"),
    S(-2, "closed", backend="closed"),
    S(-99, "archived", backend="closed", terminal=True),
]
BASE_T = [
    Transition("activate", "prospect", "active"),
    Transition("suspend", "active", "suspended"),
    Transition("resume", "suspended", "active"),
    Transition("close", "active", "closed"),
    Transition("close", "suspended", "closed"),
    Transition("drop", "prospect", "closed"),
    Transition("archive", "closed", "archived"),
]


def build(
    statuses: list[Status] = BASE,
    transitions: list[Transition] = BASE_T,
    initial: list[str] | None = None,
) -> Workflow:
    return Workflow(
        statuses=statuses,
        transitions=transitions,
        initial=["prospect"] if initial is None else initial,
    )


def rules_of(exc: pytest.ExceptionInfo[DefinitionError]) -> set[str]:
    return set(exc.value.rules)


def test_base_is_valid() -> None:
    """The fixture graph itself passes every rule (so each test below breaks exactly one)."""
    assert len(build().transitions) == len(BASE_T)


@pytest.mark.parametrize(
    ("extra", "rule", "match"),
    [
        (Transition("reprospect", "active", "prospect"), "one-way", "'prospect'.*re-entered"),
        (Transition("unarchive", "archived", "active"), "terminal-exit", "leaves terminal"),
        (Transition("go", "active", "nowhere"), "unknown-status", "nowhere"),
        (Transition("open", "active", "suspended"), "reserved-trigger", "reserved"),
        (Transition("suspend", "active", "closed"), "ambiguous", "both 'suspended' and 'closed'"),
        (Transition("suspend", "active", "suspended"), "duplicate", "declared twice"),
    ],
)
def test_each_rule_is_enforced(extra: Transition, rule: str, match: str) -> None:
    """Adding one offending transition is refused, naming the rule and the statuses."""
    with pytest.raises(DefinitionError, match=match) as exc:
        build(transitions=[*BASE_T, extra])
    assert rule in rules_of(exc)


def test_unreachable_and_trap() -> None:
    """A status nobody can reach, and one that cannot reach an end, are both reported."""
    statuses = [*BASE, S(5, "island"), S(6, "pit")]
    with pytest.raises(DefinitionError) as exc:
        build(statuses, [*BASE_T, Transition("fall", "active", "pit")])
    assert {"unreachable", "trap"} <= rules_of(exc)
    text = str(exc.value)
    assert "'island' (5) cannot be reached" in text and "'pit' (6) cannot reach" in text
    assert "problems" in text  # all violations at once


def test_no_initial_and_no_terminal() -> None:
    """A workflow needs an initial status and a terminal one."""
    with pytest.raises(DefinitionError) as exc:
        build(initial=[])
    assert "no-initial" in rules_of(exc)
    open_ended = [s.evolve(terminal=False) for s in BASE]
    with pytest.raises(DefinitionError) as exc:
        build(open_ended, [t for t in BASE_T if t.trigger != "archive"])
    assert "no-terminal" in rules_of(exc)


def test_dunning_advances_one_step() -> None:
    """Entering the ladder lands on step 1; within it, a move goes exactly one step up."""
    ladder = [
        *BASE,
        S(10, "dunning_1", dunning_step=1),
        S(11, "dunning_2", dunning_step=2),
        S(12, "dunning_3", dunning_step=3),
    ]
    ok = [
        *BASE_T,
        Transition("escalate", "active", "dunning_1"),
        Transition("escalate", "dunning_1", "dunning_2"),
        Transition("escalate", "dunning_2", "dunning_3"),
        *Transition.many("pay", ["dunning_1", "dunning_2", "dunning_3"], "active"),
    ]
    build(ladder, ok)
    with pytest.raises(DefinitionError, match="dunning step 3 from step 1; expected step 2"):
        build(ladder, [*ok, Transition("jump", "dunning_1", "dunning_3")])
    with pytest.raises(DefinitionError, match="dunning step 2 from outside the ladder"):
        build(ladder, [*ok, Transition("jump", "active", "dunning_2")])


def test_mutually_exclusive_guards_make_a_trigger_unambiguous() -> None:
    """g on one edge and not_(g) on the other declares the pair exclusive."""
    card = has_payment_method()
    build(
        transitions=[
            *BASE_T,
            Transition("end", "active", "closed", guards=[not_(card)]),
            Transition("end", "active", "suspended", guards=[card]),
        ]
    )
    with pytest.raises(DefinitionError, match=r"ambiguous|both"):
        build(
            transitions=[
                *BASE_T,
                Transition("end", "active", "closed", guards=[card]),
                Transition("end", "active", "suspended", guards=[card]),
            ]
        )


def test_every_rule_has_words() -> None:
    """Every rule id the checks can emit is documented in RULES."""
    assert {
        "one-way",
        "terminal-exit",
        "unreachable",
        "trap",
        "dunning-step",
        "ambiguous",
        "unknown-status",
        "duplicate",
        "no-initial",
        "no-terminal",
    } <= set(RULES)


# -- property tests: random valid graphs, then one random breakage ------------------------


@st.composite
def valid_graphs(draw: st.DrawFn) -> tuple[list[Status], list[Transition]]:
    """A random valid workflow: a chain prospect -> m_1 .. m_n -> end, plus random extra
    edges among the middle statuses (never into prospect, never out of end)."""
    n = draw(st.integers(min_value=1, max_value=6))
    middle = [S(i + 1, f"m{i}") for i in range(n)]
    statuses = [
        S(0, "prospect", backend="prospect", one_way=True),
        *middle,
        S(-99, "end", backend="closed", terminal=True),
    ]
    chain = ["prospect", *[m.name for m in middle], "end"]
    transitions = [
        Transition(f"step_{i}", a, b) for i, (a, b) in enumerate(itertools.pairwise(chain))
    ]
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(middle), st.sampled_from(middle)), max_size=6, unique=True
        )
    )
    transitions += [Transition(f"jump_{i}", a.name, b.name) for i, (a, b) in enumerate(pairs)]
    return statuses, transitions


@given(valid_graphs())
def test_generated_valid_graphs_build(graph: tuple[list[Status], list[Transition]]) -> None:
    """Generated graphs that respect every rule are accepted."""
    statuses, transitions = graph
    wf = Workflow(statuses=statuses, transitions=transitions, initial=["prospect"])
    assert len(wf.transitions) == len(transitions)


BREAKAGES = ["one-way", "terminal-exit", "unreachable", "trap", "unknown-status"]


@given(valid_graphs(), st.sampled_from(BREAKAGES), st.data())
def test_generated_breakage_is_refused(
    graph: tuple[list[Status], list[Transition]], rule: str, data: st.DataObject
) -> None:
    """Breaking any invariant in a valid graph makes the build fail with that rule."""
    statuses, transitions = graph
    middle = [s for s in statuses if s.name.startswith("m")]
    some = data.draw(st.sampled_from(middle))
    if rule == "one-way":
        transitions = [*transitions, Transition("back", some.name, "prospect")]
    elif rule == "terminal-exit":
        transitions = [*transitions, Transition("revive", "end", some.name)]
    elif rule == "unreachable":
        statuses = [*statuses, S(500, "orphan")]
        transitions = [*transitions, Transition("leave", "orphan", "end")]
    elif rule == "trap":
        statuses = [*statuses, S(501, "sink")]
        transitions = [*transitions, Transition("sink_in", some.name, "sink")]
    else:
        transitions = [*transitions, Transition("ghost", some.name, "no_such_status")]
    with pytest.raises(DefinitionError) as exc:
        Workflow(statuses=statuses, transitions=transitions, initial=["prospect"])
    assert rule in exc.value.rules
    assert all(isinstance(v, acctstate.Violation) for v in exc.value.violations)
