"""The async store: the same contract as the SQL store, on SQLAlchemy's asyncio engine
(aiosqlite on a SQLite file, psycopg 3's async connection on PostgreSQL).

The store contract tests of ``test_store_sql`` and ``test_store_delivery`` run here
again, unchanged, on an :class:`AsyncSqlStore` seen through a small sync adapter that
runs each coroutine to its end on one event loop. The tests below pin what is async
only: hooks that are coroutines, awaited with no transaction open (or inside it with
``transactional=True``), the caller's ``AsyncConnection``, coroutines firing at once,
an async ``decide`` and ``progress``, and the nightly run writing the rows the SQL
store writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import inspect
import itertools
import pathlib
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import acctstate
from acctstate.errors import ConcurrentChange, InvalidArgument
from acctstate.presets import isp
from acctstate.store import Delivery, Store
from acctstate.store.asyncio import AsyncSqlStore, create_async_engine
from acctstate.store.sql import SqlStore, create_engine, metadata


def shared(name: str) -> Any:
    """The test module ``name``, one object under both names it is imported by.

    pytest imports this folder's modules by their bare names (``test_store_sql``), other
    test modules import them as ``tests.test_store_sql``; two copies would define the
    contract's effect classes twice, and a stored effect would decode to the other copy's
    class.
    """
    module = sys.modules.get(f"tests.{name}") or importlib.import_module(name)
    sys.modules.setdefault(name, module)
    sys.modules.setdefault(f"tests.{name}", module)
    return module


contract = shared("test_store_sql")
delivery_contract = shared("test_store_delivery")
limits = shared("test_store_limits")
nightly = shared("test_store_nightly")
PG_URL = contract.PG_URL
needs_pg = contract.needs_pg
T0 = contract.T0
SEC = dt.timedelta(seconds=1)
ASYNC_KINDS = ["sqlite", pytest.param("postgres", marks=needs_pg)]


class SyncAdapter:
    """An :class:`AsyncSqlStore` seen as a sync store: each coroutine method is run to
    its end on the adapter's event loop."""

    def __init__(self, store: AsyncSqlStore, runner: asyncio.Runner) -> None:
        self.aio = store
        self.runner = runner

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.aio, name)
        if not inspect.iscoroutinefunction(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.runner.run(found(*args, **kwargs))

        return call


@contextlib.asynccontextmanager
async def async_engine(kind: str, tmp: pathlib.Path) -> AsyncIterator[Any]:
    """An async engine on a fresh SQLite file, or in a fresh PostgreSQL schema."""
    if kind == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp / f'a-{uuid.uuid4().hex[:6]}.db'}")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    assert PG_URL is not None
    schema = f"acctstate_async_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = create_async_engine(PG_URL).execution_options(schema_translate_map={None: schema})
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@contextlib.contextmanager
def adapted(kind: str, tmp: pathlib.Path, wf: acctstate.Workflow) -> Iterator[SyncAdapter]:
    """A fresh async store of ``kind`` behind a :class:`SyncAdapter`."""
    with asyncio.Runner() as runner:
        engines = async_engine(kind, tmp)
        engine = runner.run(engines.__aenter__())
        try:
            store = AsyncSqlStore(wf, engine)
            runner.run(store.create_schema())
            yield SyncAdapter(store, runner)
        finally:
            runner.run(engines.__aexit__(None, None, None))


