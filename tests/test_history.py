"""The append-only history: its records, its queries, back-dating, and its invariants
under random sequences of fired, scheduled and back-dated changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acctstate.account import Account
from acctstate.actors import SYSTEM, Actor
from acctstate.clock import FixedClock
from acctstate.errors import AcctStateError, HistoryConflict, InvalidArgument
from acctstate.history import (
    OPEN,
    Cause,
    History,
    ScheduledChange,
    ScheduleState,
    StatusChange,
)
from acctstate.presets import isp
from acctstate.schedule import Schedule
from acctstate.workflow import Workflow

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)


def snapshot(acct: Account) -> tuple[int, dt.datetime | None, list[StatusChange]]:
    return acct.status, acct.status_since, list(acct.history)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def wfc(wf: Workflow, clock: FixedClock) -> Workflow:
    """The ISP workflow reading "now" from a fixed clock."""
    return wf.with_clock(clock)


def active(wf: Workflow, at: dt.datetime = T0) -> Account:
    return wf.open("A-1", "active", at=at, imported=True, payment_method="visa")


# -- records --------------------------------------------------------------------------


def test_first_entry_records_how_the_account_started(wfc: Workflow) -> None:
    """Opening an account records one 'open' entry: status, time, who and why."""
    clerk = Actor("u-7")
    acct = wfc.open("A-1", "prospect", at=T0 - DAY, actor=clerk, reason="web", note="lead")
    (first,) = list(acct.history)
    assert first.is_opening and first.trigger == OPEN
    assert first.source == first.dest == wfc.catalog["prospect"]
    assert (first.at, first.recorded_at, first.actor, first.reason, first.note) == (
        T0 - DAY,
        T0,
        clerk,
        "web",
        "lead",
    )


def test_fired_change_records_from_to_trigger_times_reason_note_actor_effects(
    wfc: Workflow, clock: FixedClock
) -> None:
    """A fired change keeps every fact seed 002's status history shows, and its effects."""
    acct = active(wfc)
    clock.advance(days=3)
    clerk = Actor("u-7")
    change = wfc.fire(acct, "suspend", at=T0 + DAY, reason="late", note="called twice", actor=clerk)
    assert acct.history[-1] is change
    assert (change.source.name, change.dest.name, change.trigger) == (
        "active",
        "suspended",
        "suspend",
    )
    assert (change.at, change.recorded_at) == (T0 + DAY, T0 + 3 * DAY)
    assert (change.reason, change.note, change.actor) == ("late", "called twice", clerk)
    assert {e.kind for e in change.effects} >= {"deprovision", "stop_billing"}
    assert not change.automatic
    record = acct.history.to_records()[-1]
    assert record["recorded_at"] == T0 + 3 * DAY
    assert (record["actor"], record["automatic"], record["note"]) == ("u-7", False, "called twice")


@given(
    scope=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    entity_id=st.text(min_size=1, max_size=12),
    trigger=st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
    rule=st.text(min_size=1, max_size=30),
    before=st.none() | st.text(max_size=20),
)
def test_a_cause_reads_back_from_the_note_it_writes(
    scope: str, entity_id: str, trigger: str, rule: str, before: str | None
) -> None:
    """Whatever the ids and rule labels hold (quotes, parentheses, ": "), the note a cause
    writes, alone or after a hold's own text, gives the same cause back: a store keeps
    only the note."""
    cause = Cause(scope, entity_id, trigger, rule)
    note = str(cause) if before is None else f"{before}: {cause}"
    assert Cause.from_note(note) == cause


def test_a_change_with_a_cause_records_and_exports_it(wf: Workflow) -> None:
    """``cause`` is optional (``None`` by default); given, it is compared, hashed and
    listed in the records; a change that only carries the text in its note gives the
    same cause back and compares equal."""
    acct = active(wf)
    s = acct.history[-1].dest
    cause = Cause("account", "A-1", "cancel", "account cancelled -> subscription cancel")
    plain = StatusChange("SUB-1", s, s, "cancel", T0 + DAY)
    caused = StatusChange("SUB-1", s, s, "cancel", T0 + DAY, note=str(cause), cause=cause)
    read_back = StatusChange("SUB-1", s, s, "cancel", T0 + DAY, note=str(cause))
    assert plain.cause is None and caused.cause == read_back.cause == cause
    assert caused == read_back and hash(caused) == hash(read_back)
    assert caused != StatusChange("SUB-1", s, s, "cancel", T0 + DAY, note=str(cause), cause=Cause(
        "site", "S-1", "cancel", "x"))  # fmt: skip
    records = History([plain, caused]).to_records()
    assert [r["cause"] for r in records] == [None, str(cause)]
    with pytest.raises(InvalidArgument, match=r"Cause\.entity_id"):
        Cause("account", "", "cancel", "rule")


