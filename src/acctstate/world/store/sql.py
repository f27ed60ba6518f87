"""A :class:`~acctstate.store.Store` on a relational database through SQLAlchemy 2.

SQLite is the embedded default and PostgreSQL the production target; both are tested.
Needs the ``sql`` extra: ``pip install 'acctstate[sql]'``.

Every write is one transaction. Firing reads the account row, plans the change with the
workflow against that stored state, updates the row with a compare-and-set on its
``version``, and inserts the history row and the change's effects into the outbox.
:meth:`SqlStore.deliver` then runs the effects, one transaction per effect: it claims
the oldest pending effect of an account whose earlier effects are all done (on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so deliverers in parallel never take the
same one), runs the hook, and marks it done in the same transaction.

>>> import datetime as dt
>>> from acctstate.presets import isp
>>> store = SqlStore(isp.workflow(), create_engine("sqlite://"))
>>> store.create_schema()
>>> t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
>>> _ = store.open("A-1", "prospect", at=t0)
>>> store.fire("A-1", "register", at=t0).dest.name
'registered_pending_activation'
>>> store.load("A-1")
StoredAccount(id='A-1', status=32, status_since=datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.timezone.utc), version=1)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from acctstate.values.errors import MissingDependency

try:
    import sqlalchemy as sa
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency(
        "SQLAlchemy 2", needed_for="acctstate.store.sql", install="pip install 'acctstate[sql]'"
    ) from exc

from acctstate.core.workflow import Workflow
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.effects import Hooks
from acctstate.values.errors import ConcurrentChange, InvalidArgument
from acctstate.values.history import History, StatusChange
from acctstate.world.store import Delivery, PendingEffect, ScheduledRecord, StoredAccount
from acctstate.world.store._base import BaseStore
from acctstate.world.store._codec import (
    actor_columns,
    actor_from,
    check_count,
    check_id,
    data_from,
    data_json,
    effect_from,
    effect_payload,
    error_text,
    normalised,
)
from acctstate.world.store._schema import accounts, history, metadata, outbox, scheduled
from acctstate.world.store.memory import duplicate_key, unknown_account

__all__ = ["SqlStore", "create_engine", "metadata"]


def create_engine(url: str | sa.URL, **kwargs: Any) -> sa.Engine:
    """An SQLAlchemy engine set up for the store.

    For SQLite it turns on foreign keys, and for a database file the WAL journal (readers
    do not wait for the writer) with ``synchronous=NORMAL`` and a busy timeout, so that
    several threads and processes can share the file. Other URLs are passed through.

    Args:
        url: a database URL (``"sqlite:///accounts.db"``,
            ``"postgresql+psycopg://user@host/db"``).
        **kwargs: passed to :func:`sqlalchemy.create_engine`.

    >>> create_engine("sqlite://").dialect.name
    'sqlite'
    """
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        on_disk = engine.url.database not in (None, "", ":memory:")

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            if on_disk:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def _account(row: sa.Row[Any]) -> StoredAccount:
    return StoredAccount(row.id, row.status, row.status_since, row.version)


def _record(row: sa.Row[Any]) -> ScheduledRecord:
    return ScheduledRecord(
        id=row.id,
        account_id=row.account_id,
        trigger=row.trigger,
        at=row.at,
        reason=row.reason,
        note=row.note,
        actor=actor_from(row.actor_id, row.actor_kind, row.actor_permissions),
        data=data_from(row.data),
        state=row.state,
        version=row.version,
        error=row.error,
    )


_LOAD = sa.select(accounts).where(accounts.c.id == sa.bindparam("id"))
_CAS = (
    accounts.update()
    .where(accounts.c.id == sa.bindparam("b_id"), accounts.c.version == sa.bindparam("b_version"))
    .values(
        status=sa.bindparam("status"),
        status_since=sa.bindparam("status_since"),
        version=sa.bindparam("version"),
    )
)
_INSERT_HISTORY = history.insert()
_INSERT_OUTBOX = outbox.insert()
_TAKEN = sa.select(outbox.c.key).where(outbox.c.key.in_(sa.bindparam("keys", expanding=True)))


class SqlStore(BaseStore):
    """A :class:`~acctstate.store.Store` in an SQL database (SQLite or PostgreSQL).

    Args:
        workflow: the workflow every change is checked against.
        engine: an SQLAlchemy ``Engine`` (see :func:`create_engine` for SQLite). To keep
            the tables in another PostgreSQL schema, give an engine with
            ``execution_options(schema_translate_map={None: "billing"})``.

    Raises:
        InvalidArgument: ``engine`` is not an SQLAlchemy ``Engine``.
    """

    __slots__ = ("_engine", "_locking", "_sqlite")

    def __init__(self, workflow: Workflow, engine: sa.Engine) -> None:
        super().__init__(workflow)
        if not isinstance(engine, sa.Engine):
            raise InvalidArgument("engine", engine, "an sqlalchemy.Engine")
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._locking = engine.dialect.name in ("postgresql", "mysql", "mariadb", "oracle")

    def __repr__(self) -> str:
        return f"<SqlStore {self._workflow.name!r} on {self._engine.url!r}>"

    @property
    def engine(self) -> sa.Engine:
        """The engine the store uses."""
        return self._engine

    def create_schema(self) -> None:
        """Create the store's tables and indexes where they do not exist yet."""
        metadata.create_all(self._engine)

    def drop_schema(self) -> None:
        """Drop the store's tables (everything stored is lost)."""
        metadata.drop_all(self._engine)

    @contextmanager
    def _tx(self, connection: sa.Connection | None = None) -> Iterator[sa.Connection]:
        if connection is not None:
            # The caller owns the transaction: it commits (or rolls back) our writes
            # together with its own. Refusals are raised before the first write.
            yield connection
            return
        with self._engine.connect() as conn:
            if self._sqlite:
                # Take the write lock up front: a deferred transaction that reads and
                # then writes can fail to upgrade its lock when another writer is active.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    # -- accounts ---------------------------------------------------------------------

    def open(
        self,
        account_id: str,
        status: StatusRef,
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        imported: bool = False,
        connection: sa.Connection | None = None,
    ) -> StoredAccount:
        """Add an account in ``status`` at version 0, its history opened with that fact.

        Args:
            connection: run inside this connection's transaction (the caller commits).

        Raises:
            InvalidArgument: the id is taken, or ``status`` is not an initial status
                (pass ``imported=True`` to bring in an existing account).
        """
        check_id(account_id)
        account = self._workflow.open(
            account_id, status, at=at, actor=actor, reason=reason, note=note, imported=imported
        )
        opening = normalised(account.history[0])
        stored = StoredAccount(account_id, opening.dest.code, opening.at, 0)
        with self._tx(connection) as conn:
            if conn.execute(_LOAD, {"id": account_id}).first() is not None:
                raise InvalidArgument("account_id", account_id, "an id not yet in the store")
            conn.execute(
                accounts.insert(),
                {
                    "id": account_id,
                    "status": stored.status,
                    "status_since": opening.at,
                    "version": 0,
                },
            )
            conn.execute(_INSERT_HISTORY, self._history_row(opening, 0))
        return stored

    @staticmethod
    def _history_row(change: StatusChange, version: int) -> dict[str, Any]:
        actor_id, actor_kind, permissions = actor_columns(change.actor)
        return {
            "account_id": change.account_id,
            "version": version,
            "trigger": change.trigger,
            "source": change.source.code,
            "dest": change.dest.code,
            "at": change.at,
            "recorded_at": change.recorded_at,
            "reason": change.reason,
            "note": change.note,
            "actor_id": actor_id,
            "actor_kind": actor_kind,
            "actor_permissions": permissions,
        }

    def load(self, account_id: str, *, connection: sa.Connection | None = None) -> StoredAccount:
        """The account's current state.

        Raises:
            InvalidArgument: no such account.
        """
        if connection is not None:
            row = connection.execute(_LOAD, {"id": account_id}).first()
        else:
            with self._engine.connect() as conn:
                row = conn.execute(_LOAD, {"id": account_id}).first()
        if row is None:
            raise unknown_account(account_id)
        return _account(row)

    def accounts(self, *, statuses: Sequence[StatusRef] | None = None) -> tuple[StoredAccount, ...]:
        """Every stored account (optionally only those in ``statuses``), by id."""
        query = sa.select(accounts).order_by(accounts.c.id)
        if statuses is not None:
            codes = {self._workflow.catalog[s].code for s in statuses}
            query = query.where(accounts.c.status.in_(sorted(codes)))
        with self._engine.connect() as conn:
            return tuple(_account(r) for r in conn.execute(query))

    def _change(self, row: Any, effects: Sequence[Any]) -> tuple[int, StatusChange]:
        catalog = self._workflow.catalog
        change = StatusChange(
            row.account_id,
            catalog[row.source],
            catalog[row.dest],
            row.trigger,
            row.at,
            row.recorded_at,
            row.reason,
            row.note,
            actor_from(row.actor_id, row.actor_kind, row.actor_permissions),
            tuple(effect_from(e.kind, e.key, e.payload) for e in effects),
        )
        return row.version, change

    def history(self, account_id: str) -> History:
        """The account's full history, effects included (instants in UTC).

        Raises:
            InvalidArgument: no such account.
        """
        with self._engine.connect() as conn:
            if conn.execute(_LOAD, {"id": account_id}).first() is None:
                raise unknown_account(account_id)
            rows = conn.execute(
                sa.select(history)
                .where(history.c.account_id == account_id)
                .order_by(history.c.version)
            ).all()
            effects: dict[int, list[Any]] = {}
            for e in conn.execute(
                sa.select(outbox.c.version, outbox.c.kind, outbox.c.key, outbox.c.payload)
                .where(outbox.c.account_id == account_id)
                .order_by(outbox.c.version, outbox.c.position)
            ):
                effects.setdefault(e.version, []).append(e)
        return History([self._change(r, effects.get(r.version, []))[1] for r in rows])

    # -- firing -----------------------------------------------------------------------

    def fire(
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
        connection: sa.Connection | None = None,
        **data: Any,
    ) -> StatusChange:
        """Fire ``trigger`` on the stored account; record the change and its effects.

        One transaction: read the account, plan with the workflow (guards see the
        stored state and ``data``), update the row where its version is still the one
        read, insert the history row and the outbox rows.

        Args:
            account_id: the account.
            trigger: the trigger name.
            at: the effective time (timezone-aware).
            reason: a reason code.
            note: free text for the history.
            actor: who fires it.
            expected_version: fail unless the account is still at this version (the
                version you read before deciding to fire).
            retries: re-plan against the new state this many times when another writer
                wins the race (not with ``expected_version`` or ``connection``).
            connection: run inside this connection's transaction; the caller commits.
            **data: event data for guards and effect rules.

        Returns:
            The change made (its effects are pending in the outbox).

        Raises:
            ConcurrentChange: the account is not at ``expected_version``, or another
                writer won and the retries ran out.
            InvalidArgument: unknown account, or the change's effect keys are taken.
            (and every error of :meth:`acctstate.Workflow.plan`)
        """
        if connection is not None and retries:
            raise InvalidArgument(
                "retries", retries, "0 when a connection is given (the caller's transaction)"
            )
        return self._fire(
            account_id,
            trigger,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            expected_version=expected_version,
            retries=retries,
            data=data,
            options={"connection": connection},
        )

    def _fire_once(
        self,
        account_id: str,
        trigger: str,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        expected_version: int | None,
        data: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> StatusChange:
        caller = options.get("connection")
        args = (account_id, trigger, at, reason, note, actor, expected_version, data)
        if caller is not None:
            # The caller's transaction must not see an error from a write: check first.
            with self._tx(caller) as conn:
                return self._fire_in(conn, *args, precheck=True)
        try:
            # One round trip fewer: the outbox's unique key refuses a repeated change,
            # the whole transaction rolls back, and nothing is written.
            with self._tx() as conn:
                return self._fire_in(conn, *args, precheck=False)
        except sa.exc.IntegrityError:
            # Run the careful path to raise the precise error (ConcurrentChange or the
            # repeated change), or succeed if the clash has gone.
            with self._tx() as conn:
                return self._fire_in(conn, *args, precheck=True)

    def _fire_in(
        self,
        conn: sa.Connection,
        account_id: str,
        trigger: str,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        expected_version: int | None,
        data: Mapping[str, Any],
        *,
        precheck: bool = True,
    ) -> StatusChange:
        row = conn.execute(_LOAD, {"id": account_id}).first()
        if row is None:
            raise unknown_account(account_id)
        stored = _account(row)
        if expected_version is not None and stored.version != expected_version:
            raise ConcurrentChange(
                account_id=account_id,
                expected_version=expected_version,
                actual_version=stored.version,
            )
        change = normalised(
            self._workflow.plan(
                stored, trigger, at=at, reason=reason, note=note, actor=actor, **data
            )
        )
        payloads = [effect_payload(e) for e in change.effects]
        if change.effects and precheck:
            keys = [e.key for e in change.effects]
            taken = conn.execute(_TAKEN, {"keys": keys}).scalars().first()
            if taken is not None:
                # Under READ COMMITTED each statement sees the latest commits: keys that
                # appeared since the account was read belong to a writer that just won.
                now = conn.execute(_LOAD, {"id": account_id}).one()
                if now.version != stored.version:
                    raise ConcurrentChange(
                        account_id=account_id,
                        expected_version=stored.version,
                        actual_version=now.version,
                    )
                raise duplicate_key(account_id, trigger, at, taken)
        version = stored.version + 1
        updated = conn.execute(
            _CAS,
            {
                "b_id": account_id,
                "b_version": stored.version,
                "status": change.dest.code,
                "status_since": change.at,
                "version": version,
            },
        )
        if updated.rowcount != 1:
            found = conn.execute(_LOAD, {"id": account_id}).first()
            raise ConcurrentChange(
                account_id=account_id,
                expected_version=stored.version,
                actual_version=None if found is None else found.version,
            )
        conn.execute(_INSERT_HISTORY, self._history_row(change, version))
        if change.effects:
            created = self._workflow.clock.now()
            conn.execute(
                _INSERT_OUTBOX,
                [
                    {
                        "key": e.key,
                        "account_id": account_id,
                        "version": version,
                        "position": i,
                        "kind": e.kind,
                        "payload": payload,
                        "created_at": created,
                        "attempts": 0,
                    }
                    for i, (e, payload) in enumerate(zip(change.effects, payloads, strict=True))
                ],
            )
        return change

    # -- outbox -----------------------------------------------------------------------

    def pending(self, *, account_id: str | None = None) -> tuple[PendingEffect, ...]:
        """The effects not carried out yet, oldest first."""
        query = sa.select(outbox).where(outbox.c.done_at.is_(None)).order_by(outbox.c.seq)
        if account_id is not None:
            query = query.where(outbox.c.account_id == account_id)
        with self._engine.connect() as conn:
            return tuple(
                PendingEffect(
                    r.key,
                    r.account_id,
                    r.version,
                    effect_from(r.kind, r.key, r.payload),
                    r.attempts,
                    r.last_error,
                )
                for r in conn.execute(query)
            )

    def _claim(
        self, conn: sa.Connection, blocked: set[str], account_id: str | None
    ) -> sa.Row[Any] | None:
        earlier = outbox.alias("earlier")
        query = (
            sa.select(outbox)
            .where(
                outbox.c.done_at.is_(None),
                ~sa.exists().where(
                    earlier.c.account_id == outbox.c.account_id,
                    earlier.c.done_at.is_(None),
                    earlier.c.seq < outbox.c.seq,
                ),
            )
            .order_by(outbox.c.seq)
            .limit(1)
        )
        if account_id is not None:
            query = query.where(outbox.c.account_id == account_id)
        if blocked:
            query = query.where(outbox.c.account_id.not_in(sorted(blocked)))
        if self._locking:
            # The row stays locked while its hook runs; other deliverers skip it, and
            # the account's next effect is not eligible until this one is done.
            query = query.with_for_update(skip_locked=True, of=outbox)
        return conn.execute(query).first()

    def _change_of(self, conn: sa.Connection, account_id: str, version: int) -> StatusChange:
        row = conn.execute(
            sa.select(history).where(
                history.c.account_id == account_id, history.c.version == version
            )
        ).one()
        effects = conn.execute(
            sa.select(outbox.c.kind, outbox.c.key, outbox.c.payload)
            .where(outbox.c.account_id == account_id, outbox.c.version == version)
            .order_by(outbox.c.position)
        ).all()
        return self._change(row, effects)[1]

    def deliver(
        self,
        hooks: Hooks | None = None,
        *,
        limit: int = 1000,
        account_id: str | None = None,
        skip_unhandled: bool = False,
    ) -> Delivery:
        """Run pending effects through ``hooks``, oldest first per account; mark each done.

        Each effect is one transaction: claim it, run its hook, mark it done, commit.
        A crash before the commit leaves it pending, and the next ``deliver`` runs it
        (hooks get the effect's ``key``: make them idempotent on it). On SQLite the
        claim holds the database's write lock while the hook runs.

        Args:
            hooks: the host's hooks (default: the workflow's).
            limit: run at most this many effects.
            account_id: only this account's effects.
            skip_unhandled: mark effects that have no hook as done instead of failing.

        Returns:
            A :class:`~acctstate.store.Delivery`. A failed effect stays pending (its
            attempts and last error recorded), and the same account's later effects
            wait behind it.
        """
        run = hooks if hooks is not None else self._workflow.hooks
        if run is None or not isinstance(run, Hooks):
            raise InvalidArgument("hooks", run, "an acctstate.Hooks (or a workflow with hooks)")
        check_count(limit, "limit")
        delivered: list[str] = []
        skipped: list[str] = []
        failed: list[tuple[str, str]] = []
        blocked: set[str] = set()
        while len(delivered) + len(skipped) < limit:
            with self._tx() as conn:
                row = self._claim(conn, blocked, account_id)
                if row is None:
                    break
                effect = effect_from(row.kind, row.key, row.payload)
                handler = run.handler(effect)
                error: str | None = None
                if handler is None:
                    if not skip_unhandled:
                        error = f"no hook handles {effect.kind!r} effects"
                else:
                    try:
                        handler(effect, self._change_of(conn, row.account_id, row.version))
                    except Exception as exc:
                        error = error_text(exc)
                done = outbox.update().where(outbox.c.seq == row.seq)
                if error is None:
                    conn.execute(
                        done.values(
                            done_at=self._workflow.clock.now(),
                            outcome="delivered" if handler is not None else "skipped",
                            attempts=row.attempts + 1,
                        )
                    )
                    (delivered if handler is not None else skipped).append(row.key)
                else:
                    conn.execute(done.values(attempts=row.attempts + 1, last_error=error))
                    failed.append((row.key, error))
                    blocked.add(row.account_id)
        return Delivery(tuple(delivered), tuple(skipped), tuple(failed))

    # -- scheduled changes ------------------------------------------------------------

    def _add_scheduled(self, record: ScheduledRecord) -> ScheduledRecord:
        account_id = record.account_id
        by_id = sa.select(scheduled).where(scheduled.c.id == record.id)
        with self._tx() as conn:
            if conn.execute(_LOAD, {"id": account_id}).first() is None:
                raise unknown_account(account_id)
            existing = conn.execute(by_id).first()
            if existing is not None:
                return _record(existing)
            actor_id, actor_kind, permissions = actor_columns(record.actor)
            conn.execute(
                scheduled.insert(),
                {
                    "id": record.id,
                    "account_id": record.account_id,
                    "trigger": record.trigger,
                    "at": record.at,
                    "reason": record.reason,
                    "note": record.note,
                    "actor_id": actor_id,
                    "actor_kind": actor_kind,
                    "actor_permissions": permissions,
                    "data": data_json(record.data),
                    "state": "pending",
                },
            )
        return record

    def scheduled(
        self, *, account_id: str | None = None, state: str | None = None
    ) -> tuple[ScheduledRecord, ...]:
        """The scheduled changes, by time then id."""
        self._check_state(state)
        query = sa.select(scheduled).order_by(scheduled.c.at, scheduled.c.id)
        if account_id is not None:
            query = query.where(scheduled.c.account_id == account_id)
        if state is not None:
            query = query.where(scheduled.c.state == state)
        with self._engine.connect() as conn:
            return tuple(_record(r) for r in conn.execute(query))

    def _due(self, at: dt.datetime, limit: int) -> list[ScheduledRecord]:
        query = (
            sa.select(scheduled)
            .where(scheduled.c.state == "pending", scheduled.c.at <= at)
            .order_by(scheduled.c.at, scheduled.c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]

    def _apply_scheduled(self, record: ScheduledRecord) -> StatusChange | None:
        mine = scheduled.c.id == record.id
        with self._tx() as conn:
            # Claim first: a second runner blocks on this row (PostgreSQL) or on the
            # write lock (SQLite), then finds it no longer pending and does nothing.
            claimed = conn.execute(
                scheduled.update()
                .where(mine, scheduled.c.state == "pending")
                .values(state="applied")
            )
            if claimed.rowcount != 1:
                return None
            change = self._fire_in(
                conn,
                record.account_id,
                record.trigger,
                record.at,
                record.reason,
                record.note,
                record.actor or SYSTEM,
                None,
                dict(record.data),
            )
            version = conn.execute(_LOAD, {"id": record.account_id}).one().version
            conn.execute(scheduled.update().where(mine).values(version=version))
            return change

    def _mark_failed(self, record: ScheduledRecord, error: str) -> None:
        with self._tx() as conn:
            conn.execute(
                scheduled.update()
                .where(scheduled.c.id == record.id, scheduled.c.state == "pending")
                .values(state="failed", error=error)
            )

    def _accounts_after(
        self, after: str | None, limit: int, codes: tuple[int, ...] | None
    ) -> list[StoredAccount]:
        query = sa.select(accounts).order_by(accounts.c.id).limit(limit)
        if after is not None:
            query = query.where(accounts.c.id > after)
        if codes is not None:
            query = query.where(accounts.c.status.in_(codes))
        with self._engine.connect() as conn:
            return [_account(r) for r in conn.execute(query)]
