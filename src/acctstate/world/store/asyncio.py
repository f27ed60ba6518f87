"""The SQL store for asyncio hosts (FastAPI, Starlette, aiohttp):
[`AsyncSqlStore`][acctstate.store.asyncio.AsyncSqlStore].

It keeps the contract of [`SqlStore`][acctstate.store.sql.SqlStore] method for method, as
coroutines, on SQLAlchemy's asyncio engine: aiosqlite on SQLite, psycopg 3 (async) on
PostgreSQL. Needs the ``async`` extra: ``pip install 'acctstate[async]'``.

It is not a second implementation: each method runs the SQL store's own code on the
async engine's connections (the way ``AsyncConnection.run_sync`` runs sync code), so
the same rules, the same transactions and the same rows come out; every database call
suspends the coroutine instead of blocking the event loop. Hooks given to
[`AsyncSqlStore.deliver`][acctstate.store.asyncio.AsyncSqlStore.deliver] may be coroutine functions:
each is awaited after its effect was claimed and before it is marked done, outside any transaction.

>>> import asyncio
>>> import datetime as dt
>>> from acctstate.presets import isp
>>> async def demo() -> None:
...     engine = create_async_engine("sqlite+aiosqlite://")
...     store = AsyncSqlStore(isp.workflow(), engine)
...     await store.create_schema()
...     t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
...     await store.open("A-1", "prospect", at=t0)
...     change = await store.fire("A-1", "register", at=t0)
...     print(change.dest.name, (await store.load("A-1")).version)
...     await engine.dispose()
>>> asyncio.run(demo())
registered_pending_activation 1
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from acctstate.values.errors import MissingDependency

try:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
    from sqlalchemy.ext.asyncio import create_async_engine as _sa_create_async_engine
    from sqlalchemy.util import greenlet_spawn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency(
        "SQLAlchemy 2",
        needed_for="acctstate.store.asyncio",
        install="pip install 'acctstate[async]'",
    ) from exc

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import AutomationPolicy
from acctstate.values.actors import Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.effects import Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import History, ScheduledChange, StatusChange
from acctstate.values.holds import Blocked, Hold
from acctstate.world.store._awaiting import (
    awaiting,
    awaiting_hooks,
    check_greenlet,
    missing_driver,
    sqlite_pragmas,
)
from acctstate.world.store._retry import (
    BACKOFF,
    LEASE,
    MAX_ATTEMPTS,
    MAX_BACKOFF,
    DeadLetterAction,
    check_hooks,
)
from acctstate.world.store._types import (
    Delivery,
    PendingEffect,
    RunReport,
    ScheduledRecord,
    ScheduleRun,
    StoredAccount,
    SweepRun,
)
from acctstate.world.store.sql import SqlStore

__all__ = ["AsyncSqlStore", "create_async_engine"]

_T = TypeVar("_T")

AsyncDecide = Callable[[StoredAccount], "str | Awaitable[str | None] | None"]
"""A sweep's rule, plain or a coroutine function: the trigger to fire, or ``None``."""


def create_async_engine(url: str | sa.URL, **kwargs: Any) -> AsyncEngine:
    """An SQLAlchemy asyncio engine set up for the store.

    For SQLite (``sqlite+aiosqlite://``) it sets what
    [`acctstate.store.sql.create_engine`][acctstate.store.sql.create_engine] sets: foreign keys, a
    busy timeout and, for a database file, the WAL journal. Other URLs
    (``postgresql+psycopg://...``, which uses psycopg 3's async connection) are passed through.

    Args:
        url: a database URL (``"sqlite+aiosqlite:///accounts.db"``).
        **kwargs: passed to `sqlalchemy.ext.asyncio.create_async_engine`.

    Raises:
        MissingDependency: the URL's async driver is not installed.

    >>> create_async_engine("sqlite+aiosqlite://").dialect.name
    'sqlite'
    """
    check_greenlet()
    try:
        engine = _sa_create_async_engine(url, **kwargs)
    except ImportError as exc:
        raise missing_driver(url, exc) from exc
    if engine.dialect.name == "sqlite":
        sqlite_pragmas(engine)
    return engine


