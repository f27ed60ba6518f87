"""The simulated book: deterministic, every move a legal transition, the money adds up,
and the behaviours it promises (dunning, reinstatement, refunds, archiving) happen."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import acctstate
from acctstate.effects import Charge, Refund
from acctstate.errors import InvalidArgument
from acctstate.graph import Transition
from acctstate.presets import isp, sonar
from acctstate.simulation import DEFAULT_START, Scenario, SimulationResult, simulate
from acctstate.status import Status


@pytest.fixture(scope="module")
def book() -> SimulationResult:
    """A book big and long enough for every behaviour to show up."""
    return simulate(accounts=1500, days=180, seed=11)


def _invariants(r: SimulationResult, wf: acctstate.Workflow) -> None:
    edges = {(e.source.name, e.dest.name) for e in wf.transitions}
    assert r.problems == ()
    assert set(r.transitions) <= edges
    days = sorted(r.daily)
    assert len(days) == r.days
    assert days == [(r.start + dt.timedelta(days=d)).date() for d in range(r.days)]
    totals = [sum(r.daily[d].values()) for d in days]
    assert totals == sorted(totals), "accounts are never lost"
    assert totals[-1] == len(r.accounts)
    final = {name: 0 for name in r.statuses}
    made = 0
    end = r.start + dt.timedelta(days=r.days)
    for a in r.accounts:
        final[wf.status_of(a).name] += 1
        changes = list(a.history)
        assert changes[0].is_opening
        assert changes[-1].dest.code == a.status
        times = [c.at for c in changes]
        assert times == sorted(times)
        assert all(c.at < end for c in changes)
        made += len(changes) - 1
    assert final == r.final()
    assert made == r.changes == sum(r.triggers.values())


def test_same_seed_same_book() -> None:
    """Two runs with one seed agree on every count, every sum and every history."""
    a = simulate(accounts=300, days=90, seed=5)
    b = simulate(accounts=300, days=90, seed=5)
    assert a.daily == b.daily
    assert a.transitions == b.transitions
    assert a.money == b.money
    assert [[str(c) for c in x.history] for x in a.accounts] == [
        [str(c) for c in y.history] for y in b.accounts
    ]
    assert [c.recorded_at for x in a.accounts for c in x.history] == [
        c.recorded_at for x in b.accounts for c in x.history
    ]


def test_other_seed_other_book() -> None:
    """The seed matters: another seed gives another book."""
    a = simulate(accounts=300, days=90, seed=5)
    b = simulate(accounts=300, days=90, seed=6)
    assert a.daily != b.daily


def test_invariants_hold(book: SimulationResult) -> None:
    """Every change is an edge of the graph, histories are in time order and end in the
    account's status, and the daily counts agree with the accounts."""
    _invariants(book, isp.workflow())


@settings(max_examples=12)
@given(
    accounts=st.integers(0, 60),
    days=st.integers(1, 45),
    seed=st.integers(0, 2**32),
)
def test_invariants_hold_for_any_small_book(accounts: int, days: int, seed: int) -> None:
    """Whatever the size, length and seed, the simulation stays inside the workflow."""
    _invariants(simulate(accounts=accounts, days=days, seed=seed), isp.workflow())


def test_every_behaviour_happens(book: SimulationResult) -> None:
    """Onboarding, trials, dunning both ways, reinstatements, cancellations (now and at
    period end), termination, contract expiry and archiving all occur."""
    for trigger in (
        "register",
        "request_installation",
        "activate",
        "start_trial",
        "end_trial",
        "escalate_dunning",
        "settle",
        "reinstate_back",
        "reinstate_forward",
        "complete_reinstatement",
        "cancel",
        "request_cancelation",
        "complete_cancelation",
        "terminate",
        "expire_contract",
        "archive",
    ):
        assert book.triggers.get(trigger, 0) > 0, trigger
    assert set(book.cancellations) == set(Scenario().cancel_options)


def test_dunning_is_automation(book: SimulationResult) -> None:
    """Ladder moves and archiving are made by the system actor with the sweep's note."""
    for a in book.accounts:
        for c in a.history:
            if c.trigger in ("escalate_dunning", "settle", "archive", "end_trial"):
                assert c.automatic and c.note is not None and c.note.startswith("automation: ")


def test_archived_only_after_180_days_closed(book: SimulationResult) -> None:
    """An account is archived only once it has been closed for 180 days."""
    archived = 0
    for a in book.accounts:
        changes = list(a.history)
        for before, c in itertools.pairwise(changes):
            if c.trigger == "archive":
                archived += 1
                assert c.at - before.at >= dt.timedelta(days=isp.ARCHIVE_AFTER_DAYS)
    assert archived == sum(n for (_, b), n in book.transitions.items() if b == "archived")
    assert archived > 0


def test_money_matches_the_effects(book: SimulationResult) -> None:
    """Refunds and reinstatement bills are the sums of the effects in the histories;
    what is outstanding is what the accounts owe."""
    refunds = sum(
        (
            e.amount
            for a in book.accounts
            for c in a.history
            for e in c.effects
            if isinstance(e, Refund)
        ),
        Decimal(0),
    )
    charges = sum(
        (
            e.amount
            for a in book.accounts
            for c in a.history
            for e in c.effects
            if isinstance(e, Charge)
        ),
        Decimal(0),
    )
    assert book.money["refunded"] == refunds > 0
    assert book.money["charged"] == charges > 0
    assert book.money["outstanding"] == sum(a.balance for a in book.accounts if a.balance > 0)
    assert book.money["paid"] <= book.money["invoiced"] + book.money["charged"]
    assert all(isinstance(v, Decimal) for v in book.money.values())


