"""Scheduled (effective-dated) changes: recording, listing, withdrawing and applying."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acctstate.account import Account
from acctstate.actors import SYSTEM, Actor
from acctstate.clock import FixedClock, first_of_next_month, local_date
from acctstate.effects import Hooks
from acctstate.errors import (
    GuardRefused,
    HistoryConflict,
    IllegalTransition,
    InvalidArgument,
    UnknownTrigger,
)
from acctstate.history import ScheduleState, StatusChange
from acctstate.presets import isp
from acctstate.schedule import ApplyResult, Schedule, apply_entry, plan_entry
from acctstate.workflow import Workflow

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)
ZERO = Decimal("0")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def wfc(wf: Workflow, clock: FixedClock) -> Workflow:
    return wf.with_clock(clock)


@pytest.fixture
def book(wfc: Workflow) -> Schedule:
    return Schedule(wfc)


def active(wf: Workflow, account_id: str = "A-1", **fields: Any) -> Account:
    return wf.open(account_id, "active", at=T0, imported=True, **fields)


def snapshot(acct: Account) -> tuple[int, dt.datetime | None, list[StatusChange]]:
    return acct.status, acct.status_since, list(acct.history)


# -- recording and listing ------------------------------------------------------------


def test_schedule_records_a_pending_change_and_changes_nothing_else(
    wfc: Workflow, book: Schedule
) -> None:
    """wf.schedule records a pending change with every fact; the account is untouched."""
    acct = active(wfc)
    before = snapshot(acct)
    clerk = Actor("u-7")
    sc = wfc.schedule(
        acct, "suspend", at=T0 + 10 * DAY, book=book, reason="late", note="n", actor=clerk
    )
    assert snapshot(acct) == before
    assert sc.pending and sc in book.pending() and book[sc.id] == sc
    assert (sc.account_id, sc.trigger, sc.at, sc.recorded_at) == (
        "A-1",
        "suspend",
        T0 + 10 * DAY,
        T0,
    )
    assert (sc.reason, sc.note, sc.actor) == ("late", "n", clerk)
    assert sc.id == f"{sc.key}#1" and sc.key == "A-1/suspend/2026-01-15T09:00:00+00:00"


def test_listing_is_in_effective_time_order_per_account(wfc: Workflow, book: Schedule) -> None:
    """Pending changes list by effective time (ties in scheduling order), per account too."""
    a, b = active(wfc, "A-1"), active(wfc, "B-2")
    book.add(a, "suspend", at=T0 + 5 * DAY)
    book.add(b, "ban", at=T0 + 2 * DAY)
    book.add(a, "ban", at=T0 + 1 * DAY)
    book.add(b, "deactivate", at=T0 + 2 * DAY)
    assert [(e.account_id, e.trigger) for e in book.pending()] == [
        ("A-1", "ban"),
        ("B-2", "ban"),
        ("B-2", "deactivate"),
        ("A-1", "suspend"),
    ]
    assert [e.trigger for e in book.pending(a)] == ["ban", "suspend"]
    assert [e.trigger for e in book.pending("B-2")] == ["ban", "deactivate"]
    assert [e.trigger for e in book.due(T0 + 2 * DAY)] == ["ban", "ban", "deactivate"]
    assert len(book) == 4 and "nope" not in book


def test_a_later_trigger_reachable_only_after_another_scheduled_one_is_accepted(
    wfc: Workflow, book: Schedule
) -> None:
    """'complete_cancelation' is not legal from active, but is after 'request_cancelation'."""
    acct = active(wfc, period_end=T0 + 30 * DAY)
    book.add(acct, "request_cancelation", at=T0 + DAY)
    book.add(acct, "complete_cancelation", at=T0 + 30 * DAY)
    result = book.apply_due(T0 + 31 * DAY)
    assert [e.trigger for e in result.applied] == ["request_cancelation", "complete_cancelation"]
    assert wfc.status_of(acct).name == "canceled"


# -- refusals when scheduling: nothing is recorded ------------------------------------


@pytest.mark.parametrize(
    ("trigger", "kwargs", "error", "match"),
    [
        ("suspnd", {}, UnknownTrigger, "unknown trigger 'suspnd'; did you mean 'suspend'"),
        ("register", {}, IllegalTransition, "cannot fire 'register' on account 'A-1'"),
        ("suspend", {"at": dt.datetime(2026, 2, 1)}, InvalidArgument, "timezone-aware"),
        ("suspend", {"at": T0 - DAY}, HistoryConflict, "back-dated only to after the latest"),
        ("suspend", {"balance": 1.5}, InvalidArgument, "float money is refused"),
        ("suspend", {"actor": "u-7"}, InvalidArgument, "an acctstate.Actor"),
        ("suspend", {"reason": 7}, InvalidArgument, "a reason code"),
        ("suspend", {"note": 7}, InvalidArgument, "invalid note"),
        ("suspend", {"hooks": None}, InvalidArgument, "event data not named"),
        ("suspend", {"when": dt.datetime(2026, 2, 1)}, InvalidArgument, "invalid when"),
    ],
)
def test_refused_schedules_record_nothing(
    wfc: Workflow,
    book: Schedule,
    trigger: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    """Each refusal says what was wrong; the book and the account are unchanged."""
    acct = active(wfc)
    book.add(acct, "ban", at=T0 + DAY)
    before, entries = snapshot(acct), book.entries
    call: dict[str, Any] = {"at": T0 + 10 * DAY, **kwargs}
    with pytest.raises(error, match=match):
        book.add(acct, trigger, **call)
    assert (snapshot(acct), book.entries) == (before, entries)


def test_nothing_can_be_scheduled_on_a_terminal_account(wfc: Workflow, book: Schedule) -> None:
    """An archived account can never change again, so scheduling anything is illegal."""
    acct = wfc.open("A-1", "archived", at=T0, imported=True)
    with pytest.raises(
        IllegalTransition, match=r"in status 'archived' \(-99\); allowed here: \(none\)"
    ):
        book.add(acct, "reinstate_forward", at=T0 + DAY)
    assert len(book) == 0


def test_the_same_change_cannot_be_pending_twice(wfc: Workflow, book: Schedule) -> None:
    """Scheduling an identical pending change is refused; after withdrawal it may be redone."""
    acct = active(wfc)
    first = book.add(acct, "suspend", at=T0 + DAY)
    with pytest.raises(
        InvalidArgument, match=r"not already scheduled for account 'A-1' \(pending: 'A-1/suspend/"
    ):
        book.add(acct, "suspend", at=T0 + DAY)
    assert book.entries == [first]
    book.withdraw(first)
    again = book.add(acct, "suspend", at=T0 + DAY)
    assert again.id.endswith("#2") and len(book) == 2


def test_workflow_schedule_refuses_a_book_of_another_workflow(wfc: Workflow) -> None:
    """The book must be built on the workflow scheduling into it."""
    other = Schedule(isp.workflow().extend(name="other"))
    acct = active(wfc)
    with pytest.raises(InvalidArgument, match="a Schedule built on workflow 'isp'"):
        wfc.schedule(acct, "suspend", at=T0 + DAY, book=other)
    with pytest.raises(InvalidArgument, match="a Schedule built on workflow 'isp'"):
        wfc.schedule(acct, "suspend", at=T0 + DAY, book=[])  # type: ignore[arg-type]
    assert len(other) == 0


# -- withdrawing ----------------------------------------------------------------------


def test_withdrawn_changes_are_kept_and_never_applied(
    wfc: Workflow, book: Schedule, clock: FixedClock
) -> None:
    """A withdrawn change stays in the book, says who withdrew it and why, and never fires."""
    acct = active(wfc)
    sc = book.add(acct, "suspend", at=T0 + DAY)
    clock.advance(dt.timedelta(hours=2))
    boss = Actor("u-1")
    out = book.withdraw(sc.id, actor=boss, note="customer paid")
    assert (out.state, out.settled_by, out.detail, out.settled_at) == (
        ScheduleState.WITHDRAWN,
        boss,
        "customer paid",
        T0 + dt.timedelta(hours=2),
    )
    assert book.pending() == [] and book[sc.id] == out
    result = book.apply_due(T0 + 5 * DAY)
    assert len(result) == 0 and wfc.status_of(acct).name == "active"


def test_withdraw_refusals_change_nothing(wfc: Workflow, book: Schedule) -> None:
    """Unknown ids and settled changes cannot be withdrawn; the book is unchanged."""
    acct = active(wfc)
    sc = book.add(acct, "suspend", at=T0 + DAY)
    book.apply_due(T0 + DAY)
    entries = book.entries
    with pytest.raises(InvalidArgument, match="the id of a scheduled change in this schedule"):
        book.withdraw("no-such-id")
    with pytest.raises(InvalidArgument, match=r"pending scheduled change \(this one is applied\)"):
        book.withdraw(sc)
    assert book.entries == entries


# -- applying -------------------------------------------------------------------------


def test_apply_due_fires_in_effective_time_order_at_the_effective_time(
    wfc: Workflow, book: Schedule, clock: FixedClock
) -> None:
    """Due changes fire oldest first, each with ``at`` = its effective time; later ones wait."""
    acct = active(wfc)
    book.add(acct, "reinstate_back", at=T0 + 3 * DAY, payment_method="visa")
    book.add(acct, "suspend", at=T0 + 2 * DAY)
    book.add(acct, "complete_reinstatement", at=T0 + 9 * DAY, balance=ZERO)
    clock.set(T0 + 5 * DAY)
    result = book.apply_due(clock.now())
    assert isinstance(result, ApplyResult) and str(result) == "2 applied, 0 failed"
    assert [(c.trigger, c.at) for c in result.changes] == [
        ("suspend", T0 + 2 * DAY),
        ("reinstate_back", T0 + 3 * DAY),
    ]
    assert all(c.recorded_at == T0 + 5 * DAY for c in result.changes)
    assert acct.status_since == T0 + 3 * DAY
    assert [e.trigger for e in book.pending()] == ["complete_reinstatement"]
    assert all(e.settled_at == T0 + 5 * DAY and e.detail == e.key for e in result.applied)


def test_guards_are_checked_at_the_effective_time_and_failures_kept(
    wfc: Workflow, book: Schedule
) -> None:
    """A change whose guard refuses when due is marked failed with the reason, not dropped."""
    acct = wfc.open("A-1", "canceled", at=T0, imported=True)  # no payment method
    sc = book.add(acct, "reinstate_forward", at=T0 + DAY)
    result = book.apply_due(T0 + 2 * DAY)
    assert result.applied == () and result.changes == ()
    (failed,) = result.failed
    assert failed.id == sc.id and failed.state is ScheduleState.FAILED
    assert failed.detail is not None
    assert failed.detail.startswith("GuardRefused: cannot fire 'reinstate_forward'")
    assert "has_payment_method" in failed.detail
    assert isinstance(result.outcomes[0].error, GuardRefused)
    assert book[sc.id] == failed and wfc.status_of(acct).name == "canceled"
    assert "failed" in str(result.outcomes[0])


def test_guards_see_the_effective_time_not_the_run_time(wfc: Workflow, book: Schedule) -> None:
    """archive needs 180 days in status *at its effective time*, however late it runs."""
    acct = wfc.open("A-1", "canceled", at=T0, imported=True)
    early = book.add(acct, "archive", at=T0 + 100 * DAY)
    result = book.apply_due(T0 + 400 * DAY)
    assert result.failed[0].id == early.id and "in status for 100 days; 180 required" in str(
        result.failed[0].detail
    )
    book.add(acct, "archive", at=T0 + 180 * DAY)
    assert [c.at for c in book.apply_due(T0 + 400 * DAY).changes] == [T0 + 180 * DAY]


def test_a_change_made_meanwhile_makes_an_older_scheduled_one_fail(
    wfc: Workflow, book: Schedule
) -> None:
    """A manual change after the effective time turns the due change into a recorded conflict."""
    acct = active(wfc)
    book.add(acct, "suspend", at=T0 + DAY)
    wfc.fire(acct, "ban", at=T0 + 2 * DAY)
    wfc.fire(acct, "lift_ban", at=T0 + 3 * DAY)  # active again: suspend is legal, but too late
    before = snapshot(acct)
    (failed,) = book.apply_due(T0 + 4 * DAY).failed
    assert failed.detail is not None
    assert failed.detail.startswith("HistoryConflict: cannot record a change on account 'A-1'")
    assert snapshot(acct) == before


def test_applying_twice_changes_nothing_the_second_time(wfc: Workflow, book: Schedule) -> None:
    """The second run with the same ``now`` finds nothing to do and touches nothing."""
    acct = active(wfc)
    book.add(acct, "suspend", at=T0 + DAY)
    book.add(acct, "terminate", at=T0 + DAY)  # after the suspension: suspended -> terminated
    book.add(acct, "ban", at=T0 + 2 * DAY)  # fails: only an active account can be banned
    first = book.apply_due(T0 + 3 * DAY)
    assert (len(first.applied), len(first.failed)) == (2, 1)
    before, entries = snapshot(acct), book.entries
    second = book.apply_due(T0 + 3 * DAY)
    assert len(second) == 0 and (snapshot(acct), book.entries) == (before, entries)


def test_a_stale_copy_of_the_book_does_not_apply_a_change_twice(
    wfc: Workflow, book: Schedule
) -> None:
    """Reloaded from an old snapshot, an entry already in the history is marked applied, not refired."""
    acct = active(wfc)
    sc = book.add(acct, "suspend", at=T0 + DAY)
    saved = book.entries  # what a store held before the run
    book.apply_due(T0 + 2 * DAY)
    before = snapshot(acct)
    stale = Schedule(wfc, entries=saved)
    (out,) = stale.apply_due(T0 + 2 * DAY, accounts={"A-1": acct}).outcomes
    assert out.ok and out.entry.id == sc.id and out.change == acct.history[-1]
    assert snapshot(acct) == before


def test_automatic_changes_say_so_unless_a_person_scheduled_them(
    wfc: Workflow, book: Schedule
) -> None:
    """Without an actor the system fires (automatic); with one, the person is recorded."""
    a, b = active(wfc, "A-1"), active(wfc, "B-2")
    clerk = Actor("u-7")
    book.add(a, "suspend", at=T0 + DAY)
    book.add(b, "suspend", at=T0 + DAY, actor=clerk)
    by_id = {c.account_id: c for c in book.apply_due(T0 + DAY).changes}
    assert by_id["A-1"].actor == SYSTEM and by_id["A-1"].automatic
    assert by_id["B-2"].actor == clerk and not by_id["B-2"].automatic
    assert book[f"{by_id['A-1'].key}#1"].settled_by == SYSTEM


def test_accounts_can_come_from_a_lookup(wfc: Workflow, book: Schedule) -> None:
    """Entries loaded without account objects are applied on accounts found by id."""
    acct = active(wfc)
    entry = plan_entry(wfc, acct, "suspend", at=T0 + DAY, id="S-1")
    loaded = Schedule(wfc, entries=[entry])
    fresh = active(wfc)  # another object for the same account, as a store would load it
    result = loaded.apply_due(T0 + DAY, accounts=lambda i: fresh if i == "A-1" else None)
    assert result.applied[0].id == "S-1"
    assert (wfc.status_of(fresh).name, wfc.status_of(acct).name) == ("suspended", "active")


def test_a_missing_account_refuses_the_whole_run_before_anything_fires(wfc: Workflow) -> None:
    """If any due change's account cannot be found, nothing is applied and the ids are named."""
    a = active(wfc, "A-1")
    b = active(wfc, "B-2")
    entries = [
        plan_entry(wfc, a, "suspend", at=T0 + DAY, id="1"),
        plan_entry(wfc, b, "suspend", at=T0 + DAY, id="2"),
    ]
    book = Schedule(wfc, entries=entries)
    before = snapshot(a)
    with pytest.raises(InvalidArgument, match=r"invalid accounts: got \['B-2'\]"):
        book.apply_due(T0 + DAY, accounts={"A-1": a})
    assert snapshot(a) == before and book.entries == entries


