"""Every store method takes the caller's ``connection=``: its writes join the caller's
transaction, so the caller's rollback undoes them and its commit keeps them, and its
reads see the caller's own uncommitted writes.

On SQLite the driver sends ``BEGIN`` only before its first write, so a savepoint taken
first (``apply_due`` makes each change in one, ``deliver`` runs each hook in one) was a
transaction of its own that its ``RELEASE`` committed; the store now opens the
transaction first. Run on a SQLite file and on PostgreSQL, sync and async.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import pathlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import acctstate
from acctstate.automation import AutomationPolicy
from acctstate.store.asyncio import AsyncSqlStore, create_async_engine
from acctstate.store.sql import SqlStore, create_engine
from test_store_sql import PG_URL, WF, needs_pg, pg_engine

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
SEC = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)
KINDS = ["sqlite", pytest.param("postgres", marks=needs_pg)]
# The archive rule counts days in the billing time zone; these accounts keep none.
UTC_WF = WF.with_defaults(timezone="UTC")
POLICY = AutomationPolicy(UTC_WF, archive="archive")


class Hooks:
    """Hooks that record each effect they ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def _run(self, effect: Any, change: acctstate.StatusChange) -> None:
        self.ran.append(effect.key)

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = port_out = _run


@contextlib.contextmanager
def sql_store(kind: str, tmp: pathlib.Path) -> Iterator[SqlStore]:
    """A fresh SQL store on a SQLite file or in a PostgreSQL schema of its own."""
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp / f'c-{uuid.uuid4().hex[:6]}.db'}")
        store = SqlStore(UTC_WF, engine)
        store.create_schema()
        yield store
        engine.dispose()
    else:
        with pg_engine() as engine:
            store = SqlStore(UTC_WF, engine)
            store.create_schema()
            yield store


def everything(store: SqlStore) -> tuple[Any, ...]:
    """All the store holds, read outside any caller's transaction."""
    accounts = store.accounts()
    return (
        accounts,
        [list(store.history(a.id)) for a in accounts],
        store.pending(),
        store.scheduled(),
    )


def prepared(store: SqlStore) -> None:
    """A-1 active with a due scheduled change; B-1 banned (two pending effects); C-1
    suspended for a year (the archive rule moves it)."""
    store.open("A-1", "active", at=T0, imported=True)
    store.schedule("A-1", "deactivate", at=T0 + DAY)
    store.open("B-1", "active", at=T0, imported=True)
    store.fire("B-1", "ban", at=T0 + SEC)
    store.open("C-1", "suspended", at=T0 - 400 * DAY, imported=True)


# Each step writes through the caller's connection and checks, inside it, that the
# write is there.
STEPS: dict[str, Callable[[SqlStore, sa.Connection], None]] = {}


def step(fn: Callable[[SqlStore, sa.Connection], None]) -> Callable[..., None]:
    STEPS[fn.__name__] = fn
    return fn


@step
def open(store: SqlStore, conn: sa.Connection) -> None:
    store.open("D-1", "prospect", at=T0, connection=conn)
    assert store.load("D-1", connection=conn).version == 0


@step
def fire(store: SqlStore, conn: sa.Connection) -> None:
    store.fire("A-1", "suspend", at=T0 + SEC, connection=conn)
    assert [c.trigger for c in store.history("A-1", connection=conn)][-1] == "suspend"
    assert len(store.pending(account_id="A-1", connection=conn)) > 0


@step
def schedule(store: SqlStore, conn: sa.Connection) -> None:
    store.schedule("A-1", "suspend", at=T0 + 2 * DAY, connection=conn)
    assert len(store.scheduled(account_id="A-1", connection=conn)) == 2


@step
def apply_due(store: SqlStore, conn: sa.Connection) -> None:
    run = store.apply_due(at=T0 + DAY, connection=conn)
    assert len(run.applied) == 1
    assert store.load("A-1", connection=conn).version == 1


@step
def run_automation(store: SqlStore, conn: sa.Connection) -> None:
    report = store.run_automation(POLICY, now=T0 + DAY, connection=conn)
    assert report.changed == 1, report
    assert store.load("C-1", connection=conn).status == UTC_WF.catalog["archived"].code


