"""The batch update against stored accounts: ``store.select`` / ``preview`` / ``apply_batch``.

Pinned here: on random books, ``acctstate.batch`` on plain accounts, ``MemoryStore`` and
``SqlStore`` (SQLite, and PostgreSQL under the postgres marker) select the same accounts
with the same counts (computed in SQL), preview the same plans and apply with the same
outcome per account, leaving the same statuses, history rows and outbox rows; applying
again changes nothing; a field change is refused before anything is read; an account
changed since the preview is refused; an all-or-nothing batch with one refusal writes
nothing; the caller's connection holds the writes. Accounts may carry a standing hold
(placed on the objects and in the stores alike): a store batch plans with it as
``acctstate.batch`` does on the objects.
"""

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
from acctstate import batch
from acctstate.batch import ChangeStatus, FireTrigger, Mode, OutcomeKind, Selection
from acctstate.errors import InvalidArgument
from acctstate.holds import STANDARD_HOLDS, place_hold
from acctstate.presets import isp
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore, UtcDateTime, create_engine
from test_store_sql import needs_pg, pg_engine

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
AT = T0 + 200 * DAY
WF = isp.workflow().with_holds(STANDARD_HOLDS).with_clock(acctstate.FixedClock(AT + DAY))
CLERK = acctstate.Actor("u-7", permissions={"place_fraud_hold"})

host = sa.MetaData()
customers = sa.Table(
    "customers",
    host,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("balance", sa.Numeric(12, 2), nullable=False),
    sa.Column("payment_method", sa.String(20)),
    sa.Column("account_class", sa.String(20)),
    sa.Column("timezone", sa.String(50)),
    sa.Column("currency", sa.String(3)),
    sa.Column("period_end", UtcDateTime),
    sa.Column("batch_id", sa.String(20)),
    sa.Column("first_used_at", UtcDateTime),
    sa.Column("funds", sa.Numeric(12, 2)),
)
FACTS = [c.key for c in customers.c if c.key != "id"]

STATUSES = [
    "active",
    "inactive",
    "suspended",
    "canceled",
    "active_dunning_1",
    "active_trial",
    "registered_pending_activation",
    "cancelation_pending",
    "terminated",
    "temporary_ban",
]
TRIGGERS = ["suspend", "cancel", "activate", "archive", "settle", "end_trial", "reactivate", "ban"]

accounts_st = st.lists(
    st.fixed_dictionaries(
        {
            "status": st.sampled_from(STATUSES),
            "days": st.sampled_from([0, 10, 100, 199, 200, 201]),
            "balance": st.sampled_from([Decimal("0"), Decimal("5.00"), Decimal("-3.00")]),
            "payment_method": st.sampled_from([None, "card"]),
            "account_class": st.sampled_from([None, "home", "business"]),
            "batch_id": st.sampled_from([None, "B-1", "B-2"]),
            "first_used_at": st.sampled_from([None, T0 + 5 * DAY]),
            "funds": st.sampled_from([None, Decimal("0"), Decimal("0.40"), Decimal("10.00")]),
            "period_end": st.sampled_from([None, T0 + 150 * DAY, T0 + 300 * DAY]),
            "hold": st.sampled_from([None, None, "manual", "fraud", "credit"]),
            # placed at the opening, or after the batch's instant (the status and its
            # ``status_since`` stay: only the history says the account changed since)
            "hold_days": st.sampled_from([0, 250]),
        }
    ),
    min_size=1,
    max_size=10,
)
change_st = st.one_of(
    st.sampled_from(TRIGGERS).map(FireTrigger),
    st.builds(
        ChangeStatus,
        st.sampled_from(["suspended", "active", "canceled", "archived"]),
        only_from=st.none() | st.lists(st.sampled_from(STATUSES), min_size=1, max_size=3),
    ),
)
selection_st = st.builds(
    Selection,
    statuses=st.none() | st.lists(st.sampled_from(STATUSES), min_size=1, max_size=4),
    account_classes=st.none() | st.lists(st.sampled_from(["home", "business"]), min_size=1),
    batch_ids=st.none() | st.just(["B-1"]),
    started=st.none() | st.booleans(),
    first_used=st.none() | st.just(batch.DateRange(start=T0, end=T0 + 10 * DAY)),
)


def facts_of(row: dict[str, Any]) -> dict[str, Any]:
    """The host's facts of one generated account."""
    out = {k: row.get(k) for k in FACTS}
    out.update(timezone="UTC", currency="USD")
    return out


