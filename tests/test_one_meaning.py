"""One meaning per fact and per instant, wherever it is read.

* The store's per-account path and its set-based nightly run agree on a missing billing
  time zone: both refuse with ``MissingFact`` (never a silent UTC).
* The daily run schedule (``AutomationPolicy.next_run`` / ``runs``) and the batch date
  filters (``DateRange``) compare instants, and a range of days places each account's
  instant on its own billing calendar: re-expressing an instant in another zone (``fold``
  included) never changes a decision.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from _workflows import hold_workflow
from acctstate.account import Account
from acctstate.automation import (
    AutomationPolicy,
    CreditHold,
    columns_from_accounts,
    reference_ladder,
    sweep,
    sweep_columns,
)
from acctstate.batch import DateRange, Selection, select
from acctstate.errors import InvalidArgument, MissingFact
from acctstate.presets import isp
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore
from acctstate.world.store._schema import UtcDateTime

UTC = dt.UTC
WF = isp.workflow()
NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)
PARIS = ZoneInfo("Europe/Paris")
ZONES = ["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe"]


# -- a missing time zone: the store's two paths agree ------------------------------------

_LATE = {"balance": Decimal("80.00"), "unpaid_invoices": 2}


def _facts() -> dict[str, dict[str, Any]]:
    """A1 has no zone column value, A2 a None zone, A3 a zone; all 65 days late."""
    late = NOW - 65 * DAY
    return {
        "A1": {**_LATE, "oldest_unpaid_at": late},
        "A2": {**_LATE, "oldest_unpaid_at": late, "timezone": None},
        "A3": {**_LATE, "oldest_unpaid_at": late, "timezone": "Europe/Berlin"},
    }


def _sql_store(facts: dict[str, dict[str, Any]], chunk_rows: bool) -> SqlStore:
    engine = sa.create_engine("sqlite://")
    host = sa.MetaData()
    cols = [
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("balance", sa.Numeric(12, 2)),
        sa.Column("unpaid_invoices", sa.Integer),
        sa.Column("oldest_unpaid_at", UtcDateTime),
    ]
    if chunk_rows:
        cols.append(sa.Column("timezone", sa.String))
    customers = sa.Table("customers", host, *cols)
    host.create_all(engine)
    with engine.begin() as conn:
        for i, f in facts.items():
            row = {k: v for k, v in f.items() if k != "timezone" or chunk_rows}
            conn.execute(customers.insert().values(id=i, **row))
    store = SqlStore(WF, engine, facts=customers)
    store.create_schema()
    return store


@pytest.mark.parametrize("with_zone_column", [True, False])
def test_nightly_run_refuses_a_missing_zone_like_the_per_account_path(
    with_zone_column: bool,
) -> None:
    """``SqlStore.run_automation`` (column-wise) and ``MemoryStore.run_automation``
    (per account) report the same accounts as failed with ``MissingFact`` and make the
    same changes; the column-wise path used to count days in UTC for them."""
    facts = _facts()
    if not with_zone_column:
        facts = {i: {k: v for k, v in f.items() if k != "timezone"} for i, f in facts.items()}
    policy = AutomationPolicy(WF, ladder=reference_ladder())
    memory = MemoryStore(WF, facts=facts)
    sql = _sql_store(facts, with_zone_column)
    for store in (memory, sql):
        for i in facts:
            store.open(i, "active", at=NOW - 400 * DAY, imported=True)
    reports = [s.run_automation(policy, now=NOW, chunk=2) for s in (memory, sql)]
    failed = [sorted(i for i, _ in r.failed) for r in reports]
    zoned = ["A3"] if with_zone_column else []
    expected = sorted(set(facts) - set(zoned))
    assert failed == [expected, expected]
    assert all("MissingFact" in why and "timezone" in why for r in reports for _, why in r.failed)
    assert [r.changed for r in reports] == [len(zoned)] * 2
    states = [[(a.id, a.status, a.version) for a in s.accounts()] for s in (memory, sql)]
    assert states[0] == states[1]
    assert [i for i, code, _ in states[1] if code != 1] == zoned


# -- the daily run schedule compares instants --------------------------------------------


def test_next_run_is_strictly_after_an_instant_written_with_fold() -> None:
    """On the night Paris clocks go back, 02:15 the second time (``fold=1``, 01:15 UTC)
    is after that night's 02:30 run (the first 02:30, 00:30 UTC): the next run is the
    following night's. Compared by wall time, the earlier run used to come back."""
    policy = AutomationPolicy(WF, run_at=dt.time(2, 30), timezone="Europe/Paris")
    after = dt.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=PARIS)
    run = policy.next_run(after)
    assert run.astimezone(UTC) > after.astimezone(UTC)
    assert run.astimezone(UTC) == dt.datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    assert policy.next_run(after.astimezone(UTC)) == run


def _rewrite(at: dt.datetime, zone: str) -> dt.datetime:
    """The same instant written in ``zone`` (with ``fold`` as the zone needs it)."""
    return at.astimezone(ZoneInfo(zone))