@step
def deliver(store: SqlStore, conn: sa.Connection) -> None:
    hooks = Hooks()
    report = store.deliver(acctstate.Hooks.from_object(hooks), connection=conn)
    assert report.delivered and hooks.ran == list(report.delivered)
    assert store.pending(connection=conn) == ()


@pytest.mark.parametrize("name", sorted(STEPS))
@pytest.mark.parametrize("kind", KINDS)
def test_the_callers_rollback_undoes_the_stores_writes(
    kind: str, name: str, tmp_path: pathlib.Path
) -> None:
    """Each method, given the caller's connection, writes in the caller's transaction:
    the write is visible through that connection, and after the caller's rollback the
    store holds exactly what it held before."""
    with sql_store(kind, tmp_path) as store:
        prepared(store)
        before = everything(store)
        with store.engine.connect() as conn:
            STEPS[name](store, conn)
            conn.rollback()
        assert everything(store) == before


@pytest.mark.parametrize("kind", KINDS)
def test_the_callers_commit_keeps_every_write_at_once(kind: str, tmp_path: pathlib.Path) -> None:
    """All the methods in one caller's transaction: nothing is seen outside it until the
    caller commits, then everything is."""
    with sql_store(kind, tmp_path) as store:
        prepared(store)
        before = everything(store)
        with store.engine.connect() as conn:
            for name in ("open", "fire", "schedule", "run_automation", "deliver"):
                STEPS[name](store, conn)
            run = store.apply_due(at=T0 + DAY, connection=conn)  # refused: A-1 is suspended
            assert run.applied == () and len(run.failed) == 1
            assert everything(store) == before
            conn.commit()
        assert store.load("D-1").version == 0
        assert [c.trigger for c in store.history("A-1")][1:] == ["suspend"]
        assert store.load("C-1").status == UTC_WF.catalog["archived"].code
        assert [r.state for r in store.scheduled()] == ["failed", "pending"]
        assert store.pending() == ()


@pytest.mark.parametrize("kind", KINDS)
def test_async_callers_rollback_undoes_the_stores_writes(kind: str, tmp_path: pathlib.Path) -> None:
    """The async store passes the caller's ``AsyncConnection`` on: schedule, apply_due,
    run_automation, deliver and fire in one caller's transaction are all undone by its
    rollback."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}" if kind == "sqlite" else None

    async def main() -> None:
        with contextlib.ExitStack() as stack:
            if url is None:
                assert PG_URL is not None
                sync = stack.enter_context(pg_engine())
                schema = sync.get_execution_options()["schema_translate_map"][None]
                engine = create_async_engine(PG_URL).execution_options(
                    schema_translate_map={None: schema}
                )
            else:
                engine = create_async_engine(url)
            store = AsyncSqlStore(UTC_WF, engine)
            await store.create_schema()
            await store.open("A-1", "active", at=T0, imported=True)
            await store.schedule("A-1", "deactivate", at=T0 + DAY)
            await store.open("C-1", "suspended", at=T0 - 400 * DAY, imported=True)
            async with engine.connect() as conn:
                await store.schedule("A-1", "suspend", at=T0 + 2 * DAY, connection=conn)
                assert len((await store.apply_due(at=T0 + DAY, connection=conn)).applied) == 1
                report = await store.run_automation(POLICY, now=T0 + DAY, connection=conn)
                assert report.changed == 1
                await store.fire("A-1", "reactivate", at=T0 + DAY + SEC, connection=conn)
                hooks = acctstate.Hooks.from_object(Hooks())
                assert (await store.deliver(hooks, connection=conn)).delivered
                assert len(await store.history("A-1", connection=conn)) == 3
                assert len(await store.scheduled(connection=conn)) == 2
                assert len(await store.accounts(connection=conn)) == 2
                await conn.rollback()
            assert (await store.load("A-1")).version == 0
            assert (await store.load("C-1")).version == 0
            assert [r.trigger for r in await store.scheduled()] == ["deactivate"]
            assert await store.pending() == ()
            await engine.dispose()

    asyncio.run(main())