def object_book(rows: list[dict[str, Any]]) -> list[acctstate.Account]:
    """The book as plain accounts, opened (imported) as the stores open them."""
    out = []
    for n, row in enumerate(rows):
        account = WF.open(f"A-{n:03d}", row["status"], at=T0 + row["days"] * DAY, imported=True)
        for k, v in facts_of(row).items():
            setattr(account, k, v)
        if row.get("hold") is not None:
            at = T0 + max(row["days"], row.get("hold_days", 0)) * DAY
            place_hold(WF, account, row["hold"], at=at, actor=CLERK)
        out.append(account)
    return out


def fill(store: Any, rows: list[dict[str, Any]], engine: sa.Engine | None = None) -> None:
    """Open the book in ``store`` (and the facts in the host's table)."""
    for n, row in enumerate(rows):
        store.open(f"A-{n:03d}", row["status"], at=T0 + row["days"] * DAY, imported=True)
    if engine is not None:
        with engine.begin() as conn:
            conn.execute(
                customers.insert(),
                [{"id": f"A-{n:03d}", **facts_of(row)} for n, row in enumerate(rows)],
            )
    for n, row in enumerate(rows):
        if row.get("hold") is not None:
            at = T0 + max(row["days"], row.get("hold_days", 0)) * DAY
            store.place_hold(f"A-{n:03d}", row["hold"], at=at, actor=CLERK)


@contextlib.contextmanager
def sql_store(kind: str, rows: list[dict[str, Any]]) -> Iterator[SqlStore]:
    """A SQL store of ``kind`` holding the book, the host's customers as its facts."""
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            engine = create_engine("sqlite://")
            stack.callback(engine.dispose)
        else:
            engine = stack.enter_context(pg_engine())
        store = SqlStore(WF, engine, facts=customers)
        store.create_schema()
        host.create_all(engine)
        fill(store, rows, engine)
        yield store


def memory_store(rows: list[dict[str, Any]]) -> MemoryStore:
    """A memory store holding the book, its facts a mapping."""
    store = MemoryStore(WF, facts={f"A-{n:03d}": facts_of(r) for n, r in enumerate(rows)})
    fill(store, rows)
    return store


def state(store: Any, ids: list[str]) -> tuple[Any, ...]:
    """Statuses, histories and outbox rows of a store."""
    statuses = [(i, store.load(i).status) for i in ids]
    histories = [(i, list(store.history(i))) for i in ids]
    outbox = sorted((p.key, p.account_id, p.effect) for p in store.pending())
    holds = [(i, store.holds(i)) for i in ids]
    return statuses, histories, outbox, holds


def object_state(book: list[acctstate.Account]) -> tuple[Any, ...]:
    statuses = [(a.id, a.status) for a in book]
    histories = [(a.id, list(a.history)) for a in book]
    outbox = sorted((e.key, a.id, e) for a in book for c in a.history for e in c.effects)
    holds = [(a.id, tuple(a.holds)) for a in book]
    return statuses, histories, outbox, holds


def run_paths(
    kinds: list[str],
    rows: list[dict[str, Any]],
    selection: Selection,
    change: Any,
    mode: Mode,
    *,
    previewed: bool,
) -> None:
    book = object_book(rows)
    ids = [a.id for a in book]
    chosen = batch.select(WF, book, selection)
    if previewed:
        shown = batch.preview(chosen, change, at=AT)
        expected = batch.apply(shown, mode=mode)
    else:
        expected = batch.apply(chosen, change, at=AT, mode=mode)
    again = batch.apply(batch.select(WF, book, selection), change, at=AT, mode=mode)
    want = object_state(book)

    def check(store: Any) -> None:
        picked = store.select(selection)
        assert picked.counts == chosen.counts
        assert [a.id for a in picked.accounts] == [a.id for a in chosen.accounts]
        if previewed:
            view = store.preview(picked, change, at=AT)
            assert view.confirmation() == shown.confirmation()
            assert view.rows() == shown.rows()
            got = store.apply_batch(view, mode=mode, chunk=3)
        else:
            got = store.apply_batch(selection, change, at=AT, mode=mode, chunk=3)
        assert got.outcomes == expected.outcomes
        assert got.mode is expected.mode
        second = store.apply_batch(selection, change, at=AT, mode=mode, chunk=2)
        assert second.outcomes == again.outcomes
        assert state(store, ids) == want

    check(memory_store(rows))
    for kind in kinds:
        with sql_store(kind, rows) as store:
            check(store)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=accounts_st,
    selection=selection_st,
    change=change_st,
    mode=st.sampled_from(Mode),
    previewed=st.booleans(),
)
def test_store_batch_equals_batch_on_objects(
    rows: list[dict[str, Any]], selection: Selection, change: Any, mode: Mode, previewed: bool
) -> None:
    """acctstate.batch on objects == MemoryStore == SqlStore on SQLite: same counts, preview,
    outcomes, statuses, history and outbox rows; a second apply matches a second apply."""
    run_paths(["sqlite"], rows, selection, change, mode, previewed=previewed)