def test_refunds_never_exceed_a_period(book: SimulationResult) -> None:
    """A refund is at most one period's price (the dearest plan), and only on a
    cancellation."""
    for a in book.accounts:
        for c in a.history:
            for e in c.effects:
                if isinstance(e, Refund):
                    assert c.trigger == "cancel"
                    assert Decimal(0) < e.amount <= Decimal("59.90")


def test_no_cancellations_when_nobody_cancels() -> None:
    """With a zero cancellation rate and no drop-outs, customers never cancel."""
    r = simulate(
        accounts=200,
        days=60,
        seed=3,
        scenario=Scenario(cancel=0, dropout=0, trial_without_card=0),
    )
    assert r.cancellations == {}
    assert "request_cancelation" not in r.triggers
    assert r.money["refunded"] == 0
    assert not any(t == "cancel" for t in r.triggers)


def test_everyone_pays_on_time_means_no_dunning() -> None:
    """Without late payers or defaulters nothing enters dunning."""
    r = simulate(accounts=300, days=90, seed=2, scenario=Scenario(late=0, defaulters=0))
    assert "escalate_dunning" not in r.triggers
    assert r.money["outstanding"] <= r.money["invoiced"]


def test_views_of_the_result(book: SimulationResult) -> None:
    """monthly() holds each month's last day, series() one value per day, to_rows()
    one row per day with the statuses seen, and summary() names them."""
    months = book.monthly()
    days = sorted(book.daily)
    for month, counts in months.items():
        last = max(d for d in days if f"{d:%Y-%m}" == month)
        assert counts == book.daily[last]
    assert len(book.series("active")) == book.days
    assert book.series("archived")[-1] == book.final()["archived"]
    rows = book.to_rows()
    assert [r["date"] for r in rows] == [d.isoformat() for d in days]
    assert set(rows[0]) == {"date", *book.seen()}
    text = book.summary()
    assert all(name in text for name in book.seen())
    with pytest.raises(InvalidArgument, match="a status of workflow 'isp'"):
        book.series("bogus")


def test_progress_is_reported_each_day() -> None:
    """The progress callback hears of every day, in order."""
    seen: list[tuple[int, int]] = []
    simulate(accounts=10, days=7, seed=0, progress=lambda d, n: seen.append((d, n)))
    assert seen == [(d, 7) for d in range(1, 8)]


def test_an_extended_workflow_can_be_simulated() -> None:
    """A workflow extending the reference one (a custom status) runs the same book."""
    wf = isp.workflow().extend(
        statuses=[Status.custom(70, "vacation", backend="suspended")],
        transitions=[
            Transition("start_vacation", "active", "vacation"),
            Transition("end_vacation", "vacation", "active"),
        ],
        name="isp_vacation",
    )
    r = simulate(wf, accounts=100, days=30, seed=4)
    base = simulate(accounts=100, days=30, seed=4)
    assert r.workflow == "isp_vacation" and "vacation" in r.statuses
    assert r.final()["vacation"] == 0
    # Nothing drives the new status, so the book is the reference one, day by day.
    for day, counts in r.daily.items():
        assert {k: v for k, v in counts.items() if k != "vacation"} == base.daily[day]
    _invariants(r, wf)


def test_start_is_the_first_day() -> None:
    """The first day's date is ``start``'s; histories of new accounts begin after it."""
    start = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    r = simulate(accounts=20, days=3, seed=1, start=start)
    assert min(r.daily) == start.date()
    assert DEFAULT_START.date() not in r.daily


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"days": 0}, "invalid days: got 0"),
        ({"accounts": -1}, "invalid accounts: got -1"),
        ({"seed": "x"}, "invalid seed"),
        ({"start": dt.datetime(2026, 1, 1)}, "timezone-aware"),
        ({"scenario": {"late": 0.1}}, "a Scenario"),
        ({"workflow": "isp"}, "a Workflow"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], match: str) -> None:
    """Bad arguments raise InvalidArgument naming the argument and what was expected."""
    with pytest.raises(InvalidArgument, match=match):
        simulate(**kwargs)  # type: ignore[arg-type]


def test_a_workflow_without_the_lifecycle_is_refused() -> None:
    """The simulation names what a foreign workflow lacks instead of failing midway."""
    with pytest.raises(
        InvalidArgument, match=r"reference ISP workflow or one extending it \(it lacks"
    ):
        simulate(sonar.workflow(), accounts=5, days=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"late": 1.5}, "invalid late: got 1.5; expected a probability"),
        ({"cancel_options": {"sometime": 1}}, "invalid cancel_options: got 'sometime'"),
        ({"cancel_options": {"period_end": 0}}, "at least one positive weight"),
        ({"due_days": 0}, "invalid due_days"),
    ],
)
def test_bad_scenarios_are_refused(kwargs: dict[str, object], match: str) -> None:
    """A scenario checks its rates, option names and day counts when it is made."""
    with pytest.raises(InvalidArgument, match=match):
        Scenario(**kwargs)  # type: ignore[arg-type]
