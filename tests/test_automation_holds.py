"""The automation places and releases holds: time-bound holds end by themselves, and a
credit hold becomes a hold where the policy says so (placed once past due, released once
paid). The per-account sweep, the column-wise sweep (holds read as columns) and the
stores' ``run_automation`` (MemoryStore, SqlStore on SQLite and PostgreSQL) agree."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import acctstate
from acctstate.automation import (
    AutomationPolicy,
    CreditHold,
    HoldRelease,
    apply,
    columns_from_accounts,
    hold_columns,
    reference_ladder,
    sweep,
    sweep_columns,
)
from acctstate.errors import PolicyError
from acctstate.holds import STANDARD_HOLDS, HoldType, place_hold
from acctstate.presets import isp
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore, UtcDateTime, create_engine
from test_store_sql import needs_pg, pg_engine

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
T0 = NOW - 200 * DAY
WF = isp.workflow().with_holds(STANDARD_HOLDS).with_clock(acctstate.FixedClock(NOW + DAY))
POLICY = AutomationPolicy(
    WF,
    ladder=reference_ladder(),
    archive="archive",
    credit_hold=CreditHold(
        past_due_days=20,
        min_past_due=Decimal("50"),
        hold="credit",
        releases=[HoldRelease("A-0001", NOW - DAY, NOW + DAY)],
    ),
)

host = sa.MetaData()
customers = sa.Table(
    "customers",
    host,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("balance", sa.Numeric(12, 2), nullable=False),
    sa.Column("unpaid_invoices", sa.Integer, nullable=False),
    sa.Column("oldest_unpaid_at", UtcDateTime),
    sa.Column("timezone", sa.String(50)),
    sa.Column("currency", sa.String(3)),
)


def kinds(change: acctstate.StatusChange) -> list[str]:
    return [e.kind for e in change.effects]


# -- policies ------------------------------------------------------------------------


def test_a_policy_placing_a_hold_is_checked_against_the_workflow() -> None:
    """The hold type must be declared, placeable by the policy's actor with its reason,
    and is not combined with moving the account to inactive."""
    fussy = HoldType("credit", kind="credit", blocks="billing", permission="credit_ops")
    with pytest.raises(PolicyError, match=r"\[unknown-hold-type\] credit_hold.hold names"):
        AutomationPolicy(isp.workflow(), credit_hold=CreditHold(past_due_days=5, hold="credit"))
    with pytest.raises(PolicyError) as info:
        AutomationPolicy(
            isp.workflow().with_holds([fussy]),
            credit_hold=CreditHold(past_due_days=5, hold="credit", inactive_after_days=30),
        )
    assert [v.rule for v in info.value.problems] == ["hold-inactive", "hold-permission"]


# -- plain objects -------------------------------------------------------------------


def test_the_automation_places_a_credit_hold_and_releases_it_once_paid() -> None:
    """Past due: the credit hold is placed as a hold (billing and service stop, the status
    stays); paid: it is released and they start again."""
    acct = WF.open(
        "A-1",
        "active",
        at=T0,
        imported=True,
        balance=Decimal("80"),
        unpaid_invoices=1,
        oldest_unpaid_at=NOW - 25 * DAY,
    )
    policy = AutomationPolicy(WF, credit_hold=CreditHold(past_due_days=20, hold="credit"))
    plan = sweep([acct], policy, now=NOW)
    assert [str(c) for c in plan.plans[0].changes] == [
        "credit_hold: credit hold 'credit@20260601T020000Z' [place_hold]"
    ]
    (done,) = apply(plan).results
    assert kinds(done.changes[0]) == ["stop_billing", "stop_usage_billing", "deprovision"]
    assert acct.status == WF.catalog["active"].code
    assert [h.type for h in acct.holds] == ["credit"]
    assert len(sweep([acct], policy, now=NOW + DAY)) == 0  # it stands: nothing more
    acct.balance = Decimal(0)
    (done,) = apply(sweep([acct], policy, now=NOW + DAY)).results
    assert [(c.trigger, c.reason, c.note) for c in done.changes] == [
        (
            "release_hold",
            None,
            "credit hold 'credit@20260601T020000Z': automation: credit_hold_removal",
        )
    ]
    assert kinds(done.changes[0]) == ["provision", "start_billing", "start_usage_billing"]
    assert acct.holds == ()


def test_time_bound_holds_end_with_the_nightly_run() -> None:
    """A hold whose ``until`` has passed is released by the automation (reason
    ``expired``), before the status rules, and only then."""
    acct = WF.open("A-1", "active", at=T0, imported=True)
    place_hold(WF, acct, "vacation", at=T0 + DAY, until=NOW)
    policy = AutomationPolicy(WF, archive="archive")
    assert len(sweep([acct], policy, now=NOW - HOUR)) == 0
    (done,) = apply(sweep([acct], policy, now=NOW)).results
    assert [(c.trigger, c.reason) for c in done.changes] == [("release_hold", "expired")]
    assert acct.holds == ()


# -- random books: every path agrees --------------------------------------------------

STARTS = ["active", "active_dunning_1", "suspended_dunning_2", "suspended", "canceled"]
hold_st = st.tuples(
    st.sampled_from(["credit", "manual", "vacation", "dunning"]),
    st.none() | st.integers(min_value=-5, max_value=5),
)
account_st = st.fixed_dictionaries(
    {
        "start": st.sampled_from(STARTS),
        "balance": st.sampled_from([Decimal("0.00"), Decimal("60.00")])
        | st.decimals(min_value=0, max_value=300, places=2, allow_nan=False),
        "unpaid_invoices": st.integers(min_value=0, max_value=3),
        "late_days": st.none() | st.integers(min_value=0, max_value=90),
        "timezone": st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
        "holds": st.lists(hold_st, max_size=3),
    }
)
book_st = st.lists(account_st, min_size=1, max_size=8)


def facts_of(a: dict[str, Any]) -> dict[str, Any]:
    late = a["late_days"]
    return {
        "balance": a["balance"],
        "unpaid_invoices": a["unpaid_invoices"],
        "oldest_unpaid_at": None if late is None else NOW - late * DAY,
        "timezone": a["timezone"],
        "currency": "EUR",
    }


def holds_of(a: dict[str, Any]) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
    """(type, placed at, until) of the account's holds, placed an hour apart."""
    return [
        (t, T0 + (i + 1) * HOUR, None if end is None else NOW + end * DAY)
        for i, (t, end) in enumerate(a["holds"])
    ]