@pytest.mark.postgres
@needs_pg
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=accounts_st,
    selection=selection_st,
    change=change_st,
    mode=st.sampled_from(Mode),
    previewed=st.booleans(),
)
def test_store_batch_equals_batch_on_postgres(
    rows: list[dict[str, Any]], selection: Selection, change: Any, mode: Mode, previewed: bool
) -> None:
    """The same differential on PostgreSQL."""
    run_paths(["postgres"], rows, selection, change, mode, previewed=previewed)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
@pytest.mark.parametrize("hold_days", [0, 250])
@pytest.mark.parametrize("change", [FireTrigger("suspend"), FireTrigger("cancel")])
def test_held_accounts_batch_as_objects_do(kind: str, hold_days: int, change: Any) -> None:
    """A standing hold refuses or shapes the change as on the objects; a hold placed after
    the batch's instant (status and ``status_since`` unchanged) makes the change a
    back-dated one, refused, never written before the hold in the history."""
    rows = [
        {
            "status": "active",
            "days": 0,
            "balance": Decimal("0"),
            "hold": hold,
            "hold_days": hold_days,
        }
        for hold in (None, "manual", "fraud", "credit")
    ]
    for mode in (Mode.BEST_EFFORT, Mode.ALL_OR_NOTHING):
        run_paths([kind], rows, Selection(), change, mode, previewed=False)
        run_paths([kind], rows, Selection(), change, mode, previewed=True)


@pytest.mark.parametrize("kind", ["memory", "sqlite", pytest.param("postgres", marks=needs_pg)])
@pytest.mark.parametrize("actor", [None, acctstate.Actor.system("nightly")])
def test_held_stored_accounts_batch_as_fire_does(kind: str, actor: Any) -> None:
    """A store batch gives each held account what ``wf.fire`` gives it: a fraud hold (it
    blocks changes) refuses a person's ``suspend`` and lets the system's through; billing
    and service holds take the stops they already made out of the effects."""
    rows = [
        {"status": "active", "days": 0, "balance": Decimal("0"), "hold": hold}
        for hold in (None, "manual", "fraud", "credit", "dunning")
    ]
    expected = []
    for account in object_book(rows):
        try:
            expected.append(WF.fire(account, "suspend", at=AT, actor=actor))
        except acctstate.AcctStateError as exc:
            expected.append(exc)
    with contextlib.ExitStack() as stack:
        store = (
            memory_store(rows) if kind == "memory" else stack.enter_context(sql_store(kind, rows))
        )
        got = store.apply_batch(None, FireTrigger("suspend"), at=AT, actor=actor).outcomes
        for outcome, want in zip(got, expected, strict=True):
            if isinstance(want, acctstate.AcctStateError):
                assert outcome.kind is OutcomeKind.REFUSED and outcome.reason == str(want)
                assert store.load(outcome.account_id).status == WF.catalog["active"].code
            else:
                assert outcome.kind is OutcomeKind.CHANGED and outcome.effects == want.effects
    kinds = [o.kind for o in got]
    assert kinds.count(OutcomeKind.REFUSED) == (0 if actor is not None else 1)


ROWS = [
    {"status": "active", "days": 0, "balance": Decimal("0"), "funds": Decimal("0")},
    {"status": "active", "days": 0, "balance": Decimal("0"), "first_used_at": T0},
    {"status": "suspended", "days": 0, "balance": Decimal("0")},
    {"status": "canceled", "days": 0, "balance": Decimal("0"), "account_class": "home"},
]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=needs_pg)])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each store in turn, holding ``ROWS`` (A-000 .. A-003)."""
    if request.param == "memory":
        yield memory_store(ROWS)
    else:
        with sql_store(request.param, ROWS) as s:
            yield s


def test_field_changes_are_refused(store: Any) -> None:
    """Funds and dates are the host's facts: a store batch refuses them and changes nothing."""
    before = state(store, ["A-000"])
    with pytest.raises(InvalidArgument, match="host's own tables"):
        store.apply_batch(None, batch.ChargeAccount(Decimal("1.00")), at=AT)
    with pytest.raises(InvalidArgument, match="host's own tables"):
        store.preview(None, [batch.SetOpeningBalance(Decimal("1.00"))], at=AT)
    assert state(store, ["A-000"]) == before


