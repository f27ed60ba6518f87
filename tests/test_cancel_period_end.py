"""A period-end cancellation requested through ``CancelOption`` ends by itself.

``CancelOption("period_end").request(period=...)`` records when service ends
(``Cancellation.ends``); firing it schedules ``complete_cancelation`` at that instant with
the end as event data, so the ``period_ended`` guard reads what the request recorded.
A ``Period`` in event data is kept by every store (the stores' JSON codec).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from acctstate.errors import GuardRefused, InvalidArgument
from acctstate.presets import isp
from acctstate.refunds import CANCEL_OPTIONS, CancelOption, Period
from acctstate.schedule import Schedule
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore
from acctstate.world.store._codec import data_from, data_json

UTC = dt.UTC
WF = isp.workflow()
JANUARY = Period(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC))
CALL = dt.datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
SEC = dt.timedelta(seconds=1)


def _active(account_id: str = "A-1", **facts: Any) -> Any:
    return WF.open(account_id, "active", at=dt.datetime(2025, 6, 1, tzinfo=UTC), imported=True,
                   **facts)  # fmt: skip


def test_request_records_the_end_of_service() -> None:
    """The request carries the period's end; its completion is ``complete_cancelation``
    at that instant with ``period_end`` as event data."""
    request = CANCEL_OPTIONS["period_end"].request(at=CALL, period=JANUARY)
    assert request.trigger == "request_cancelation" and request.ends == JANUARY.end
    end = request.completion()
    assert (end.trigger, end.at, end.data) == (
        "complete_cancelation",
        JANUARY.end,
        {"period_end": JANUARY.end},
    )
    # Other options stop service now or on a date: they have no end to schedule.
    now = CANCEL_OPTIONS["immediately_no_refund"].request(at=CALL, period=JANUARY)
    assert now.ends is None
    with pytest.raises(InvalidArgument, match="period_end"):
        now.completion()


def test_a_period_end_cancellation_ends_by_itself() -> None:
    """Fired, the request leaves the account provisioned in ``cancelation_pending`` and
    schedules the end; ``apply_due`` before the period end changes nothing, at the period
    end the account is canceled: the account itself never held a ``period_end``."""
    book = Schedule(WF)
    acct = _active()
    assert acct.period_end is None
    request = CANCEL_OPTIONS["period_end"].request(at=CALL, period=JANUARY)
    change = request.fire(WF, acct, book=book)
    assert change.dest.name == "cancelation_pending"
    [pending] = book.pending(acct)
    assert (pending.trigger, pending.at) == ("complete_cancelation", JANUARY.end)
    assert pending.kwargs == {"period_end": JANUARY.end}
    book.apply_due(JANUARY.end - SEC)
    assert WF.status_of(acct).name == "cancelation_pending"
    book.apply_due(JANUARY.end)
    assert WF.status_of(acct).name == "canceled"
    assert acct.history[-1].trigger == "complete_cancelation"
    assert acct.history[-1].at == JANUARY.end


def test_completion_reads_the_recorded_end_not_the_accounts() -> None:
    """The account's own ``period_end`` moving later (a renewal recorded in the host)
    does not keep the requested cancellation from ending when the request said; the
    recorded end is what the guard reads."""
    book = Schedule(WF)
    acct = _active(period_end=JANUARY.end)
    CANCEL_OPTIONS["period_end"].request(at=CALL, period=JANUARY).fire(WF, acct, book=book)
    acct.period_end = JANUARY.end + dt.timedelta(days=28)
    result = book.apply_due(JANUARY.end)
    assert WF.status_of(acct).name == "canceled", result
    # Fired by hand at the period end without the recorded data, the guard reads the
    # account's (later) period_end and refuses: the recorded end is what made it end.
    other = _active("A-2", period_end=JANUARY.end + dt.timedelta(days=28))
    WF.fire(other, "request_cancelation", at=CALL)
    with pytest.raises(GuardRefused, match="period runs until"):
        WF.fire(other, "complete_cancelation", at=JANUARY.end)


def test_without_a_period_the_accounts_period_end_is_used() -> None:
    """A request without ``period`` ends at the account's ``period_end``."""
    book = Schedule(WF)
    acct = _active(period_end=JANUARY.end)
    CANCEL_OPTIONS["period_end"].request(at=CALL).fire(WF, acct, book=book)
    [pending] = book.pending(acct)
    assert pending.at == JANUARY.end and pending.kwargs == {"period_end": JANUARY.end}


@pytest.mark.parametrize(
    ("period", "facts", "match"),
    [
        (None, {}, "invalid period"),
        (None, {"period_end": CALL - SEC}, "after the request"),
    ],
)
def test_no_known_end_is_refused_and_changes_nothing(
    period: Period | None, facts: dict[str, Any], match: str
) -> None:
    """With no period end known (or one already past), firing is refused before anything
    changes: the account stays active and nothing is scheduled."""
    book = Schedule(WF)
    acct = _active(**facts)
    with pytest.raises(InvalidArgument, match=match):
        CANCEL_OPTIONS["period_end"].request(at=CALL, period=period).fire(WF, acct, book=book)
    assert WF.status_of(acct).name == "active" and len(acct.history) == 1
    assert book.entries == []


def test_a_request_after_the_period_is_refused() -> None:
    """A period-end request whose paid period has already ended is refused when made."""
    with pytest.raises(InvalidArgument, match="ends after the request"):
        CANCEL_OPTIONS["period_end"].request(at=JANUARY.end, period=JANUARY)


