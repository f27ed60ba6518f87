"""Properties of the sweep: idempotent, safe to interrupt, and the column-wise sweep
decides exactly as the per-account one."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _workflows import hold_workflow
from acctstate.account import Account
from acctstate.automation import (
    RULES,
    AutomationPolicy,
    CreditHold,
    HoldRelease,
    apply,
    columns_from_accounts,
    reference_ladder,
    sweep,
    sweep_columns,
)
from acctstate.errors import InvalidArgument
from acctstate.presets import isp

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)

ISP = isp.workflow()
ISP_POLICY = AutomationPolicy(
    ISP,
    ladder=reference_ladder(),
    trial_end="end_trial",
    contract_expiry="expire_contract",
    expiration="deactivate",
    archive="archive",
)
ISP_CODES = [1, 10, 11, 12, 13, -11, -12, -13, 41, -1, -2, -3, -4, 22, 21, 0, 99, -99, 32]


HOLD = hold_workflow()
HOLD_POLICY = AutomationPolicy(
    HOLD,
    credit_hold=CreditHold(
        past_due_days=30,
        min_past_due=Decimal("100"),
        inactive_after_days=60,
        releases=[
            HoldRelease("A-2", NOW - 2 * 24 * HOUR, NOW + 5 * 24 * HOUR),
            HoldRelease("A-1", NOW - 9 * 24 * HOUR, NOW - 2 * 24 * HOUR),
        ],
    ),
)
HOLD_CODES = [1, 7, 0, -2, 30]


def _maybe_time(lo_hours: int, hi_hours: int) -> st.SearchStrategy[dt.datetime | None]:
    return st.integers(lo_hours, hi_hours).map(lambda h: NOW + h * HOUR) | st.none()


@st.composite
def accounts(draw: st.DrawFn, codes: list[int]) -> list[Account]:
    """A small book: statuses around the rules, facts on both sides of thresholds."""
    out = []
    for i in range(draw(st.integers(1, 8))):
        out.append(
            Account(
                id=f"A-{i}",
                status=draw(st.sampled_from(codes[:2]) | st.sampled_from(codes)),
                status_since=NOW - draw(st.integers(0, 400 * 24)) * HOUR,
                balance=Decimal(draw(st.sampled_from([25075, 0, 1, 9999, 10000]))).scaleb(-2),
                unpaid_invoices=draw(st.integers(0, 4)),
                oldest_unpaid_at=draw(_maybe_time(-120 * 24, 48)),
                payment_method=draw(st.sampled_from([None, "visa"])),
                trial_ends_at=draw(_maybe_time(-48, 48)),
                contract_ends_at=draw(_maybe_time(-48, 48)),
                expires_at=draw(st.none() | _maybe_time(-24, 24)),
                first_used_at=draw(_maybe_time(-60 * 24, 0)),
                availability_days=draw(st.none() | st.integers(0, 90)),
            )
        )
    return out


BOOKS = st.one_of(
    st.tuples(st.just(ISP_POLICY), accounts(ISP_CODES)),
    st.tuples(st.just(HOLD_POLICY), accounts(HOLD_CODES)),
)


def _state(book: list[Account]) -> list[tuple[Any, ...]]:
    return [
        (a.id, a.status, a.status_since, [(c.trigger, c.dest.code, c.at) for c in a.history])
        for a in book
    ]


@given(BOOKS)
def test_second_sweep_at_same_now_changes_nothing(case: tuple[AutomationPolicy, Any]) -> None:
    """After sweep + apply, a sweep at the same instant plans no change at all."""
    policy, book = case
    outcome = apply(sweep(book, policy, now=NOW))
    assert not outcome.failed
    after = _state(book)
    again = sweep(book, policy, now=NOW)
    assert again.changes == 0
    assert apply(again).changes == 0
    assert _state(book) == after


@given(BOOKS, st.data())
def test_interrupted_sweep_rerun_reaches_same_end(
    case: tuple[AutomationPolicy, Any], data: st.DataObject
) -> None:
    """Stopping part-way (between accounts or inside a ladder walk) and sweeping again
    at the same instant ends exactly where one uninterrupted run ends."""
    policy, book = case
    whole = copy.deepcopy(book)
    apply(sweep(whole, policy, now=NOW))

    plan = sweep(book, policy, now=NOW)
    cut = data.draw(st.integers(0, len(plan.plans)), label="accounts done")
    partial = list(plan.plans[:cut])
    if cut < len(plan.plans):
        nxt = plan.plans[cut]
        steps = data.draw(st.integers(0, len(nxt.changes)), label="steps of the next")
        partial.append(attrs.evolve(nxt, changes=nxt.changes[:steps]))
    apply(partial)
    apply(sweep(book, policy, now=NOW))
    assert _state(book) == _state(whole)


def _per_account(plan: Any, book: list[Account]) -> tuple[dict[int, Any], dict[int, Any], set[int]]:
    index = {a.id: i for i, a in enumerate(book)}
    changes: dict[int, Any] = {}
    blocked: dict[int, Any] = {}
    errors: set[int] = set()
    for p in plan:
        i = index[p.account_id]
        if p.error is not None:
            errors.add(i)
        if p.changes:
            changes[i] = [(c.rule, c.trigger, c.source.code, c.dest.code) for c in p.changes]
        if p.blocked:
            blocked[i] = [(b.rule, b.trigger) for b in p.blocked]
    return changes, blocked, errors


@given(BOOKS, st.integers(-3 * 24, 3 * 24))
def test_columnar_sweep_decides_as_per_account(
    case: tuple[AutomationPolicy, Any], shift: int
) -> None:
    """Same changes (rule, trigger, from, to) in the same order, same refusals, same end
    status, for every account."""
    policy, book = case
    now = NOW + shift * HOUR
    changes, blocked, errors = _per_account(sweep(book, policy, now=now), book)
    out = sweep_columns(columns_from_accounts(book), policy, now=now)
    assert out.decisions() == changes
    assert out.refusals() == blocked
    assert set(out.error_row.tolist()) == errors
    ends = [changes[i][-1][3] if i in changes else a.status for i, a in enumerate(book)]
    assert out.status.tolist() == ends


def test_columnar_sweep_reads_pandas_with_aware_dates() -> None:
    """A DataFrame with timezone-aware columns gives the same answer as the arrays."""
    book = [
        Account(
            id=f"A-{d}",
            status=1,
            balance=Decimal("80.00"),
            unpaid_invoices=1,
            oldest_unpaid_at=NOW - dt.timedelta(days=d),
        )
        for d in (0, 1, 20, 61)
    ]
    cols = columns_from_accounts(book)
    frame = pd.DataFrame(
        {
            "id": cols["id"],
            "status": cols["status"],
            "balance": cols["balance"],
            "unpaid_invoices": cols["unpaid_invoices"],
            "oldest_unpaid_at": pd.to_datetime(cols["oldest_unpaid_at"]).tz_localize("UTC"),
        }
    )
    out = sweep_columns(frame, ISP_POLICY, now=NOW)
    assert out.status.tolist() == [1, 10, 11, -11]
    table = out.to_frame(ids=frame["id"])
    assert table.groupby("id").size().to_dict() == {"A-1": 1, "A-20": 2, "A-61": 5}
    assert set(table["rule"]) == {"dunning"}


def test_columnar_sweep_refuses_float_money_and_naive_dates() -> None:
    """Float balances and naive pandas datetimes are refused, naming the column."""
    with pytest.raises(InvalidArgument, match="float money is refused"):
        sweep_columns({"status": np.array([1]), "balance": np.array([1.5])}, ISP_POLICY, now=NOW)
    naive = pd.DataFrame({"status": [1], "status_since": pd.to_datetime(["2026-01-01"])})
    with pytest.raises(InvalidArgument, match="naive is refused"):
        sweep_columns(naive, ISP_POLICY, now=NOW)


def test_columnar_rules_counted_by_rule() -> None:
    """by_rule counts planned transitions per rule, in rule order."""
    cols = {
        "status": np.array([41, 12, -2], dtype=np.int16),
        "payment_method": np.array([True, False, False]),
        "balance": np.zeros(3, dtype=np.int32),
        "trial_ends_at": np.array(["2026-05-01", "NaT", "NaT"], dtype="datetime64[s]"),
        "status_since": np.array(["2026-05-01", "2026-05-01", "2025-01-01"], "datetime64[s]"),
    }
    out = sweep_columns(cols, ISP_POLICY, now=NOW)
    assert out.by_rule() == {"trial_end": 1, "dunning_clear": 1, "archive": 1}
    assert list(out.by_rule()) == [r for r in RULES if r in out.by_rule()]
    assert out.status.tolist() == [1, 1, -99]


# -- issue 13: calendar days in each account's billing time zone, on both paths -----------

_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@st.composite
def zoned_books(draw: st.DrawFn) -> tuple[AutomationPolicy, list[Account]]:
    """A book whose accounts live in several billing time zones, facts near day edges."""
    policy, book = draw(BOOKS)
    for a in book:
        a.timezone = draw(st.sampled_from(_ZONES))
    return policy, book


@given(zoned_books(), st.integers(-3 * 24, 3 * 24))
def test_columnar_sweep_counts_days_in_each_billing_zone(
    case: tuple[AutomationPolicy, Any], shift: int
) -> None:
    """With accounts in several zones, the column-wise sweep still decides exactly as the
    per-account one (both count calendar days in each account's zone)."""
    policy, book = case
    now = NOW + shift * HOUR
    changes, blocked, errors = _per_account(sweep(book, policy, now=now), book)
    out = sweep_columns(columns_from_accounts(book), policy, now=now)
    assert out.decisions() == changes
    assert out.refusals() == blocked
    assert set(out.error_row.tolist()) == errors


@given(
    st.lists(
        st.tuples(
            st.sampled_from([*_ZONES, "Pacific/Chatham", "America/Los_Angeles"]),
            st.integers(-400 * 24 * 60, 400 * 24 * 60),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_book_local_days_match_calendar_days(rows: list[tuple[str, int]]) -> None:
    """The column book's local day numbers are the per-account calendar days, row by row."""
    from acctstate.clock import calendar_days
    from acctstate.operations.automation._book import _Book, _ns

    instants = [NOW + m * dt.timedelta(minutes=1) for _, m in rows]
    book = _Book(
        {
            "status": np.ones(len(rows), dtype=np.int64),
            "timezone": np.array([z for z, _ in rows], dtype=object),
        },
        2,
    )
    days = book.local_days(np.array([_ns(t) for t in instants], dtype=np.int64))
    epoch_day = dt.date(1970, 1, 1)
    assert days.tolist() == [
        calendar_days(epoch_day, t, z) for (z, _), t in zip(rows, instants, strict=True)
    ]


def test_sweep_columns_in_threaded_chunks_answers_as_one_pass() -> None:
    """Chunks swept on threads and joined give every array of the one-thread sweep."""
    rng = np.random.default_rng(5)
    n = 997
    now = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
    now_ns = int(np.datetime64("2026-06-01T02:00:00", "ns").astype(np.int64))
    day = 86_400 * 10**9
    late = rng.integers(-5, 120, size=n)
    owes = rng.random(n) < 0.4
    cols = {
        "status": rng.choice(np.array([1, 10, 11, 12, 13, -11, -12, -13, 41, -1, -2]), size=n),
        "balance": np.where(owes, rng.integers(1, 50_000, size=n), 0),
        "unpaid_invoices": np.where(owes, 2, 0),
        "payment_method": rng.random(n) < 0.7,
        "oldest_unpaid_at": np.where(owes, now_ns - late * day, np.iinfo(np.int64).min).view(
            "datetime64[ns]"
        ),
        "status_since": (now_ns - rng.integers(0, 400, size=n) * day).view("datetime64[ns]"),
        "trial_ends_at": (now_ns + rng.integers(-10, 10, size=n) * day).view("datetime64[ns]"),
    }
    policy = AutomationPolicy(
        isp.workflow(), ladder=reference_ladder(), trial_end="end_trial", archive="archive"
    )
    one = sweep_columns(cols, policy, now=now, workers=1)
    three = sweep_columns(cols, policy, now=now, workers=3)
    assert len(one) > 0 and len(one.blocked_row) > 0
    for name in attrs.fields_dict(type(one)):
        a, b = getattr(one, name), getattr(three, name)
        assert (np.array_equal(a, b) and a.dtype == b.dtype) if hasattr(a, "dtype") else a == b


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["visa", None, np.nan], dtype=object),
        pd.Series(["visa", None, None], dtype="string"),
        pd.Series(["visa", pd.NA, None], dtype=object),
        pd.Series(["visa", None, np.nan]),  # pandas' default string dtype
    ],
    ids=["object", "string", "object-NA", "default"],
)
def test_columnar_sweep_reads_any_missing_marker_as_no_value(column: pd.Series) -> None:
    """A missing payment method is missing whether the frame marks it None, NaN or <NA>:
    the trial of those accounts does not end as if a card were on file."""
    frame = pd.DataFrame(
        {
            "status": [41, 41, 41],
            "payment_method": column,
            "trial_ends_at": pd.to_datetime(["2026-05-01"] * 3, utc=True),
        }
    )
    out = sweep_columns(frame, ISP_POLICY, now=NOW)
    plain = sweep_columns(
        {
            "status": np.array([41, 41, 41]),
            "payment_method": np.array([True, False, False]),
            "trial_ends_at": np.array(["2026-05-01"] * 3, dtype="datetime64[ns]"),
        },
        ISP_POLICY,
        now=NOW,
    )
    assert out.decisions() == plain.decisions()
    assert out.status.tolist() == plain.status.tolist()
    assert out.status[1] == out.status[2] != out.status[0]


FIELD_POLICY = attrs.evolve(HOLD_POLICY, account_class="field")


@given(accounts(ISP_CODES), accounts(HOLD_CODES), st.integers(-3 * 24, 3 * 24))
def test_columnar_sweep_of_two_classes_in_threaded_chunks_decides_as_per_account(
    isp_book: list[Account], field_book: list[Account], shift: int
) -> None:
    """Two account classes under two policies (their changes are merged by row, not laid
    out round by round), unknown codes among them, and chunks on threads: the same
    decisions, refusals, errors and end statuses as the per-account sweep."""
    book = [attrs.evolve(a, id=f"B-{i}") for i, a in enumerate(isp_book)]
    book += [attrs.evolve(a, account_class="field") for a in field_book]
    book = [book[i] for i in np.random.default_rng(len(book)).permutation(len(book))]
    now = NOW + shift * HOUR
    policies = [ISP_POLICY, FIELD_POLICY]
    changes, blocked, errors = _per_account(sweep(book, policies, now=now), book)
    for workers in (1, 3):
        out = sweep_columns(columns_from_accounts(book), policies, now=now, workers=workers)
        assert out.decisions() == changes
        assert out.refusals() == blocked
        assert set(out.error_row.tolist()) == errors
        ends = [changes[i][-1][3] if i in changes else a.status for i, a in enumerate(book)]
        assert out.status.tolist() == ends