@settings(max_examples=150, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 1, 1)),
    st.integers(0, 1),
    st.sampled_from(ZONES),
    st.sampled_from(ZONES),
    st.sampled_from(ZONES),
    st.times(),
    st.integers(0, 5 * 24),
)
def test_run_schedule_is_the_same_for_every_writing(
    local: dt.datetime,
    fold: int,
    written: str,
    other: str,
    operator: str,
    run_at: dt.time,
    hours: int,
) -> None:
    """``next_run`` and ``runs`` give the same instants for any writing of ``after`` /
    ``start`` / ``end`` (any zone, ``fold=1`` in the hour clocks go back, UTC), and each
    run is strictly after ``after``."""
    policy = AutomationPolicy(WF, run_at=run_at.replace(tzinfo=None), timezone=operator)
    after = local.replace(tzinfo=ZoneInfo(written), fold=fold)
    end = after + dt.timedelta(hours=hours)
    run = policy.next_run(after).astimezone(UTC)
    assert run > after.astimezone(UTC)
    for zone in (other, "UTC"):
        assert policy.next_run(_rewrite(after, zone)).astimezone(UTC) == run
    runs = [r.astimezone(UTC) for r in policy.runs(after, end)]
    again = [r.astimezone(UTC) for r in policy.runs(_rewrite(after, other), _rewrite(end, other))]
    assert runs == again
    assert all(after.astimezone(UTC) < r <= end.astimezone(UTC) for r in runs)


# -- batch date filters -----------------------------------------------------------------


def _card(i: str, activated: dt.datetime, tz: str | None) -> Account:
    return Account(id=i, status=1, activated_at=activated, timezone=tz)


def test_a_range_of_days_reads_each_accounts_billing_calendar() -> None:
    """``DateRange`` of dates selects by the calendar day of the account's billing time
    zone: 03:00 UTC on 1 February is still January in Los Angeles, February in Paris."""
    at = dt.datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
    cards = [_card("LA", at, "America/Los_Angeles"), _card("PA", at, "Europe/Paris")]
    january = Selection(activated=DateRange(start=dt.date(2026, 1, 1), end=dt.date(2026, 2, 1)))
    assert [a.id for a in select(WF, cards, january).accounts] == ["LA"]


def test_a_range_of_instants_ignores_wall_times() -> None:
    """An instant written with ``fold=1`` is compared as the instant it is: 02:15 the
    second time in Paris is after 02:30 the first time."""
    first = dt.datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)
    later = dt.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=PARIS)
    r = DateRange(start=first)
    assert r.contains(later) and r.contains(later.astimezone(UTC))
    assert not DateRange(end=first).contains(later)


def test_date_range_refuses_mixed_or_reversed_bounds() -> None:
    """Both bounds days or both instants, end after start; values of another type are
    refused with ``InvalidArgument``."""
    with pytest.raises(InvalidArgument, match="same kind of bound"):
        DateRange(start=dt.date(2026, 1, 1), end=NOW)
    with pytest.raises(InvalidArgument, match="a day after start"):
        DateRange(start=dt.date(2026, 1, 2), end=dt.date(2026, 1, 1))
    with pytest.raises(InvalidArgument, match="an instant after start"):
        DateRange(start=dt.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=PARIS),
                  end=dt.datetime(2026, 10, 25, 2, 30, tzinfo=PARIS))  # fmt: skip
    with pytest.raises(InvalidArgument, match="invalid value"):
        DateRange(start=NOW).contains("2026-01-01")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 1, 1)),
    st.integers(0, 1),
    st.sampled_from(ZONES),
    st.sampled_from(ZONES),
    st.sampled_from([*ZONES, None]),
    st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 1, 1)),
    st.integers(1, 60),
    st.booleans(),
)
def test_selection_is_the_same_for_every_writing(
    local: dt.datetime,
    fold: int,
    written: str,
    other: str,
    billing: str | None,
    start: dt.date,
    days: int,
    by_day: bool,
) -> None:
    """Whether an account is selected by an activation range (of days or of instants)
    does not depend on the zone its instant, or the range's, is written in. An account
    that records no billing zone takes the workflow's default (here UTC); with none, a
    range of days cannot place its instant and ``select`` raises ``MissingFact``."""
    at = local.replace(tzinfo=ZoneInfo(written), fold=fold)
    wf = WF if billing else WF.with_defaults(timezone="UTC")
    if by_day:
        ranges = [DateRange(start=start, end=start + dt.timedelta(days=days))]
    else:
        lo = dt.datetime.combine(start, dt.time(), tzinfo=ZoneInfo(written))
        hi = lo + dt.timedelta(days=days)
        ranges = [DateRange(start=lo, end=hi), DateRange(start=_rewrite(lo, other),
                                                          end=_rewrite(hi, other))]  # fmt: skip
    answers = set()
    for r in ranges:
        for when in (at, _rewrite(at, other), at.astimezone(UTC)):
            card = _card("X", when, billing)
            answers.add(bool(select(wf, [card], Selection(activated=r)).accounts))
            if by_day and billing is None:
                with pytest.raises(MissingFact, match="timezone"):
                    select(WF, [card], Selection(activated=r))
    assert len(answers) == 1
    if by_day:
        tz = ZoneInfo(billing) if billing else UTC
        day = at.astimezone(tz).date()
        assert answers == {start <= day < start + dt.timedelta(days=days)}