def test_limit_settles_bounded_chunks_in_order(wfc: Workflow) -> None:
    """``limit`` applies at most that many, oldest first; the rest wait for the next call."""
    accts = [active(wfc, f"A-{i}") for i in range(5)]
    book = Schedule(wfc)
    for i, a in enumerate(accts):
        book.add(a, "suspend", at=T0 + (5 - i) * DAY)
    first = book.apply_due(T0 + 9 * DAY, limit=2)
    assert [e.account_id for e in first.applied] == ["A-4", "A-3"]
    rest = book.apply_due(T0 + 9 * DAY, limit=10)
    assert [e.account_id for e in rest.applied] == ["A-2", "A-1", "A-0"]
    with pytest.raises(InvalidArgument, match="a positive int"):
        book.apply_due(T0, limit=0)


def test_effects_of_applied_changes_go_through_the_hooks(wfc: Workflow, book: Schedule) -> None:
    """Applying runs the change's effects through the given hooks, keyed by the change."""
    ran: list[str] = []

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            return lambda effect, change: ran.append(f"{name} {effect.key} {change.at}")

    hooks = Hooks(provisioning=Recorder(), billing=Recorder())  # type: ignore[arg-type]
    acct = active(wfc)
    sc = book.add(acct, "suspend", at=T0 + DAY)
    (change,) = book.apply_due(T0 + DAY, hooks=hooks).changes
    assert ran == [f"{e.kind} {e.key} {T0 + DAY}" for e in change.effects]
    assert any(r.startswith("deprovision ") for r in ran)
    assert all(e.key.startswith(sc.key) for e in change.effects)


