"""The nightly run through the store: ``run_automation`` read as columns, written set-based.

Pinned here: the rows the set-based run writes (accounts, history, outbox) are the rows
the per-account path writes for the same changes -- the automation's sweep on plain
accounts carried out with ``store.fire`` one step at a time -- on random books, on SQLite
and PostgreSQL; ``MemoryStore`` gives the same report; running again at the same ``now``
changes nothing; an account another writer changed in between is planned again alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import acctstate
from acctstate.automation import AutomationPolicy, reference_ladder, sweep
from acctstate.errors import InvalidArgument
from acctstate.presets import isp
from acctstate.store import RunReport
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore, UtcDateTime, create_engine, metadata
from test_store_sql import needs_pg, pg_engine

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
WF = isp.workflow().with_clock(acctstate.FixedClock(NOW + DAY))
POLICY = AutomationPolicy(WF, ladder=reference_ladder(), archive="archive", trial_end="end_trial")

host = sa.MetaData()
customers = sa.Table(
    "customers",
    host,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("balance", sa.Numeric(12, 2), nullable=False),
    sa.Column("unpaid_invoices", sa.Integer, nullable=False),
    sa.Column("oldest_unpaid_at", UtcDateTime),
    sa.Column("trial_ends_at", UtcDateTime),
    sa.Column("payment_method", sa.String(20)),
    sa.Column("timezone", sa.String(50)),
    sa.Column("currency", sa.String(3)),
    sa.Column("period_price", sa.Numeric(12, 2)),
)
STARTS = [
    "active",
    "active_dunning_pending",
    "active_dunning_1",
    "active_dunning_3",
    "suspended_dunning_1",
    "suspended_dunning_2",
    "active_trial",
    "canceled",
    "suspended",
]


@contextlib.contextmanager
def sql_store(kind: str) -> Iterator[SqlStore]:
    """An empty SQL store of ``kind`` with the host's ``customers`` table as its facts."""
    if kind == "sqlite":
        engine = create_engine("sqlite://")
    else:
        cm = pg_engine()
        engine = cm.__enter__()
    try:
        store = SqlStore(WF, engine, facts=customers)
        store.create_schema()
        host.create_all(engine)
        yield store
    finally:
        if kind == "sqlite":
            engine.dispose()
        else:
            cm.__exit__(None, None, None)


money = st.decimals(min_value=0, max_value=300, places=2, allow_nan=False)
account_st = st.fixed_dictionaries(
    {
        "start": st.sampled_from(STARTS),
        "since_days": st.integers(min_value=0, max_value=250),
        "balance": st.sampled_from([Decimal("0.00")]) | money,
        "unpaid_invoices": st.integers(min_value=0, max_value=4),
        "late_days": st.none() | st.integers(min_value=0, max_value=120),
        "trial_days": st.none() | st.integers(min_value=-30, max_value=30),
        "payment_method": st.sampled_from([None, "card", "card"]),
        "timezone": st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
        "currency": st.sampled_from(["USD", "EUR"]),
        "period_price": st.none() | money,
    }
)


def facts_of(a: dict[str, Any]) -> dict[str, Any]:
    late, trial = a["late_days"], a["trial_days"]
    return {
        "balance": a["balance"],
        "unpaid_invoices": a["unpaid_invoices"],
        "oldest_unpaid_at": None if late is None else NOW - late * DAY,
        "trial_ends_at": None if trial is None else NOW + trial * DAY,
        "payment_method": a["payment_method"],
        "timezone": a["timezone"],
        "currency": a["currency"],
        "period_price": a["period_price"],
    }