class AsyncSqlStore:
    """A store in an SQL database, for asyncio code: [`SqlStore`][acctstate.store.sql.SqlStore]'s
    methods as coroutines.

    Every method takes and returns what the SQL store's method of the same name does,
    and raises the same errors; the methods that take ``connection=`` there take an
    ``AsyncConnection`` here (its transaction is yours: you commit).

    Args:
        workflow: the workflow every change is checked against.
        engine: an SQLAlchemy ``AsyncEngine`` (see
            [`create_async_engine`][acctstate.store.asyncio.create_async_engine]). To keep the
            tables in another PostgreSQL schema, give an engine with
            ``execution_options(schema_translate_map={None: "billing"})``.
        facts: the host's table, view or ``select()`` of facts (as for ``SqlStore``).
        facts_key: the facts' column holding the account id.

    Raises:
        InvalidArgument: ``engine`` is not an ``AsyncEngine``, or bad ``facts``.
    """

    __slots__ = ("_engine", "_store")

    def __init__(
        self,
        workflow: Workflow,
        engine: AsyncEngine,
        *,
        facts: sa.FromClause | sa.Select[Any] | None = None,
        facts_key: str = "id",
    ) -> None:
        if not isinstance(engine, AsyncEngine):
            raise InvalidArgument(
                "engine", engine, "an sqlalchemy AsyncEngine (see create_async_engine)"
            )
        check_greenlet()
        self._engine = engine
        self._store = SqlStore(workflow, engine.sync_engine, facts=facts, facts_key=facts_key)

    def __repr__(self) -> str:
        return f"<AsyncSqlStore {self.workflow.name!r} on {self._engine.url!r}>"

    @property
    def workflow(self) -> Workflow:
        """The workflow every change is checked against."""
        return self._store.workflow

    @property
    def engine(self) -> AsyncEngine:
        """The engine the store uses."""
        return self._engine

    async def _run(
        self, connection: AsyncConnection | None, fn: Callable[..., _T], *args: Any, **kwargs: Any
    ) -> _T:
        """``fn(*args, **kwargs)`` on the async engine; inside ``connection``'s transaction
        (as ``connection=``) when one is given."""
        if connection is None:
            return await greenlet_spawn(fn, *args, **kwargs)
        if not isinstance(connection, AsyncConnection):
            raise InvalidArgument("connection", connection, "an sqlalchemy AsyncConnection or None")
        return await connection.run_sync(lambda conn: fn(*args, connection=conn, **kwargs))

    # -- schema -----------------------------------------------------------------------

    async def create_schema(self) -> None:
        """Create the store's tables and indexes where they do not exist yet."""
        await self._run(None, self._store.create_schema)

    async def drop_schema(self) -> None:
        """Drop the store's tables (everything stored is lost)."""
        await self._run(None, self._store.drop_schema)

    # -- accounts ---------------------------------------------------------------------

    async def open(
        self,
        account_id: str,
        status: StatusRef,
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        imported: bool = False,
        connection: AsyncConnection | None = None,
    ) -> StoredAccount:
        """Add an account in ``status`` at version 0 (see
        `SqlStore.open`).

         Raises:
             InvalidArgument: the id is taken, or ``status`` is not an initial status.
        """
        return await self._run(
            connection,
            self._store.open,
            account_id,
            status,
            at=at,
            actor=actor,
            reason=reason,
            note=note,
            imported=imported,
        )

    async def load(
        self, account_id: str, *, connection: AsyncConnection | None = None
    ) -> StoredAccount:
        """The account's current state.

        Raises:
            InvalidArgument: no such account.
        """
        return await self._run(connection, self._store.load, account_id)

    async def accounts(
        self,
        *,
        statuses: Sequence[StatusRef] | None = None,
        connection: AsyncConnection | None = None,
    ) -> tuple[StoredAccount, ...]:
        """Every stored account (optionally only those in ``statuses``), by id."""
        return await self._run(connection, self._store.accounts, statuses=statuses)

    async def history(
        self, account_id: str, *, connection: AsyncConnection | None = None
    ) -> History:
        """The account's full history, effects included (instants in UTC).

        Raises:
            InvalidArgument: no such account.
        """
        return await self._run(connection, self._store.history, account_id)

    # -- firing -----------------------------------------------------------------------

    async def fire(
        self,
        account_id: str,
        trigger: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        expected_version: int | None = None,
        retries: int = 0,
        connection: AsyncConnection | None = None,
        **data: Any,
    ) -> StatusChange:
        """Fire ``trigger`` on the stored account; record the change and its effects
        (see `SqlStore.fire`).

        It also raises every error of
        [`acctstate.workflow.Workflow.plan`][acctstate.workflow.Workflow.plan].

        Raises:
            ConcurrentChange: the account is not at ``expected_version``, or another
                writer won and the retries ran out.
            InvalidArgument: unknown account, or the change's effect keys are taken.
        """
        return await self._run(
            connection,
            self._store.fire,
            account_id,
            trigger,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            expected_version=expected_version,
            retries=retries,
            **data,
        )

    # -- holds ------------------------------------------------------------------------

    async def holds(
        self, account_id: str, *, connection: AsyncConnection | None = None
    ) -> tuple[Hold, ...]:
        """The holds standing on the account, in the order they were placed (UTC)."""
        return await self._run(connection, self._store.holds, account_id)

    async def why_blocked(self, account_id: str, capability: str) -> Blocked:
        """Every reason ``capability`` is blocked on the stored account (see
        `SqlStore.why_blocked`)."""
        return await self._run(None, self._store.why_blocked, account_id, capability)

    async def place_hold(
        self,
        account_id: str,
        hold_type: str,
        *,
        at: dt.datetime,
        connection: AsyncConnection | None = None,
        **kwargs: Any,
    ) -> StatusChange:
        """Place a hold on the stored account (see `SqlStore.place_hold`; the same
        arguments and errors)."""
        return await self._run(
            connection, self._store.place_hold, account_id, hold_type, at=at, **kwargs
        )

    async def release_hold(
        self,
        account_id: str,
        hold: Hold | str,
        *,
        at: dt.datetime,
        connection: AsyncConnection | None = None,
        **kwargs: Any,
    ) -> StatusChange:
        """Release one standing hold of the stored account (see `SqlStore.release_hold`;
        the same arguments and errors)."""
        return await self._run(
            connection, self._store.release_hold, account_id, hold, at=at, **kwargs
        )

    # -- the outbox -------------------------------------------------------------------

    async def pending(
        self, *, account_id: str | None = None, connection: AsyncConnection | None = None
    ) -> tuple[PendingEffect, ...]:
        """The effects not carried out yet (dead letters included), oldest first."""
        return await self._run(connection, self._store.pending, account_id=account_id)

    async def deliver(
        self,
        hooks: Hooks | None = None,
        *,
        limit: int = 1000,
        account_id: str | None = None,
        skip_unhandled: bool = False,
        transactional: bool = False,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: dt.timedelta = BACKOFF,
        max_backoff: dt.timedelta = MAX_BACKOFF,
        lease: dt.timedelta = LEASE,
        connection: AsyncConnection | None = None,
    ) -> Delivery:
        """Run pending effects through ``hooks``, oldest first per account; mark each done
        (see `SqlStore.deliver`).

        A hook may be a plain method or a coroutine function (``async def
        provision(self, effect, change)``). Each effect is claimed in a short
        transaction, its hook is awaited with no transaction open, and it is marked
        done in another one. With ``transactional=True`` a coroutine hook is called with
        ``connection=`` an ``AsyncConnection`` inside the transaction that marks the
        effect done. A plain hook runs on the event loop: keep it quick.

        Returns:
            A [`Delivery`][acctstate.store.Delivery].

        Raises:
            InvalidArgument: no hooks, or a bad ``limit`` or retry setting.
        """
        run = awaiting_hooks(check_hooks(hooks, self.workflow.hooks), self._engine)
        return await self._run(
            connection,
            self._store.deliver,
            run,
            limit=limit,
            account_id=account_id,
            skip_unhandled=skip_unhandled,
            transactional=transactional,
            max_attempts=max_attempts,
            backoff=backoff,
            max_backoff=max_backoff,
            lease=lease,
        )

    async def dead_letters(
        self, *, account_id: str | None = None, connection: AsyncConnection | None = None
    ) -> tuple[PendingEffect, ...]:
        """The effects that ran out of attempts, oldest first."""
        return await self._run(connection, self._store.dead_letters, account_id=account_id)

    async def dead_letter_log(
        self, *, account_id: str | None = None, connection: AsyncConnection | None = None
    ) -> tuple[DeadLetterAction, ...]:
        """The effects given up on and the operators' decisions about them, by time."""
        return await self._run(connection, self._store.dead_letter_log, account_id=account_id)

    async def retry_dead(
        self,
        key: str,
        *,
        reason: str,
        actor: Actor | None = None,
        connection: AsyncConnection | None = None,
    ) -> PendingEffect:
        """Send a dead letter back to the queue (its attempts start again).

        Raises:
            InvalidArgument: no dead letter has this key, or ``reason`` is empty.
        """
        return await self._run(connection, self._store.retry_dead, key, reason=reason, actor=actor)

    async def skip_dead(
        self,
        key: str,
        *,
        reason: str,
        actor: Actor | None = None,
        connection: AsyncConnection | None = None,
    ) -> PendingEffect:
        """Mark a dead letter done without running it; its account's later effects go on.

        Raises:
            InvalidArgument: no dead letter has this key, or ``reason`` is empty.
        """
        return await self._run(connection, self._store.skip_dead, key, reason=reason, actor=actor)

    async def prune(self, *, before: dt.datetime, connection: AsyncConnection | None = None) -> int:
        """Delete the outbox rows of effects carried out before ``before``; how many.

        Raises:
            InvalidArgument: a naive ``before``.
        """
        return await self._run(connection, self._store.prune, before=before)

    # -- scheduled changes ------------------------------------------------------------

    async def schedule(
        self,
        account_id: str,
        trigger: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        id: str | None = None,
        connection: AsyncConnection | None = None,
        **data: Any,
    ) -> ScheduledRecord:
        """Record a change to make at ``at``; scheduling the same id again is a no-op.

        Raises:
            InvalidArgument: unknown account, naive ``at``, or a bad argument.
        """
        return await self._run(
            connection,
            self._store.schedule,
            account_id,
            trigger,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            id=id,
            **data,
        )

    async def schedule_change(self, entry: ScheduledChange) -> ScheduledRecord:
        """Record a pending [`ScheduledChange`][acctstate.history.ScheduledChange] under its id.

        Raises:
            InvalidArgument: ``entry`` is not a pending ``ScheduledChange``.
        """
        return await self._run(None, self._store.schedule_change, entry)

    async def scheduled(
        self,
        *,
        account_id: str | None = None,
        state: str | None = None,
        connection: AsyncConnection | None = None,
    ) -> tuple[ScheduledRecord, ...]:
        """The scheduled changes, by time then id."""
        return await self._run(
            connection, self._store.scheduled, account_id=account_id, state=state
        )

    async def apply_due(
        self,
        *,
        at: dt.datetime,
        chunk: int = 100,
        max_chunks: int | None = None,
        connection: AsyncConnection | None = None,
    ) -> ScheduleRun:
        """Make the scheduled changes due at ``at``, oldest first, each once (with
        ``connection=``, each in a savepoint of your transaction).

        Returns:
            A [`ScheduleRun`][acctstate.store.ScheduleRun].
        """
        return await self._run(
            connection, self._store.apply_due, at=at, chunk=chunk, max_chunks=max_chunks
        )

    # -- bulk work --------------------------------------------------------------------

    async def sweep(
        self,
        decide: AsyncDecide,
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        statuses: Sequence[StatusRef] | None = None,
        chunk: int = 500,
        after: str | None = None,
        max_chunks: int | None = None,
    ) -> SweepRun:
        """Fire ``decide(account)`` on stored accounts in id order, ``chunk`` at a time;
        ``decide`` may be a coroutine function.

        Returns:
            A [`SweepRun`][acctstate.store.SweepRun].
        """
        return await self._run(
            None,
            self._store.sweep,
            awaiting(decide),
            at=at,
            actor=actor,
            statuses=statuses,
            chunk=chunk,
            after=after,
            max_chunks=max_chunks,
        )

    async def run_automation(
        self,
        policy: AutomationPolicy | Sequence[AutomationPolicy],
        *,
        now: dt.datetime,
        chunk: int = 10_000,
        connection: AsyncConnection | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> RunReport:
        """Run the automation's rules over every stored account, set-based, in id order
        (see `SqlStore.run_automation`);
        ``progress`` may be a coroutine function.

        Returns:
            A [`RunReport`][acctstate.store.RunReport].

        Raises:
            InvalidArgument: a naive ``now``, a bad ``chunk`` or ``progress``, or a
                policy on another workflow.
        """
        report = awaiting(progress) if callable(progress) else progress
        return await self._run(
            connection, self._store.run_automation, policy, now=now, chunk=chunk, progress=report
        )