# -- queries --------------------------------------------------------------------------


@pytest.fixture
def lived(wfc: Workflow) -> Account:
    """active at T0, suspended at T0+10d, active again (via back-bill) at T0+12d / +13d."""
    acct = active(wfc)
    wfc.fire(acct, "suspend", at=T0 + 10 * DAY, actor=Actor("u-1"))
    wfc.fire(acct, "reinstate_back", at=T0 + 12 * DAY, actor=SYSTEM)
    wfc.fire(acct, "complete_reinstatement", at=T0 + 13 * DAY, balance=Decimal("0"))
    return acct


def test_status_at_any_instant(lived: Account) -> None:
    """Before the first entry: None; a change is in force from its effective instant."""
    h = lived.history
    assert h.status_at(T0 - dt.timedelta(seconds=1)) is None
    assert [
        s.name if (s := h.status_at(t)) else None
        for t in [T0, T0 + 10 * DAY - dt.timedelta(microseconds=1), T0 + 10 * DAY, T0 + 99 * DAY]
    ] == ["active", "active", "suspended", "active"]


def test_status_at_refuses_naive_instants(lived: Account) -> None:
    """A naive instant cannot be placed on the timeline and is refused."""
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        lived.history.status_at(dt.datetime(2026, 1, 6))


def test_between_is_half_open(lived: Account) -> None:
    """``between(start, end)`` includes changes at ``start`` and excludes those at ``end``."""
    triggers = [c.trigger for c in lived.history.between(T0 + 10 * DAY, T0 + 13 * DAY)]
    assert triggers == ["suspend", "reinstate_back"]
    assert lived.history.between(T0 + 14 * DAY, T0 + 20 * DAY) == []


def test_time_in_status_sums_per_status_within_a_window(lived: Account) -> None:
    """Time per status adds up to the window, and a window start cuts earlier time off."""
    h = lived.history
    spent = h.time_in_status(T0 + 20 * DAY)
    assert spent == {
        "active": 10 * DAY + 7 * DAY,
        "suspended": 2 * DAY,
        "reinstated_back_bill": DAY,
    }
    assert sum(spent.values(), dt.timedelta()) == 20 * DAY
    window = h.time_in_status(T0 + 12 * DAY, since=T0 + 9 * DAY)
    assert window == {"active": DAY, "suspended": 2 * DAY}


def test_by_actor_answers_who_did_what(lived: Account) -> None:
    """Changes are found by the id of the actor who made them."""
    assert [c.trigger for c in lived.history.by_actor("u-1")] == ["suspend"]
    assert [c.trigger for c in lived.history.by_actor(SYSTEM.id)] == ["reinstate_back"]
    assert lived.history.by_actor("nobody") == []


@pytest.mark.parametrize(
    ("tz", "instant_utc", "local_day"),
    [
        # 23:30 on 7 March in New York (EST): still the 7th there.
        ("America/New_York", dt.datetime(2026, 3, 8, 4, 30, tzinfo=UTC), dt.date(2026, 3, 7)),
        # 23:30 on 8 March (EDT, after spring forward): the 8th, a 23-hour day.
        ("America/New_York", dt.datetime(2026, 3, 9, 3, 30, tzinfo=UTC), dt.date(2026, 3, 8)),
        # 00:30 on 29 March in Berlin (CET), the day the clocks spring forward.
        ("Europe/Berlin", dt.datetime(2026, 3, 28, 23, 30, tzinfo=UTC), dt.date(2026, 3, 29)),
        # 23:30 on 25 October in Berlin (CET, after fall back): the 25-hour day.
        ("Europe/Berlin", dt.datetime(2026, 10, 25, 22, 30, tzinfo=UTC), dt.date(2026, 10, 25)),
    ],
)
def test_changes_on_uses_the_billing_time_zone_across_dst(
    wf: Workflow, tz: str, instant_utc: dt.datetime, local_day: dt.date
) -> None:
    """A change belongs to the customer's calendar day, not UTC's, also on DST days."""
    acct = wf.open("A-1", "active", at=dt.datetime(2026, 1, 1, tzinfo=UTC), imported=True)
    wf.fire(acct, "suspend", at=instant_utc)
    assert [c.trigger for c in acct.history.changes_on(local_day, tz)] == ["suspend"]
    for other in (local_day - DAY, local_day + DAY):
        assert acct.history.changes_on(other, tz) == []
    if instant_utc.date() != local_day:
        assert acct.history.changes_on(instant_utc.date(), tz) == []