# -- every "N days" rule and every due instant, whatever zone the facts are written in --

HOUR = dt.timedelta(hours=1)
# Sunday 25 October 2026 02:30 Paris happens twice; the sweep runs in that hour.
SWEEP_AT = dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
_ISP_POLICY = AutomationPolicy(
    WF,
    ladder=reference_ladder(),
    trial_end="end_trial",
    contract_expiry="expire_contract",
    expiration="deactivate",
    archive="archive",
    archive_after_days=30,
)
_HOLD_POLICY = AutomationPolicy(
    hold_workflow(),
    credit_hold=CreditHold(past_due_days=30, min_past_due=Decimal("100"), inactive_after_days=20),
)
_DATES = (
    "status_since",
    "oldest_unpaid_at",
    "trial_ends_at",
    "contract_ends_at",
    "expires_at",
    "first_used_at",
)


def _near(draw: st.DrawFn, days: int) -> dt.datetime:
    """An instant around a whole number of days before the sweep (where miscounts show)."""
    offset = dt.timedelta(days=draw(st.integers(-days, days)), minutes=draw(st.integers(-90, 90)))
    return SWEEP_AT + offset


def _maybe(draw: st.DrawFn, value: dt.datetime) -> dt.datetime | None:
    return value if draw(st.booleans()) else None


@st.composite
def zoned_books(draw: st.DrawFn) -> tuple[AutomationPolicy, list[Account]]:
    policy = draw(st.sampled_from([_ISP_POLICY, _HOLD_POLICY]))
    codes = [1, 10, 11, 12, 13, 41, -2, 22] if policy is _ISP_POLICY else [1, 7, 0, 30]
    book = []
    for i in range(draw(st.integers(1, 5))):
        book.append(
            Account(
                id=f"Z-{i}",
                status=draw(st.sampled_from(codes)),
                status_since=min(_near(draw, 70), SWEEP_AT),
                timezone=draw(st.sampled_from(ZONES)),
                balance=Decimal(draw(st.sampled_from([25075, 0, 10000]))).scaleb(-2),
                unpaid_invoices=draw(st.integers(0, 3)),
                oldest_unpaid_at=_maybe(draw, min(_near(draw, 70), SWEEP_AT)),
                payment_method=draw(st.sampled_from([None, "visa"])),
                trial_ends_at=_maybe(draw, _near(draw, 2)),
                contract_ends_at=_maybe(draw, _near(draw, 2)),
                expires_at=_maybe(draw, _near(draw, 1)),
                first_used_at=min(_near(draw, 40), SWEEP_AT),
                availability_days=draw(st.none() | st.integers(0, 40)),
            )
        )
    return policy, book


def _written(book: list[Account], zones: list[str]) -> list[Account]:
    """The same book with every datetime re-expressed, the i-th fact in ``zones[i]``."""
    out = []
    for a in book:
        changes = {
            name: _rewrite(getattr(a, name), zones[i % len(zones)])
            for i, name in enumerate(_DATES)
            if getattr(a, name) is not None
        }
        out.append(attrs.evolve(a, **changes))
    return out


def _decisions(policy: AutomationPolicy, book: list[Account], now: dt.datetime) -> Any:
    plan = sweep(book, policy, now=now)
    per_account = sorted(
        (p.account_id, tuple(str(c) for c in p.changes), tuple(str(b) for b in p.blocked))
        for p in plan.plans
    )
    columns = sweep_columns(columns_from_accounts(book), policy, now=now).decisions()
    return per_account, sorted((book[i].id, tuple(map(str, d))) for i, d in columns.items())


@settings(max_examples=120, deadline=None)
@given(
    zoned_books(), st.lists(st.sampled_from(ZONES), min_size=1, max_size=6), st.sampled_from(ZONES)
)
def test_every_rule_decides_the_same_for_every_writing(
    case: tuple[AutomationPolicy, list[Account]], zones: list[str], now_zone: str
) -> None:
    """Credit hold (past-due days, inactive after hold), the ladder, trial end, contract
    and expiration instants, availability after first use and archiving decide the same,
    per account and column-wise, whatever zone each fact and the sweep's ``now`` are
    written in (the sweep runs in the hour Paris clocks go back, so ``fold=1`` occurs)."""
    policy, book = case
    expected = _decisions(policy, book, SWEEP_AT)
    assert _decisions(policy, _written(book, zones), _rewrite(SWEEP_AT, now_zone)) == expected
    assert _decisions(policy, _written(book, ["UTC"]), SWEEP_AT.astimezone(PARIS)) == expected