@pytest.fixture(params=ASYNC_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[SyncAdapter]:
    """The async store on each database, empty, on the contract's workflow."""
    with adapted(request.param, tmp_path, contract.WF) as s:
        yield s


@pytest.fixture(params=ASYNC_KINDS)
def store_clock(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[tuple[SyncAdapter, acctstate.FixedClock]]:
    """The async store on each database, empty, with a clock the test moves."""
    clock = acctstate.FixedClock(T0 + dt.timedelta(days=1))
    with adapted(request.param, tmp_path, isp.workflow().with_clock(clock)) as s:
        yield s, clock


def _contract_tests(module: Any, fixture: str) -> dict[str, Any]:
    """The module's tests that take only ``fixture``: the store contract."""
    return {
        name: fn
        for name, fn in vars(module).items()
        if name.startswith("test_")
        and callable(fn)
        and list(inspect.signature(fn).parameters) == [fixture]
    }


# The contract, run again here on the async store (the fixtures above).
globals().update(_contract_tests(contract, "store"))
globals().update(_contract_tests(delivery_contract, "store_clock"))
# What no store can keep is refused by the async store too, with the same limits.
globals().update(
    {
        n: f
        for n, f in vars(limits).items()
        if n.startswith("test_") and "store" in inspect.signature(f).parameters
    }
)


def test_the_contract_is_collected_here() -> None:
    """The shared contract tests really run on the async store (not zero of them)."""
    assert len(_contract_tests(contract, "store")) >= 15
    assert len(_contract_tests(delivery_contract, "store_clock")) >= 6
    assert "test_every_store_satisfies_the_protocol" in globals()


# -- async only -----------------------------------------------------------------------

host = sa.MetaData()
ledger = sa.Table(
    "host_ledger",
    host,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("account_id", sa.String(200), nullable=False),
)


def run(kind: str, tmp: pathlib.Path, body: Any, wf: acctstate.Workflow | None = None) -> Any:
    """Run ``body(store)`` on a fresh async store of ``kind`` (with the host's ledger)."""

    async def main() -> Any:
        async with async_engine(kind, tmp) as engine:
            store = AsyncSqlStore(wf or isp.workflow(), engine)
            await store.create_schema()
            async with engine.begin() as conn:
                await conn.run_sync(host.create_all)
            return await body(store)

    return asyncio.run(main())


async def banned(store: AsyncSqlStore, account_id: str) -> tuple[str, ...]:
    """Open an active account and ban it; the keys of its two effects."""
    await store.open(account_id, "active", at=T0, imported=True)
    change = await store.fire(account_id, "ban", at=T0 + SEC)
    return tuple(e.key for e in change.effects)


class AsyncHooks:
    """Coroutine hooks that write each effect to the host's ledger through the store's
    own engine, in a transaction of their own (or the store's, when given one)."""

    def __init__(self, engine: Any, fail: set[str] | None = None) -> None:
        self.engine = engine
        self.fail = set() if fail is None else fail
        self.connections: list[Any] = []

    async def _run(self, effect: Any, change: Any, connection: Any = None) -> None:
        await asyncio.sleep(0)
        row = {"key": effect.key, "account_id": change.account_id}
        if connection is not None:
            self.connections.append(connection)
            await connection.execute(ledger.insert(), row)
        else:
            async with self.engine.begin() as conn:
                await conn.execute(ledger.insert(), row)
        if effect.key in self.fail:
            raise RuntimeError("payment gateway timed out")

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = _run

    def hooks(self) -> acctstate.Hooks:
        return acctstate.Hooks.from_object(self)


async def ledger_keys(store: AsyncSqlStore) -> list[str]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(sa.select(ledger.c.key).order_by(ledger.c.key))).scalars())


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_async_hooks_are_awaited_with_no_transaction_open(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """A coroutine hook writing to the same database in a transaction of its own never
    waits on its deliverer (on SQLite a held write lock would stall it), and each effect
    runs once, in order."""

    async def body(store: AsyncSqlStore) -> None:
        keys = await banned(store, "A-1")
        hooks = AsyncHooks(store.engine)
        report = await store.deliver(hooks.hooks())
        assert report == Delivery(delivered=keys)
        assert await ledger_keys(store) == sorted(keys)
        assert await store.pending() == ()

    run(kind, tmp_path, body)


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_transactional_async_hooks_commit_or_roll_back_with_the_effect(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """With ``transactional=True`` a coroutine hook gets an ``AsyncConnection`` inside the
    transaction that marks the effect done: a failing hook's write is undone and its
    effect stays pending; a good one's write commits with the "done"."""

    async def body(store: AsyncSqlStore) -> None:
        first, second = await banned(store, "A-1")
        hooks = AsyncHooks(store.engine, fail={first})
        report = await store.deliver(hooks.hooks(), transactional=True)
        assert [k for k, _ in report.failed] == [first] and report.delivered == ()
        assert "payment gateway timed out" in report.failed[0][1]
        assert await ledger_keys(store) == []
        assert [p.key for p in await store.pending()] == [first, second]
        assert all(isinstance(c, sa.ext.asyncio.AsyncConnection) for c in hooks.connections)
        hooks.fail.clear()
        report = await store.deliver(hooks.hooks(), transactional=True)
        assert report.delivered == (first, second)
        assert await ledger_keys(store) == sorted([first, second])

    run(kind, tmp_path, body)


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_the_callers_async_connection_owns_the_transaction(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """Given ``connection=``, open, fire, schedule and apply_due work inside the caller's
    transaction: rolled back with it, committed with it; anything else is refused."""

    async def body(store: AsyncSqlStore) -> None:
        async with store.engine.connect() as conn:
            await store.open("A-1", "active", at=T0, imported=True, connection=conn)
            await store.fire("A-1", "suspend", at=T0 + SEC, connection=conn)
            assert (await store.load("A-1", connection=conn)).version == 1
            await conn.rollback()
        with pytest.raises(InvalidArgument, match="id of an account in the store"):
            await store.load("A-1")
        async with store.engine.begin() as conn:
            await store.open("A-1", "active", at=T0, imported=True, connection=conn)
            await store.fire("A-1", "suspend", at=T0 + SEC, connection=conn)
            await store.schedule("A-1", "terminate", at=T0 + 2 * SEC, connection=conn)
            assert len(await store.history("A-1", connection=conn)) == 2
        assert (await store.load("A-1")).version == 1
        assert len(await store.scheduled(account_id="A-1")) == 1
        with pytest.raises(InvalidArgument, match="AsyncConnection"):
            await store.load("A-1", connection=object())  # type: ignore[arg-type]

    run(kind, tmp_path, body)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_due_changes_apply_inside_the_callers_transaction(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """``apply_due(connection=)`` makes the due changes in the caller's transaction: they
    are gone when it rolls back."""

    async def body(store: AsyncSqlStore) -> None:
        await store.open("A-1", "active", at=T0, imported=True)
        await store.fire("A-1", "suspend", at=T0 + SEC)
        await store.schedule("A-1", "terminate", at=T0 + 2 * SEC)
        async with store.engine.connect() as conn:
            run = await store.apply_due(at=T0 + 3 * SEC, connection=conn)
            assert len(run.applied) == 1
            assert (await store.load("A-1", connection=conn)).version == 2
            await conn.rollback()
        assert (await store.load("A-1")).version == 1

    run(kind, tmp_path, body)


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_coroutines_firing_at_once_lose_and_double_nothing(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """Twelve coroutines toggle one account at once, each against the version it read:
    the winners' changes are all recorded, once each, in one unbroken chain; the losers
    get ``ConcurrentChange`` and change nothing. (Each fires a second after the change
    it read: a coroutine that reads after a winner's commit fires after it, not
    back-dated before it.)"""

    async def toggle(store: AsyncSqlStore, n: int) -> int:
        stored = await store.load("A-1")
        trigger = "deactivate" if stored.status == 1 else "reactivate"
        try:
            await store.fire(
                "A-1",
                trigger,
                at=stored.status_since + SEC,
                expected_version=stored.version,
                note=str(n),
            )
        except ConcurrentChange:
            return 0
        return 1

    async def body(store: AsyncSqlStore) -> None:
        await store.open("A-1", "active", at=T0, imported=True)
        made = 0
        for round_ in range(3):
            wins = await asyncio.gather(*(toggle(store, 10 * round_ + i) for i in range(4)))
            made += sum(wins)
        history = await store.history("A-1")
        assert len(history) == made + 1 and (await store.load("A-1")).version == made
        assert all(a.dest == b.source for a, b in itertools.pairwise(history))

    run(kind, tmp_path, body)


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_an_async_decide_and_progress_are_awaited(kind: str, tmp_path: pathlib.Path) -> None:
    """A sweep's ``decide`` and the nightly run's ``progress`` may be coroutine
    functions; both are awaited where the store calls them."""

    async def decide(account: Any) -> str | None:
        await asyncio.sleep(0)
        return "suspend" if account.id != "A-2" else None

    async def body(store: AsyncSqlStore) -> None:
        for n in range(3):
            await store.open(f"A-{n}", "active", at=T0, imported=True)
        done = await store.sweep(decide, at=T0 + SEC, chunk=2)
        assert [c.account_id for c in done.changes] == ["A-0", "A-1"] and done.examined == 3
        seen: list[tuple[int, int]] = []

        async def progress(n: int, total: int) -> None:
            seen.append((n, total))

        policy = nightly.POLICY.__class__(store.workflow)
        await store.run_automation(policy, now=T0 + SEC, chunk=2, progress=progress)
        assert seen == [(2, 3), (3, 3)]

    run(kind, tmp_path, body, wf=nightly.WF)


def test_bad_engines_are_refused() -> None:
    """Only an ``AsyncEngine`` will do: a sync engine is named as the wrong thing."""
    engine = create_engine("sqlite://")
    with pytest.raises(InvalidArgument, match="AsyncEngine"):
        AsyncSqlStore(isp.workflow(), engine)  # type: ignore[arg-type]
    engine.dispose()
    with pytest.raises(InvalidArgument, match=r"expected an acctstate\.Workflow"):
        AsyncSqlStore("isp", create_async_engine("sqlite+aiosqlite://"))  # type: ignore[arg-type]


def test_the_adapted_store_is_a_store(tmp_path: pathlib.Path) -> None:
    """Behind the adapter the async store answers the sync ``Store`` protocol, and its
    repr names the workflow and the database."""
    with adapted("sqlite", tmp_path, isp.workflow()) as s:
        assert isinstance(s, Store)
        assert repr(s.aio).startswith("<AsyncSqlStore 'isp' on sqlite+aiosqlite:///")


# -- the nightly run ------------------------------------------------------------------

BOOK = [
    {**nightly._quiet, "start": "active", "balance": Decimal("80"), "late_days": 31},
    {
        **nightly._quiet,
        "start": "suspended_dunning_2",
        "since_days": 10,
        "period_price": Decimal("30"),
    },
    {**nightly._quiet, "start": "canceled", "since_days": 200},
    {**nightly._quiet, "start": "active"},
    {**nightly._quiet, "start": "active_dunning_1", "balance": Decimal("5"), "late_days": 90},
    {**nightly._quiet, "start": "active_trial", "trial_days": -2, "payment_method": None},
    {**nightly._quiet, "start": "active_trial", "trial_days": -1},
]


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_the_nightly_run_writes_the_sql_stores_rows(kind: str, tmp_path: pathlib.Path) -> None:
    """``run_automation`` on the async store writes exactly the rows (accounts, history,
    outbox) the SQL store's run writes for the same book and facts, in chunks."""
    with nightly.sql_store(kind) as sync:
        facts = nightly.load_book([sync], BOOK)
        expected = sync.run_automation(nightly.POLICY, now=nightly.NOW, chunk=3)
        want = nightly.table_rows(sync)

    async def main() -> tuple[Any, dict[str, list[tuple[Any, ...]]]]:
        async with async_engine(kind, tmp_path) as engine:
            store = AsyncSqlStore(nightly.WF, engine, facts=nightly.customers)
            await store.create_schema()
            async with engine.begin() as conn:
                await conn.run_sync(nightly.host.create_all)
                await conn.execute(
                    nightly.customers.insert(), [{"id": k, **v} for k, v in facts.items()]
                )
            for n, a in enumerate(BOOK):
                since = nightly.NOW - a["since_days"] * nightly.DAY
                await store.open(f"A-{n:04d}", a["start"], at=since, imported=True)
            report = await store.run_automation(nightly.POLICY, now=nightly.NOW, chunk=3)
            rows = {}
            async with engine.connect() as conn:
                for name in ("acctstate_accounts", "acctstate_history", "acctstate_outbox"):
                    table = metadata.tables[name]
                    cols = [c for c in table.c if c.name not in ("id", "seq")]
                    if name == "acctstate_accounts":
                        cols = list(table.c)
                    result = await conn.execute(sa.select(*cols))
                    rows[name] = sorted(tuple(r) for r in result)
            return report, rows

    report, rows = asyncio.run(main())
    assert report == expected and report.changes > 0
    assert rows == want


def test_the_sync_store_is_untouched_by_async_hooks(tmp_path: pathlib.Path) -> None:
    """The async store is the SQL store's code: a file written by one is read by the
    other, account for account and effect for effect."""
    path = tmp_path / "shared.db"

    async def write() -> tuple[str, ...]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        store = AsyncSqlStore(isp.workflow(), engine)
        await store.create_schema()
        keys = await banned(store, "A-1")
        await engine.dispose()
        return keys

    keys = asyncio.run(write())
    engine = create_engine(f"sqlite:///{path}")
    sync = SqlStore(isp.workflow(), engine)
    assert [p.key for p in sync.pending()] == list(keys)
    assert sync.load("A-1").version == 1
    engine.dispose()


def test_the_async_store_awaits_every_hook_system(tmp_path: pathlib.Path) -> None:
    """Each hook system the workflow knows (the ledger and contracts ones included) is
    handed on to the async store's deliverer, wrapped, none dropped."""
    import attrs

    from acctstate.world.store._awaiting import awaiting_hooks

    class Anything:
        def __getattr__(self, name: str) -> Any:
            return lambda *args, **kwargs: None

    every = acctstate.Hooks(**{f.name: Anything() for f in attrs.fields(acctstate.Hooks)})
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'hooks.db'}")
    wrapped = awaiting_hooks(every, engine)
    assert [f.name for f in attrs.fields(acctstate.Hooks) if getattr(wrapped, f.name) is None] == []
    assert "ledger" in {f.name for f in attrs.fields(acctstate.Hooks)}