# -- back-dating ----------------------------------------------------------------------


def test_back_dated_change_is_kept_in_effective_time_order(
    wfc: Workflow, clock: FixedClock
) -> None:
    """A change recorded late but effective after the latest one goes in order, both times kept."""
    acct = active(wfc)
    wfc.fire(acct, "suspend", at=T0 + DAY)
    clock.set(T0 + 30 * DAY)
    change = wfc.fire(acct, "reinstate_back", at=T0 + 5 * DAY)  # back-dated 25 days
    assert change.recorded_at is not None and change.recorded_at - change.at == 25 * DAY
    assert [c.at for c in acct.history] == sorted(c.at for c in acct.history)
    assert acct.history.status_at(T0 + 6 * DAY) == wfc.catalog["reinstated_back_bill"]


def test_back_dated_change_contradicting_a_later_one_is_refused(wfc: Workflow) -> None:
    """Back-dating before the latest recorded change is refused, naming both times; nothing changes."""
    acct = active(wfc)
    wfc.fire(acct, "suspend", at=T0 + 10 * DAY)
    before = snapshot(acct)
    with pytest.raises(
        HistoryConflict, match=r"effective 2026-01-10T09:00:00\+00:00: .* 2026-01-15"
    ) as info:
        wfc.fire(acct, "reinstate_back", at=T0 + 5 * DAY)
    assert (info.value.at, info.value.latest) == (T0 + 5 * DAY, T0 + 10 * DAY)
    assert snapshot(acct) == before


def test_history_append_refuses_contradictions_and_broken_chains(wf: Workflow) -> None:
    """The history itself refuses an earlier change or one that does not start where it ends."""
    active_, suspended = wf.catalog["active"], wf.catalog["suspended"]
    h = History([StatusChange("A-1", active_, active_, OPEN, T0)])
    h.append(StatusChange("A-1", active_, suspended, "suspend", T0 + DAY))
    before = list(h)
    with pytest.raises(HistoryConflict, match="back-dated only to after the latest"):
        h.append(StatusChange("A-1", suspended, active_, "x", T0))
    with pytest.raises(InvalidArgument, match="the status the history ends in, 'suspended'"):
        h.append(StatusChange("A-1", active_, suspended, "suspend", T0 + 2 * DAY))
    with pytest.raises(InvalidArgument, match="a StatusChange"):
        h.append("suspend")  # type: ignore[arg-type]
    assert list(h) == before


def test_history_orders_by_real_time_in_the_repeated_hour(wf: Workflow) -> None:
    """When the clocks fall back, 01:10 EST (second pass) is after 01:50 EDT (first pass)."""
    ny = ZoneInfo("America/New_York")
    first_pass = dt.datetime(2026, 11, 1, 1, 50, tzinfo=ny, fold=0)  # 05:50 UTC
    second_pass = dt.datetime(2026, 11, 1, 1, 10, tzinfo=ny, fold=1)  # 06:10 UTC
    a, s = wf.catalog["active"], wf.catalog["suspended"]
    h = History([StatusChange("A-1", a, a, OPEN, first_pass)])
    h.append(StatusChange("A-1", a, s, "suspend", second_pass))
    assert h.status_at(dt.datetime(2026, 11, 1, 6, 0, tzinfo=UTC)) == a
    assert h.status_at(dt.datetime(2026, 11, 1, 6, 10, tzinfo=UTC)) == s
    g = History([StatusChange("A-1", a, a, OPEN, second_pass)])
    with pytest.raises(HistoryConflict):
        g.append(StatusChange("A-1", a, s, "suspend", first_pass))


# -- ScheduledChange values -----------------------------------------------------------


def test_scheduled_change_refuses_naive_times_and_bad_types() -> None:
    """The value type itself refuses naive datetimes and wrongly typed fields."""
    with pytest.raises(InvalidArgument, match=r"ScheduledChange\.at"):
        ScheduledChange("S", "A-1", "suspend", dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidArgument, match=r"ScheduledChange\.actor"):
        ScheduledChange("S", "A-1", "suspend", T0, actor="u-7")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"ScheduledChange\.id: got 5; expected a str"):
        ScheduledChange(5, "A-1", "suspend", T0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"ScheduledChange\.data"):
        ScheduledChange("S", "A-1", "suspend", T0, data=5)  # type: ignore[arg-type]