def test_a_foreign_book_is_refused_before_firing() -> None:
    """A book of another workflow is refused before the request fires."""
    other = Schedule(isp.workflow().extend(name="other"))
    acct = _active()
    with pytest.raises(InvalidArgument, match="invalid book"):
        CANCEL_OPTIONS["period_end"].request(at=CALL, period=JANUARY).fire(WF, acct, book=other)
    assert WF.status_of(acct).name == "active"


def test_the_default_book_is_the_workflows_own() -> None:
    """Without ``book`` the completion goes to the workflow's own book."""
    wf = isp.workflow()
    acct = wf.open("A-1", "active", at=dt.datetime(2025, 6, 1, tzinfo=UTC), imported=True)
    CancelOption("period_end", "full").request(at=CALL, period=JANUARY, paid=Decimal("31.00")).fire(
        wf, acct
    )
    assert [e.trigger for e in wf.scheduled(acct)] == ["complete_cancelation"]
    wf.apply_due(JANUARY.end)
    assert wf.status_of(acct).name == "canceled"


# -- through the stores: a Period in event data is storable -------------------------------


def _memory() -> MemoryStore:
    return MemoryStore(WF)


def _sqlite() -> SqlStore:
    store = SqlStore(WF, sa.create_engine("sqlite://"))
    store.create_schema()
    return store


@pytest.mark.parametrize("make", [_memory, _sqlite], ids=["memory", "sqlite"])
def test_stores_keep_a_period_and_end_the_cancellation(make: Any) -> None:
    """Through a store: the request fires with a ``Period`` in its event data, its
    completion is scheduled with the period as data and read back equal, and applying
    at the period end cancels the account."""
    store = make()
    store.open("A-1", "active", at=dt.datetime(2025, 6, 1, tzinfo=UTC), imported=True)
    paris = ZoneInfo("Europe/Paris")
    period = Period(dt.datetime(2026, 1, 1, tzinfo=paris), dt.datetime(2026, 2, 1, tzinfo=paris))
    request = CancelOption("period_end", "none").request(at=CALL, period=period)
    store.fire("A-1", request.trigger, at=request.at, **request.data)
    end = request.completion()
    store.schedule("A-1", end.trigger, at=end.at, period=period, **end.data)
    [record] = store.scheduled(account_id="A-1")
    data = dict(record.data)
    assert data["period"] == period  # the same instants, whatever zone they come back in
    assert data["period"].start.astimezone(UTC) == period.start.astimezone(UTC)
    assert data["period_end"].astimezone(UTC) == period.end.astimezone(UTC)
    store.apply_due(at=period.end - SEC)
    assert store.load("A-1").status == WF.catalog["cancelation_pending"].code
    run = store.apply_due(at=period.end)
    assert run.failed == () and store.load("A-1").status == WF.catalog["canceled"].code


@pytest.mark.parametrize("make", [_memory, _sqlite], ids=["memory", "sqlite"])
def test_stores_refuse_the_same_unstorable_data(make: Any) -> None:
    """Event data no backend can keep is refused by every store when scheduled (the
    memory store keeps the SQL store's limits), and nothing is recorded."""
    store = make()
    store.open("A-1", "active", at=dt.datetime(2025, 6, 1, tzinfo=UTC), imported=True)
    with pytest.raises(InvalidArgument, match="invalid thing"):
        store.schedule("A-1", "suspend", at=CALL, thing=object())
    assert store.scheduled() == ()


ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"])


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1)),
    st.integers(1, 10**8),
    ZONES,
    st.integers(0, 1),
)
def test_a_period_round_trips_through_the_codec(
    start: dt.datetime, seconds: int, zone: str, fold: int
) -> None:
    """Encoded and decoded, a period names the same two instants (any zone, ``fold=1``)."""
    tz = ZoneInfo(zone)
    begin = start.replace(tzinfo=tz, fold=fold)
    period = Period(begin, begin + dt.timedelta(seconds=seconds))
    [(name, back)] = data_from(data_json((("period", period),)))
    assert name == "period" and isinstance(back, Period)
    assert back.start.astimezone(UTC) == period.start.astimezone(UTC)
    assert back.end.astimezone(UTC) == period.end.astimezone(UTC)


def test_apply_due_without_now_reads_the_workflows_clock() -> None:
    """``Workflow.apply_due()`` and ``Schedule.apply_due()`` without ``now`` use the
    workflow's clock, as ``at`` does elsewhere: before the period end nothing is due,
    at it the cancellation completes."""
    from acctstate.clock import FixedClock

    before = isp.workflow().with_clock(FixedClock(JANUARY.end - SEC))
    acct = before.open("A-1", "active", at=dt.datetime(2025, 6, 1, tzinfo=UTC), imported=True)
    CANCEL_OPTIONS["period_end"].request(at=CALL, period=JANUARY).fire(before, acct)
    assert before.apply_due().outcomes == ()
    assert before.status_of(acct).name == "cancelation_pending"
    book = Schedule(WF.with_clock(FixedClock(JANUARY.end)))
    other = _active("A-2")
    CANCEL_OPTIONS["period_end"].request(at=CALL, period=JANUARY).fire(book.workflow, other,
                                                                        book=book)  # fmt: skip
    [outcome] = book.apply_due().outcomes
    assert WF.status_of(other).name == "canceled", outcome
