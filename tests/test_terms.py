"""Contract terms are not bill cycles: a resume extends the term by the days suspended
(Zuora's resume: suspended 1 April, resumed 1 June, a term ending 2027-01-01 now ends
2027-03-03), and the extension is an effect the host books."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acctstate.account import Account
from acctstate.config import dump_workflow, load_workflow
from acctstate.errors import InvalidArgument
from acctstate.graph import Transition
from acctstate.refunds import ExtendTerm, ExtendTermOnResume, Term
from acctstate.status import Status
from acctstate.workflow import Workflow
from acctstate.world.store._codec import effect_from, effect_payload

UTC = dt.UTC
TERM = Term(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC))


def resumable() -> Workflow:
    statuses = [
        Status(code=1, name="active", backend="active", provisioned=True, billable=True),
        Status(code=-1, name="suspended", backend="suspended"),
        Status(code=-2, name="canceled", backend="closed", terminal=True),
    ]
    return Workflow(
        statuses=statuses,
        transitions=[
            Transition("suspend", "active", "suspended"),
            Transition("resume", "suspended", "active", effects=[ExtendTermOnResume()]),
            Transition("cancel", "suspended", "canceled"),
        ],
        initial=["active"],
        name="resumable",
    )


def test_zuora_resume_extends_the_term_by_the_days_suspended() -> None:
    """Suspended 1 April, resumed 1 June: 61 days; the term ends 2027-03-03."""
    later = TERM.resumed(
        suspended=dt.datetime(2026, 4, 1, tzinfo=UTC),
        resumed=dt.datetime(2026, 6, 1, tzinfo=UTC),
        tz="UTC",
    )
    assert later.end == dt.datetime(2027, 3, 3, tzinfo=UTC) and later.start == TERM.start


def test_days_suspended_are_counted_in_the_billing_zone() -> None:
    """Suspended at 23:30 on 31 March in Sydney, resumed at 01:00 on 1 April there: one
    calendar day in Sydney, none in UTC (both instants fall on 31 March there)."""
    suspended = dt.datetime(2026, 3, 31, 12, 30, tzinfo=UTC)
    resumed = dt.datetime(2026, 3, 31, 14, 0, tzinfo=UTC)
    sydney = TERM.resumed(suspended=suspended, resumed=resumed, tz="Australia/Sydney")
    assert sydney.end == TERM.end + dt.timedelta(days=1)
    assert sydney.end.tzinfo is TERM.end.tzinfo
    assert TERM.resumed(suspended=suspended, resumed=resumed, tz="UTC").end == TERM.end


def test_term_refuses_what_is_not_a_term() -> None:
    """A naive end, an end before the start, a resume before the suspension."""
    with pytest.raises(InvalidArgument, match=r"term\.end"):
        Term(TERM.end, TERM.start)
    with pytest.raises(InvalidArgument):
        Term(dt.datetime(2026, 1, 1), TERM.end)
    with pytest.raises(InvalidArgument, match="resumed"):
        TERM.resumed(suspended=TERM.end, resumed=TERM.start, tz="UTC")


def test_resume_transition_carries_the_extension_for_the_host() -> None:
    """Firing ``resume`` plans an ExtendTerm effect: the new term end and the days; the
    term (``contract_ends_at``) is not the bill cycle (``period_end``), which is left
    alone."""
    wf = resumable()
    a = Account(
        id="A-1",
        status=-1,
        status_since=dt.datetime(2026, 4, 1, 9, 0, tzinfo=UTC),
        contract_ends_at=TERM.end,
        period_end=dt.datetime(2026, 6, 15, tzinfo=UTC),
    )
    change = wf.fire(a, "resume", at=dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    (ext,) = [e for e in change.effects if isinstance(e, ExtendTerm)]
    assert (ext.ends_at, ext.days) == (dt.datetime(2027, 3, 3, tzinfo=UTC), 61)
    assert ext.key and a.period_end == dt.datetime(2026, 6, 15, tzinfo=UTC)


def test_no_term_no_extension() -> None:
    """A month-to-month account (no ``contract_ends_at``) gets no extension."""
    wf = resumable()
    a = Account(id="A-1", status=-1, status_since=dt.datetime(2026, 4, 1, tzinfo=UTC))
    change = wf.fire(a, "resume", at=dt.datetime(2026, 6, 1, tzinfo=UTC))
    assert not [e for e in change.effects if isinstance(e, ExtendTerm)]


def test_resume_rule_in_workflow_files_and_stores() -> None:
    """The rule is named in workflow files; the effect survives a store's outbox."""
    wf = resumable()
    assert load_workflow(dump_workflow(wf, format="json")) == wf
    effect = ExtendTerm(ends_at=TERM.end, days=3, key="A-1/resume#0")
    assert effect_from("extend_term", effect.key, effect_payload(effect)) == effect


@given(st.integers(0, 400), st.integers(0, 400), st.integers(0, 23))
def test_extension_equals_the_calendar_days_suspended(start: int, length: int, hour: int) -> None:
    """For any suspension, the term grows by exactly the calendar days suspended and
    keeps its start."""
    suspended = TERM.start + dt.timedelta(days=start, hours=hour)
    resumed = suspended + dt.timedelta(days=length, hours=23 - hour)
    later = TERM.resumed(suspended=suspended, resumed=resumed, tz="UTC")
    assert later.end - TERM.end == resumed.date() - suspended.date()
    assert later.start == TERM.start


def test_the_contracts_hook_runs_the_extension() -> None:
    """``Hooks(contracts=...)`` receives the ExtendTerm of a resume, with the change,
    before the account moves; RecordingHooks records it; without a contracts hook the
    extension stays on the change for the host."""
    from acctstate.effects import Hooks, RecordingHooks

    got: list[tuple[ExtendTerm, int]] = []

    class Contracts:
        def extend_term(self, effect: ExtendTerm, change: object) -> None:
            got.append((effect, a.status))

    def suspended() -> Account:
        return Account(
            id="A-1",
            status=-1,
            status_since=dt.datetime(2026, 4, 1, 9, 0, tzinfo=UTC),
            contract_ends_at=TERM.end,
        )

    at = dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    a = suspended()
    change = resumable().with_hooks(Hooks(contracts=Contracts())).fire(a, "resume", at=at)
    (ext,) = [e for e in change.effects if isinstance(e, ExtendTerm)]
    assert got == [(ext, -1)] and a.status == 1
    log = RecordingHooks()
    a = suspended()
    change = resumable().with_hooks(Hooks.from_object(log)).fire(a, "resume", at=at)
    assert [e.kind for e in log.done.values()].count("extend_term") == 1
    plain = (
        resumable().with_hooks(Hooks(billing=RecordingHooks())).fire(suspended(), "resume", at=at)
    )
    assert any(isinstance(e, ExtendTerm) for e in plain.effects)