def test_apply_entry_refuses_entries_not_due_settled_or_for_another_account(
    wfc: Workflow,
) -> None:
    """The single-entry primitive checks its arguments before firing anything."""
    a, b = active(wfc, "A-1"), active(wfc, "B-2")
    entry = plan_entry(wfc, a, "suspend", at=T0 + DAY)
    with pytest.raises(InvalidArgument, match="at or after the change's effective time"):
        apply_entry(wfc, entry, a, now=T0)
    with pytest.raises(InvalidArgument, match="account 'A-1'"):
        apply_entry(wfc, entry, b, now=T0 + DAY)
    done = apply_entry(wfc, entry, a, now=T0 + DAY).entry
    with pytest.raises(InvalidArgument, match="this one is applied"):
        apply_entry(wfc, done, a, now=T0 + DAY)
    assert wfc.status_of(b).name == "active"


# -- time zones -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "now", "expected_utc"),
    [
        # 22:00 on 28 Feb in New York is already 1 March in UTC: "the 1st" is 1 March, EST.
        (
            "America/New_York",
            dt.datetime(2026, 3, 1, 3, 0, tzinfo=UTC),
            dt.datetime(2026, 3, 1, 5, tzinfo=UTC),
        ),
        # In March the clocks spring forward: 1 April in New York starts at 04:00 UTC.
        (
            "America/New_York",
            dt.datetime(2026, 3, 20, tzinfo=UTC),
            dt.datetime(2026, 4, 1, 4, tzinfo=UTC),
        ),
        # Berlin springs forward on 29 March: 1 April starts at 22:00 UTC on 31 March.
        (
            "Europe/Berlin",
            dt.datetime(2026, 3, 20, tzinfo=UTC),
            dt.datetime(2026, 3, 31, 22, tzinfo=UTC),
        ),
        # And falls back on 25 October: 1 November starts at 23:00 UTC on 31 October.
        (
            "Europe/Berlin",
            dt.datetime(2026, 10, 20, tzinfo=UTC),
            dt.datetime(2026, 10, 31, 23, tzinfo=UTC),
        ),
    ],
)
def test_on_the_first_in_the_customers_time_zone(
    wf: Workflow, tz: str, now: dt.datetime, expected_utc: dt.datetime
) -> None:
    """A change scheduled "on the 1st" fires at the customer's local midnight, not UTC's."""
    clock = FixedClock(now)
    wfc = wf.with_clock(clock)
    acct = wfc.open("A-1", "active", at=now - DAY, imported=True, timezone=tz)
    book = Schedule(wfc)
    sc = book.add(acct, "suspend", at=first_of_next_month(clock.now(), acct.timezone))
    assert sc.at.astimezone(UTC) == expected_utc
    assert book.apply_due(expected_utc - dt.timedelta(microseconds=1)).outcomes == ()
    (change,) = book.apply_due(expected_utc).changes
    assert local_date(change.at, tz).day == 1
    assert [c.trigger for c in acct.history.changes_on(local_date(change.at, tz), tz)] == [
        "suspend"
    ]