def test_scheduled_change_settles_once() -> None:
    """Settling gives a new value; a settled change cannot be settled again."""
    sc = ScheduledChange("S", "A-1", "suspend", T0, data={"b": 1, "a": 2})
    assert sc.data == (("a", 2), ("b", 1)) and sc.kwargs == {"a": 2, "b": 1}
    done = sc.settle(ScheduleState.APPLIED, at=T0, detail="k")
    assert (sc.state, done.state, done.settled_at) == (
        ScheduleState.PENDING,
        ScheduleState.APPLIED,
        T0,
    )
    with pytest.raises(InvalidArgument, match=r"pending scheduled change \(this one is applied"):
        done.settle(ScheduleState.FAILED, at=T0)
    with pytest.raises(InvalidArgument, match="applied, failed or withdrawn"):
        sc.settle(ScheduleState.PENDING, at=T0)


# -- properties -----------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["fire", "backdate", "schedule", "apply", "contradict"]),
        st.integers(0, 10_000),  # picks a trigger
        st.integers(0, 72),  # hours
        st.booleans(),  # whether guards' data lets them pass
    ),
    max_size=25,
)


def replay(history: History, at: dt.datetime) -> str | None:
    """The status at ``at`` by walking the history from the start (the slow way)."""
    status = None
    for c in history:
        if c.at.astimezone(UTC) <= at.astimezone(UTC):
            assert status is None or c.source.name == status
            status = c.dest.name
    return status


@given(ops=OPS)
def test_random_histories_stay_ordered_and_agree_with_replay(ops: list[Any]) -> None:
    """Fired, back-dated and scheduled changes in any order keep the history ordered and
    chained, refusals change nothing, status_at agrees with replaying, and applying the
    due changes again changes nothing."""
    clock = FixedClock(T0)
    wf = isp.workflow().with_clock(clock)
    acct = wf.open("A-1", "active", at=T0, imported=True)
    book = Schedule(wf)
    for kind, pick, step, generous in ops:
        data: dict[str, Any] = {
            "balance": Decimal("0") if generous else Decimal("5"),
            "payment_method": "visa" if generous else None,
            "period_end": T0 if generous else T0 + 9999 * DAY,
        }
        allowed = wf.table.allowed.get(acct.status, ())
        latest = acct.history[-1].at
        before = snapshot(acct)
        try:
            if kind == "apply":
                clock.advance(dt.timedelta(hours=step))
                wf_now = clock.now()
                book.apply_due(wf_now)
                again = snapshot(acct), book.entries
                assert len(book.apply_due(wf_now)) == 0
                assert (snapshot(acct), book.entries) == again
                continue
            if not allowed:
                continue
            trigger = allowed[pick % len(allowed)]
            if kind == "fire":
                clock.advance(dt.timedelta(hours=step))
                wf.fire(acct, trigger, at=clock.now(), **data)
            elif kind == "backdate":
                clock.advance(dt.timedelta(hours=step + 1))
                wf.fire(acct, trigger, at=latest + (clock.now() - latest) / 2, **data)
            elif kind == "schedule":
                book.add(acct, trigger, at=clock.now() + dt.timedelta(hours=step), **data)
            else:  # contradict: effective before the latest change
                with pytest.raises(HistoryConflict):
                    wf.fire(acct, trigger, at=latest - dt.timedelta(hours=step + 1), **data)
        except AcctStateError:
            assert snapshot(acct) == before
        h = acct.history
        times = [c.at.astimezone(UTC) for c in h]
        assert times == sorted(times)
        assert all(b.source == a.dest for a, b in zip(h, list(h)[1:], strict=False))
        assert acct.status == h[-1].dest.code and acct.status_since == h[-1].at
        for c in h:
            for t in (c.at, c.at - dt.timedelta(microseconds=1), c.at + dt.timedelta(minutes=30)):
                found = h.status_at(t)
                assert (found.name if found else None) == replay(h, t)
    keys = {c.key for c in acct.history}
    for e in book:
        if e.state is ScheduleState.APPLIED:
            assert e.detail in keys
        elif e.state is ScheduleState.FAILED:
            assert e.detail and ": " in e.detail
    total = sum(acct.history.time_in_status(clock.now() + DAY).values(), dt.timedelta())
    assert total == clock.now() + DAY - T0