def plain_book(book: list[dict[str, Any]]) -> list[Any]:
    accounts = []
    for n, a in enumerate(book):
        acct = WF.open(f"A-{n:04d}", a["start"], at=T0, imported=True, **facts_of(a))
        for t, at, until in holds_of(a):
            place_hold(WF, acct, t, at=at, until=until)
        accounts.append(acct)
    return accounts


def load(store: Any, book: list[dict[str, Any]]) -> None:
    for n, a in enumerate(book):
        store.open(f"A-{n:04d}", a["start"], at=T0, imported=True)
        for t, at, until in holds_of(a):
            store.place_hold(f"A-{n:04d}", t, at=at, until=until)
    if isinstance(store, SqlStore):
        with store.engine.begin() as conn:
            conn.execute(
                customers.insert(),
                [{"id": f"A-{n:04d}", **facts_of(a)} for n, a in enumerate(book)],
            )


@given(book=book_st, hours=st.integers(min_value=-30, max_value=30))
def test_the_column_wise_sweep_reads_holds_as_columns_and_agrees(
    book: list[dict[str, Any]], hours: int
) -> None:
    """For random books with standing holds, the column-wise sweep's hold changes and
    status changes are the per-account sweep's, row for row."""
    now = NOW + hours * HOUR
    accounts = plain_book(book)
    plan = sweep(accounts, POLICY, now=now)
    out = sweep_columns(
        columns_from_accounts(accounts),
        POLICY,
        now=now,
        holds=hold_columns(a.holds for a in accounts),
    )
    assert out.holds is not None
    expected_holds: dict[int, list[tuple[str, str, str, str]]] = {}
    expected_status: dict[int, list[tuple[str, str, int, int]]] = {}
    for p in plan:
        row = int(p.account_id[2:])
        for c in p.changes:
            if c.hold is not None:
                expected_holds.setdefault(row, []).append(
                    (c.rule, c.trigger, c.hold, str(c.hold_type))
                )
            else:
                expected_status.setdefault(row, []).append(
                    (c.rule, c.trigger, c.source.code, c.dest.code)
                )
    assert out.holds.decisions() == expected_holds
    assert out.decisions() == expected_status