# -- properties -----------------------------------------------------------------------

STEPS = st.lists(
    st.tuples(
        st.integers(0, 3),  # which account
        st.sampled_from(sorted(isp.workflow().triggers)),
        st.integers(0, 30 * 24),  # hours after T0
        st.booleans(),  # guards' data lets them pass
    ),
    max_size=20,
)


@given(steps=STEPS, cuts=st.lists(st.integers(0, 31 * 24), min_size=1, max_size=4))
def test_apply_due_is_idempotent_and_settles_every_due_change(
    steps: list[tuple[int, str, int, bool]], cuts: list[int]
) -> None:
    """Whatever was scheduled, each run settles exactly the due pending changes (applied
    or failed, never dropped), in time order, and an immediate second run changes nothing."""
    wf = isp.workflow().with_clock(FixedClock(T0))
    accts = [active(wf, f"A-{i}") for i in range(4)]
    book = Schedule(wf)
    for i, trigger, h, ok in steps:
        data = {"balance": ZERO if ok else Decimal("9"), "payment_method": "visa" if ok else None}
        with contextlib.suppress(IllegalTransition, InvalidArgument):
            book.add(accts[i], trigger, at=T0 + dt.timedelta(hours=h), **data)
    for cut in sorted(cuts):
        now = T0 + dt.timedelta(hours=cut)
        due_ids = [e.id for e in book.due(now)]
        result = book.apply_due(now)
        assert [o.entry.id for o in result.outcomes] == due_ids
        assert all(not book[i].pending for i in due_ids)
        fired = [c.at for c in result.changes]
        assert fired == sorted(fired)
        state = [snapshot(a) for a in accts], book.entries
        assert len(book.apply_due(now)) == 0
        assert ([snapshot(a) for a in accts], book.entries) == state
    assert all(e.pending == (e.at > T0 + dt.timedelta(hours=max(cuts))) for e in book)