def load_book(stores: list[Any], book: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Open every account in every store (and the host's rows); the facts by id."""
    facts = {}
    for n, a in enumerate(book):
        account_id = f"A-{n:04d}"
        facts[account_id] = facts_of(a)
        for store in stores:
            store.open(account_id, a["start"], at=NOW - a["since_days"] * DAY, imported=True)
    for store in stores:
        if isinstance(store, SqlStore):
            with store.engine.begin() as conn:
                conn.execute(customers.insert(), [{"id": k, **v} for k, v in facts.items()])
    return facts


def per_account(store: SqlStore, facts: dict[str, dict[str, Any]], now: dt.datetime) -> None:
    """The per-account path: the sweep on plain accounts, each step a ``store.fire``."""
    plain = []
    for account_id in sorted(facts):
        stored = store.load(account_id)
        f = facts[account_id]
        fields = {k: v for k, v in f.items() if k != "period_price" and v is not None}
        account = WF.open(
            account_id, stored.status, at=stored.status_since, imported=True, **fields
        )
        plain.append(account)
    for plan in sweep(plain, POLICY, now=now):
        if plan.error is not None:
            continue
        for change in plan.changes:
            store.fire(
                plan.account_id,
                change.trigger,
                at=now,
                actor=POLICY.actor,
                reason=POLICY.reason,
                note=f"automation: {change.rule}",
            )


def table_rows(store: SqlStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row but the surrogate keys, sorted."""
    out = {}
    with store.engine.connect() as conn:
        for name in ("acctstate_accounts", "acctstate_history", "acctstate_outbox"):
            table = metadata.tables[name]
            cols = [c for c in table.c if c.name not in ("id", "seq")]
            if name == "acctstate_accounts":
                cols = list(table.c)
            out[name] = sorted(tuple(r) for r in conn.execute(sa.select(*cols)))
    return out


def run_both(kind: str, book: list[dict[str, Any]], chunk: int) -> tuple[RunReport, ...]:
    with sql_store(kind) as fast, sql_store(kind) as slow:
        facts = load_book([fast, slow], book)
        memory = MemoryStore(WF, facts=facts)
        load_book([memory], book)
        report = fast.run_automation(POLICY, now=NOW, chunk=chunk)
        per_account(slow, facts, NOW)
        assert table_rows(fast) == table_rows(slow)
        by_memory = memory.run_automation(POLICY, now=NOW, chunk=chunk)
        for account_id in facts:
            assert [
                (c.trigger, c.source, c.dest, c.at, c.note, c.actor, c.effects)
                for c in memory.history(account_id)
            ] == [
                (c.trigger, c.source, c.dest, c.at, c.note, c.actor, c.effects)
                for c in fast.history(account_id)
            ]
        before = table_rows(fast)
        again = fast.run_automation(POLICY, now=NOW, chunk=chunk)
        assert table_rows(fast) == before
        return report, by_memory, again


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_set_based_run_writes_the_per_account_rows(kind: str) -> None:
    """On random books, ``run_automation`` writes exactly the rows of the per-account
    path, ``MemoryStore`` reports the same, and a second run at the same ``now`` writes
    nothing."""

    @settings(
        max_examples=30 if kind == "sqlite" else 10,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(book=st.lists(account_st, min_size=1, max_size=25), chunk=st.integers(1, 12))
    def run(book: list[dict[str, Any]], chunk: int) -> None:
        report, by_memory, again = run_both(kind, book, chunk)
        assert (report.changed, report.changes, report.by_rule, report.failed) == (
            by_memory.changed,
            by_memory.changes,
            by_memory.by_rule,
            by_memory.failed,
        )
        assert report.examined == len(book) == again.examined
        assert (again.changed, again.changes) == (0, 0)

    run()


def test_a_known_book() -> None:
    """A late account climbs the ladder, a paid suspended one is reinstated and
    back-billed from when billing stopped, an old canceled one is archived; progress is
    reported per chunk."""
    book = [
        {**_quiet, "start": "active", "balance": Decimal("80"), "late_days": 31},
        {**_quiet, "start": "suspended_dunning_2", "since_days": 10, "period_price": Decimal("30")},
        {**_quiet, "start": "canceled", "since_days": 200},
        {**_quiet, "start": "active"},
    ]
    seen: list[tuple[int, int]] = []
    with sql_store("sqlite") as store:
        load_book([store], book)
        report = store.run_automation(
            POLICY, now=NOW, chunk=3, progress=lambda done, total: seen.append((done, total))
        )
        assert seen == [(3, 4), (4, 4)]
        assert (report.examined, report.changed, report.chunks) == (4, 3, 2)
        assert dict(report.by_rule) == {"dunning_clear": 2, "dunning": 3, "archive": 1}
        statuses = [store.load(f"A-{n:04d}").status for n in range(4)]
        assert [WF.catalog[s].name for s in statuses] == [
            "active_dunning_2",
            "active",
            "archived",
            "active",
        ]
        charges = [e for c in store.history("A-0001") for e in c.effects if e.kind == "charge"]
        assert [e.amount for e in charges] == [Decimal("10.00")]


_quiet = {
    "since_days": 0,
    "balance": Decimal("0"),
    "unpaid_invoices": 0,
    "late_days": None,
    "trial_days": None,
    "payment_method": "card",
    "timezone": "UTC",
    "currency": "USD",
    "period_price": None,
}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_a_row_changed_in_between_is_planned_again_alone(kind: str) -> None:
    """An account another writer changes after the chunk was read loses its
    compare-and-set and is planned again on its own; nothing is written twice. On
    PostgreSQL the other writer is another connection that commits while the run's
    transaction is open; on SQLite, where the run holds the write lock, it writes in the
    run's own transaction."""
    book = [
        {**_quiet, "start": "active", "balance": Decimal("80"), "late_days": 31},
        {**_quiet, "start": "active", "balance": Decimal("80"), "late_days": 31},
    ]
    with sql_store(kind) as store:
        load_book([store], book)
        meddled: list[str] = []

        def meddle(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            # Just before the run's compare-and-set: another writer moves A-0000 first.
            if meddled or not re.match(r"\s*UPDATE\b", statement, re.I):
                return
            meddled.append(statement)
            other = conn if kind == "sqlite" else None
            store.fire("A-0000", "escalate_dunning", at=NOW, connection=other)

        sa.event.listen(store.engine, "before_cursor_execute", meddle)
        try:
            report = store.run_automation(POLICY, now=NOW)
        finally:
            sa.event.remove(store.engine, "before_cursor_execute", meddle)
        assert meddled and "acctstate_accounts" in meddled[0]
        assert report.retried == 1
        assert report.ok
        assert (report.changed, report.changes) == (2, 5)
        for account_id in ("A-0000", "A-0001"):
            assert WF.catalog[store.load(account_id).status].name == "active_dunning_2"
        assert [c.note for c in store.history("A-0000")] == [
            None,
            None,
            "automation: dunning",
            "automation: dunning",
        ]
        assert store.load("A-0000").version == 3


def test_bad_arguments_are_refused() -> None:
    """A naive ``now``, a bad chunk, progress or a policy on another workflow are refused
    before anything is read."""
    other_wf = isp.workflow().extend(remove=[("terminate", "active")])
    other = AutomationPolicy(other_wf, ladder=reference_ladder())
    with sql_store("sqlite") as store:
        with pytest.raises(InvalidArgument, match="now"):
            store.run_automation(POLICY, now=NOW.replace(tzinfo=None))
        with pytest.raises(InvalidArgument, match="chunk"):
            store.run_automation(POLICY, now=NOW, chunk=0)
        with pytest.raises(InvalidArgument, match="progress"):
            store.run_automation(POLICY, now=NOW, progress=3)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="policy"):
            store.run_automation(other, now=NOW)


def test_a_policy_with_the_daily_auto_apply_is_refused_by_every_store() -> None:
    """A store keeps no invoices, so its nightly run cannot book the daily auto-apply the
    per-account sweep makes: the policy is refused, naming it, and nothing changes
    (rather than a run that plans on allocations it never books)."""
    applying = AutomationPolicy(isp.workflow(), ladder=reference_ladder(), auto_apply=True)
    memory = MemoryStore(applying.workflow)
    memory.open("A-1", "active_dunning_1", at=NOW - dt.timedelta(days=40), imported=True)
    with sql_store("sqlite") as store:
        store.open("A-1", "active_dunning_1", at=NOW - dt.timedelta(days=40), imported=True)
        for s in (memory, store):
            before = s.load("A-1")
            with pytest.raises(InvalidArgument, match=r"policy\.auto_apply.*keeps no invoices"):
                s.run_automation(applying, now=NOW)
            assert s.load("A-1") == before
            assert [c.trigger for c in s.history("A-1")] == ["open"]


def test_run_inside_the_callers_transaction() -> None:
    """With ``connection=``, the run writes inside the caller's transaction: rolled back
    with it, committed with it."""
    book = [{**_quiet, "start": "active", "balance": Decimal("80"), "late_days": 31}]
    with sql_store("sqlite") as store:
        load_book([store], book)
        with store.engine.connect() as conn:
            report = store.run_automation(POLICY, now=NOW, connection=conn)
            assert report.changes == 3
            conn.rollback()
        assert store.load("A-0000").version == 0
        with store.engine.begin() as conn:
            store.run_automation(POLICY, now=NOW, connection=conn)
        assert WF.catalog[store.load("A-0000").status].name == "active_dunning_2"
        assert isinstance(store, acctstate.store.Store)


# -- a run interrupted part way, run again ---------------------------------------------------


class Crash(Exception):
    """The process dying part way through a run (injected)."""


def crashed_by_us(exc: BaseException) -> bool:
    """Whether ``exc`` is the injected crash (or, as a store may wrap what the database
    raised, caused by it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Crash):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def crash_at(engine: sa.Engine, where: str, nth: int) -> Iterator[list[int]]:
    """Raise ``Crash`` the ``nth`` time the run gets to ``where``: ``"update"`` (the
    compare-and-set of a chunk is about to run: nothing of the chunk is written),
    ``"commit"`` (a chunk is written, about to commit) or ``"progress"`` (a chunk is
    committed, the next not read). Yields the count reached so far."""
    seen = [0]

    def hit() -> None:
        seen[0] += 1
        if seen[0] == nth:
            raise Crash(f"killed at {where} #{nth}")

    def on_execute(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if re.match(r'\s*UPDATE\s+("?\w+"?\.)?acctstate_accounts\b', statement, re.I):
            hit()

    def on_commit(conn: Any) -> None:
        hit()

    if where == "update":
        sa.event.listen(engine, "before_cursor_execute", on_execute)
    elif where == "commit":
        sa.event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        if where == "update":
            sa.event.remove(engine, "before_cursor_execute", on_execute)
        elif where == "commit":
            sa.event.remove(engine, "commit", on_commit)


def run_crashing(
    store: SqlStore, where: str, nth: int, chunk: int
) -> tuple[bool, RunReport | None]:
    """Run the nightly automation, killed at ``where`` #``nth``: whether it was killed,
    else the report."""
    seen = [0]

    def progress(done: int, total: int) -> None:
        seen[0] += 1
        if seen[0] == nth:
            raise Crash(f"killed after chunk {nth}")

    with crash_at(store.engine, where, nth):
        try:
            return False, store.run_automation(
                POLICY, now=NOW, chunk=chunk, progress=progress if where == "progress" else None
            )
        except Exception as exc:
            if not crashed_by_us(exc):
                raise
            return True, None


@pytest.mark.parametrize(
    ("where", "nth"),
    [("update", 2), ("commit", 2), ("progress", 1)],
    ids=["before-the-2nd-update", "at-the-2nd-commit", "after-the-1st-chunk"],
)
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_a_run_killed_after_its_first_chunk_finishes_when_run_again(
    kind: str, where: str, nth: int
) -> None:
    """Six late accounts in chunks of two, the run killed once the first chunk is
    committed (as the second chunk's compare-and-set is about to run, as it is about to
    commit, or between the chunks): the first chunk stays written and the rest is
    untouched, also after the store's next write on its own connections; running again at
    the same ``now`` writes the rest, and the tables then hold exactly the rows of a run
    that was never interrupted."""
    late = {**_quiet, "start": "active", "balance": Decimal("80"), "late_days": 31}
    book = [late] * 6
    ids = [f"A-{n:04d}" for n in range(6)]
    with sql_store(kind) as killed, sql_store(kind) as whole:
        load_book([killed, whole], book)
        assert run_crashing(killed, where, nth, chunk=2) == (True, None)
        # The store's next write commits only itself, not what the killed chunk left.
        for store in (killed, whole):
            store.open("B-1", "active", at=NOW, imported=True)
        assert [killed.load(i).version for i in ids] == [3, 3, 0, 0, 0, 0]
        assert [len(killed.history(i)) for i in ids] == [4, 4, 1, 1, 1, 1]
        assert [len(killed.pending(account_id=i)) for i in ids[2:]] == [0, 0, 0, 0]
        again = killed.run_automation(POLICY, now=NOW, chunk=2)
        assert (again.examined, again.changed, again.changes) == (7, 4, 12)
        report = whole.run_automation(POLICY, now=NOW, chunk=2)
        assert (report.changed, report.changes) == (6, 18)
        assert table_rows(killed) == table_rows(whole)


CRASH_SITES = ["update", "commit", "progress"]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_a_run_killed_anywhere_and_run_again_writes_what_one_run_writes(kind: str) -> None:
    """On random books, a run killed at a random point (before a chunk's compare-and-set,
    before its commit, or between chunks) and then run again at the same ``now`` leaves
    every table (accounts, history, outbox) exactly as one uninterrupted run on a fresh
    database does; a third run changes nothing."""

    @settings(
        max_examples=25 if kind == "sqlite" else 8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        book=st.lists(account_st, min_size=2, max_size=16),
        chunk=st.integers(1, 5),
        where=st.sampled_from(CRASH_SITES),
        nth=st.integers(1, 6),
    )
    def run(book: list[dict[str, Any]], chunk: int, where: str, nth: int) -> None:
        with sql_store(kind) as killed, sql_store(kind) as whole:
            load_book([killed, whole], book)
            run_crashing(killed, where, nth, chunk)
            killed.run_automation(POLICY, now=NOW, chunk=chunk)
            whole.run_automation(POLICY, now=NOW, chunk=chunk)
            assert table_rows(killed) == table_rows(whole)
            third = killed.run_automation(POLICY, now=NOW, chunk=chunk)
            assert (third.changed, third.changes) == (0, 0)
            assert table_rows(killed) == table_rows(whole)

    run()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_an_effect_key_already_taken_fails_its_account_not_the_run(kind: str) -> None:
    """The host escalated A-0000 to suspension by hand at the run's ``now`` and took it
    back: the run's own escalation at that instant would repeat the effect keys already
    in the outbox. That account is listed in ``failed`` with the store's error (nothing
    of it written) and the other account of the chunk still moves, on both backends (on
    PostgreSQL the rows are sent with ``COPY``)."""
    late = {**_quiet, "start": "active_dunning_3", "since_days": 10}
    book = [{**late, "balance": Decimal("80"), "late_days": 61}] * 2
    with sql_store(kind) as store:
        load_book([store], book)
        taken = store.fire("A-0000", "escalate_dunning", at=NOW)
        assert taken.effects
        store.fire("A-0000", "deescalate_dunning", at=NOW)
        report = store.run_automation(POLICY, now=NOW)
        assert [account_id for account_id, _ in report.failed] == ["A-0000"]
        assert "already in the outbox" in report.failed[0][1]
        assert (report.changed, report.changes) == (1, 1)
        assert store.load("A-0000").version == 2
        assert WF.catalog[store.load("A-0001").status].name == "suspended_dunning_1"


class _Ticking:
    """A clock that moves one microsecond each time it is read."""

    def __init__(self, start: dt.datetime) -> None:
        self.at = start

    def now(self) -> dt.datetime:
        self.at += dt.timedelta(microseconds=1)
        return self.at


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_a_running_clock_keeps_the_chunk_set_based(kind: str) -> None:
    """With a clock that runs, each change keeps its own recorded instant, and a chunk's
    history still goes in with one statement per ladder step, not one per change."""
    book = [{**_quiet, "start": "active", "balance": Decimal("80"), "late_days": 31}] * 6
    ticking = WF.with_clock(_Ticking(NOW + DAY))
    statements: list[str] = []
    with sql_store(kind) as plain:
        store = SqlStore(ticking, plain.engine, facts=customers)
        load_book([store], book)

        @sa.event.listens_for(store.engine, "before_cursor_execute")
        def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        report = store.run_automation(POLICY, now=NOW)
        sa.event.remove(store.engine, "before_cursor_execute", _count)
        assert report.changes == 18 and report.retried == 0
        recorded = [c.recorded_at for n in range(6) for c in store.history(f"A-{n:04d}")[1:]]
        assert len(set(recorded)) == 18
        assert recorded == sorted(recorded)
        inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO")]
        assert sum("acctstate_history" in s for s in inserts) == 3  # three steps