@contextlib.contextmanager
def sql_store(kind: str) -> Iterator[SqlStore]:
    """An empty SQL store with the host's ``customers`` table as its facts."""
    with contextlib.ExitStack() as stack:
        engine = (
            create_engine("sqlite://") if kind == "sqlite" else stack.enter_context(pg_engine())
        )
        store = SqlStore(WF, engine, facts=customers)
        store.create_schema()
        host.create_all(engine)
        yield store
        if kind == "sqlite":
            engine.dispose()


def shown(history: Any) -> list[tuple[Any, ...]]:
    return [(str(c), c.note, c.reason, c.actor, c.effects) for c in history]


def run_everywhere(kind: str, book: list[dict[str, Any]], chunk: int) -> None:
    accounts = plain_book(book)
    outcome = apply(sweep(accounts, POLICY, now=NOW))
    assert not outcome.failed
    memory = MemoryStore(WF, facts={f"A-{n:04d}": facts_of(a) for n, a in enumerate(book)})
    load(memory, book)
    with sql_store(kind) as sql:
        load(sql, book)
        by_memory = memory.run_automation(POLICY, now=NOW, chunk=chunk)
        by_sql = sql.run_automation(POLICY, now=NOW, chunk=chunk)
        assert by_memory == by_sql
        assert not by_sql.failed
        assert by_sql.changes == outcome.changes
        for acct in accounts:
            for store in (memory, sql):
                assert shown(store.history(acct.id)) == shown(acct.history)
                assert store.holds(acct.id) == acct.holds
                assert store.load(acct.id).status == acct.status
                assert store.load(acct.id).version == len(acct.history) - 1
        again = sql.run_automation(POLICY, now=NOW, chunk=chunk)
        assert again.changes == 0 == memory.run_automation(POLICY, now=NOW).changes
        # Effects follow the effective capability: what the outbox holds was planned.
        keys = {p.key for p in sql.pending()}
        assert keys == {e.key for a in accounts for c in a.history for e in c.effects}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_plain_apply_memory_store_and_sql_store_automate_holds_alike(kind: str) -> None:
    """On random books with holds, the per-account sweep carried out on objects,
    ``MemoryStore.run_automation`` and ``SqlStore.run_automation`` (set-based, holds
    read per chunk) make the same changes, histories, effects, holds and reports; a
    second run changes nothing."""

    @settings(
        max_examples=25 if kind == "sqlite" else 6,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(book=book_st, chunk=st.sampled_from([1, 3, 100]))
    def check(book: list[dict[str, Any]], chunk: int) -> None:
        run_everywhere(kind, book, chunk)

    check()


def test_a_policy_placing_holds_travels_to_distributed_workers() -> None:
    """The policy document carries the hold type a credit hold places, and the
    workflow's hold types: workers build the very same policy."""
    import json

    from acctstate.world.distributed._document import (
        policies_from_document,
        policies_to_document,
    )

    back = policies_from_document(json.loads(json.dumps(policies_to_document([POLICY]))))
    assert back == (POLICY,)
    assert back[0].credit_hold is not None and back[0].credit_hold.hold == "credit"
    assert back[0].workflow.hold_types == WF.hold_types


def test_a_distributed_sweep_refuses_a_policy_placing_holds() -> None:
    """A frame swept in partitions carries no table of holds: a policy placing holds is
    refused at once rather than planned without them."""
    pd = pytest.importorskip("pandas")
    from acctstate.distributed import sweep_frame
    from acctstate.errors import InvalidArgument

    book = pd.DataFrame({"id": ["A-1"], "status": [1]})
    with pytest.raises(InvalidArgument, match="a credit hold that moves the status"):
        sweep_frame(book, POLICY, now=NOW)


def test_a_host_object_whose_holds_are_not_holds_is_an_account_error() -> None:
    """A host object with a ``holds`` attribute of its own (not acctstate holds) is
    reported as that account's error by the sweep, never raised past it."""

    class Host:
        id = "A-1"
        status = WF.catalog["active"].code
        status_since = T0
        holds = ("not a hold",)

    (plan,) = sweep([Host()], POLICY, now=NOW).plans
    assert plan.error is not None and "a tuple of acctstate Hold values" in str(plan.error)