def test_counts_and_confirmation(store: Any) -> None:
    """Counts come from the stored statuses and the host's facts."""
    picked = store.select(Selection(statuses=["active", "suspended"]))
    assert str(picked.counts) == "selected 3 · started 1 · depleted 1"
    assert picked.counts.per_status == (("suspended", 1), ("active", 2))
    view = store.preview(picked, FireTrigger("suspend"), at=AT)
    assert view.counts == {"change": 2, "unchanged": 0, "refused": 1}
    assert "active -> suspended: 2" in view.confirmation()
    assert store.load("A-000").status == 1  # a preview changes nothing


def test_changed_since_preview_is_refused(store: Any) -> None:
    """An account that moved after the preview is refused, the others change."""
    view = store.preview(Selection(statuses="active"), FireTrigger("suspend"), at=AT)
    store.fire("A-001", "cancel", at=AT - DAY)
    report = store.apply_batch(view)
    assert [o.kind for o in report.outcomes] == [OutcomeKind.CHANGED, OutcomeKind.REFUSED]
    assert "in status 'canceled'" in str(report.outcomes[1].reason)
    assert store.load("A-001").status == WF.catalog["canceled"].code


def test_all_or_nothing_writes_nothing_on_a_refusal(store: Any) -> None:
    """One refusal calls the whole batch off: the others are skipped, nothing is written."""
    before = state(store, ["A-000", "A-001", "A-002", "A-003"])
    report = store.apply_batch(None, FireTrigger("suspend"), at=AT, mode="all_or_nothing")
    assert report.counts["skipped"] == 2 and report.counts["refused"] == 2
    assert state(store, ["A-000", "A-001", "A-002", "A-003"]) == before


def test_progress_reports_each_chunk(store: Any) -> None:
    """``progress`` is called after each chunk with (done, total)."""
    seen: list[tuple[int, int]] = []
    store.apply_batch(
        None, FireTrigger("suspend"), at=AT, chunk=3, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(3, 4), (4, 4)]


def test_caller_connection_holds_the_writes() -> None:
    """With ``connection=``, the batch's writes commit or roll back with the caller's."""
    with sql_store("sqlite", ROWS) as store:
        with store.engine.connect() as conn:
            report = store.apply_batch(None, FireTrigger("suspend"), at=AT, connection=conn)
            assert report.counts["changed"] == 2
            assert store.load("A-000", connection=conn).status == WF.catalog["suspended"].code
            conn.rollback()
        assert store.load("A-000").status == 1
        assert store.pending() == ()


def test_async_store_batch_equals_batch_on_objects(tmp_path: Any) -> None:
    """AsyncSqlStore runs the SQL store's batch: the same counts and outcomes, and an
    async ``progress`` is awaited."""
    import asyncio

    from acctstate.store.asyncio import AsyncSqlStore, create_async_engine

    book = object_book(ROWS)
    expected = batch.apply(batch.select(WF, book), FireTrigger("suspend"), at=AT)
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    async def run() -> tuple[Any, Any]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'batch.db'}")
        try:
            store = AsyncSqlStore(WF, engine, facts=customers)
            await store.create_schema()
            async with engine.begin() as conn:
                await conn.run_sync(host.create_all)
            for n, row in enumerate(ROWS):
                await store.open(f"A-{n:03d}", row["status"], at=T0, imported=True)
            async with engine.begin() as conn:
                await conn.execute(
                    customers.insert(),
                    [{"id": f"A-{n:03d}", **facts_of(r)} for n, r in enumerate(ROWS)],
                )
            picked = await store.select()
            report = await store.apply_batch(
                picked, FireTrigger("suspend"), at=AT, chunk=3, progress=progress
            )
            return picked, report
        finally:
            await engine.dispose()

    picked, report = asyncio.run(run())
    assert picked.counts == batch.select(WF, object_book(ROWS)).counts
    assert report.outcomes == expected.outcomes
    assert seen == [(3, 4), (4, 4)]


def test_chunks_are_written_set_based(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without races, no account takes the one-by-one path: each chunk's rows go in with
    the chunk's own statements."""
    if isinstance(store, MemoryStore):
        pytest.skip("the SQL store's chunks")

    def alone(*args: Any) -> Any:
        raise AssertionError("an account was planned again alone")

    monkeypatch.setattr(SqlStore, "_apply_alone", alone)
    for mode in ("all_or_nothing", "best_effort"):
        report = store.apply_batch(
            Selection(statuses="active"), FireTrigger("suspend"), at=AT, chunk=1, mode=mode
        )
        assert report.counts["changed"] == (2 if mode == "all_or_nothing" else 0)
    assert [len(store.pending(account_id=i)) for i in ("A-000", "A-001")] == [3, 3]
