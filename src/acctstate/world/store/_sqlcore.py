"""The SQL store's core: the engine, transactions, accounts, history and firing.

[`SqlStore`][acctstate.store.sql.SqlStore] adds delivery and scheduling to it (``_delivery``,
``_sqlschedule``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa

from acctstate.core.workflow import Workflow
from acctstate.values.actors import Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.errors import ConcurrentChange, InvalidArgument
from acctstate.values.history import History, StatusChange
from acctstate.world.store._base import BaseStore
from acctstate.world.store._codec import (
    actor_from,
    check_id,
    check_version,
    check_written,
    duplicate_key,
    effect_from,
    effect_payload,
    lost_race,
    normalised,
    unknown_account,
)
from acctstate.world.store._facts import AccountView
from acctstate.world.store._holdrows import standing
from acctstate.world.store._schema import accounts, history, metadata, outbox
from acctstate.world.store._sqlengine import (
    CAS,
    INSERT_HISTORY,
    INSERT_OUTBOX,
    LOAD,
    TAKEN,
    account_of,
    history_row,
)
from acctstate.world.store._types import StoredAccount

__all__ = ["SqlBase", "begin_for_real", "check_tenant", "facts_from"]

# Up to the version read: a writer that commits in between (READ COMMITTED) must make
# this plan lose its compare-and-set, not see a history ahead of the row it read.
_PAST = (
    sa.select(history)
    .where(
        history.c.tenant == sa.bindparam("tenant"),
        history.c.account_id == sa.bindparam("id"),
        history.c.version <= sa.bindparam("v"),
    )
    .order_by(history.c.version)
)


def begin_for_real(conn: sa.Connection) -> None:
    """Open the SQLite transaction of a caller's connection now, if the driver has not.

    Python's sqlite3 driver only sends ``BEGIN`` before its first ``INSERT``/``UPDATE``;
    a savepoint taken before that is a transaction of its own, committed by its
    ``RELEASE``, and the caller's rollback would find nothing to undo.
    """
    raw: Any = conn.connection.dbapi_connection
    inner = getattr(raw, "_connection", raw)  # the aiosqlite adapter wraps its connection
    if not getattr(inner, "in_transaction", True):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def facts_from(facts: object, key: str) -> tuple[sa.FromClause | None, str]:
    """The host's facts as a ``FromClause`` with a ``key`` column (a ``Select`` becomes a
    subquery).

    Raises:
        InvalidArgument: ``facts`` is not a table, view or select, or has no ``key`` column.
    """
    if facts is None:
        return None, key
    if isinstance(facts, sa.Select):
        facts = facts.subquery("acctstate_facts")
    if not isinstance(facts, sa.FromClause):
        raise InvalidArgument(
            "facts", facts, "an SQLAlchemy table, view or select() of the host's facts, or None"
        )
    if key not in facts.c:
        raise InvalidArgument(
            "facts_key", key, f"a column of the facts ({', '.join(sorted(facts.c.keys()))})"
        )
    return facts, key


def check_tenant(tenant: object) -> str:
    """``tenant`` when it is a tenant name (text of at most 100 characters).

    Raises:
        InvalidArgument: not text, too long, or holding a NUL.
    """
    if not isinstance(tenant, str) or len(tenant) > 100 or "\x00" in tenant:
        raise InvalidArgument("tenant", tenant, "a tenant name: text of at most 100 characters")
    return tenant


class SqlBase(BaseStore):
    """The SQL store's engine, accounts, history and firing (see ``SqlStore``)."""

    __slots__ = ("_engine", "_facts", "_facts_key", "_locking", "_sqlite", "_tenant")

    def __init__(
        self,
        workflow: Workflow,
        engine: sa.Engine,
        *,
        facts: sa.FromClause | sa.Select[Any] | None = None,
        facts_key: str = "id",
        tenant: str = "",
    ) -> None:
        super().__init__(workflow)
        if not isinstance(engine, sa.Engine):
            raise InvalidArgument("engine", engine, "an sqlalchemy.Engine")
        self._tenant = check_tenant(tenant)
        self._engine = engine
        self._facts, self._facts_key = facts_from(facts, facts_key)
        self._sqlite = engine.dialect.name == "sqlite"
        self._locking = engine.dialect.name in ("postgresql", "mysql", "mariadb", "oracle")

    def __repr__(self) -> str:
        return f"<SqlStore {self._workflow.name!r} on {self._engine.url!r}>"

    @property
    def engine(self) -> sa.Engine:
        """The engine the store uses."""
        return self._engine

    @property
    def tenant(self) -> str:
        """The tenant whose rows this store reads and writes (``''``: the default)."""
        return self._tenant

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
            if self._sqlite:
                begin_for_real(connection)
            yield connection
            return
        with self._engine.connect() as conn:
            if self._sqlite:
                # Take the write lock up front: a deferred transaction that reads and
                # then writes can fail to upgrade its lock when another writer is active.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
                # A commit that fails must roll back too: else the transaction stays
                # open on the pooled connection and its next user commits it.
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def _mine(self, table: sa.Table) -> Any:
        """A WHERE clause keeping this store's tenant's rows of ``table``."""
        return table.c.tenant == self._tenant

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
        check_written(reason, note, actor)
        account = self._workflow.open(
            account_id, status, at=at, actor=actor, reason=reason, note=note, imported=imported
        )
        opening = normalised(account.history[0])
        stored = StoredAccount(account_id, opening.dest.code, opening.at, 0)
        taken = InvalidArgument("account_id", account_id, "an id not yet in the store")
        key = {"id": account_id, "tenant": self._tenant}
        try:
            with self._tx(connection) as conn:
                if conn.execute(LOAD, key).first() is not None:
                    raise taken
                # In the caller's transaction a clash must not abort it: a savepoint.
                with conn.begin_nested() if connection is not None else nullcontext():
                    conn.execute(
                        accounts.insert(),
                        {
                            "tenant": self._tenant,
                            "id": account_id,
                            "status": stored.status,
                            "status_since": opening.at,
                            "version": 0,
                        },
                    )
                    conn.execute(INSERT_HISTORY, history_row(opening, 0, self._tenant))
        except sa.exc.DBAPIError as exc:
            # Another writer opened the same id between our read and our insert.
            if not isinstance(exc, sa.exc.IntegrityError) and not lost_race(exc):
                raise
            reader = self._engine.connect() if connection is None else nullcontext(connection)
            with reader as conn:
                if conn.execute(LOAD, key).first() is not None:
                    raise taken from None
            if lost_race(exc):
                raise ConcurrentChange(
                    account_id=account_id, expected_version=0, actual_version=None
                ) from None
            raise
        return stored

    def load(self, account_id: str, *, connection: sa.Connection | None = None) -> StoredAccount:
        """The account's current state.

        Raises:
            InvalidArgument: no such account, or ``account_id`` is not an id.
        """
        check_id(account_id)
        key = {"id": account_id, "tenant": self._tenant}
        if connection is not None:
            row = connection.execute(LOAD, key).first()
        else:
            with self._engine.connect() as conn:
                row = conn.execute(LOAD, key).first()
        if row is None:
            raise unknown_account(account_id)
        return account_of(row)

    def accounts(
        self,
        *,
        statuses: Sequence[StatusRef] | None = None,
        connection: sa.Connection | None = None,
    ) -> tuple[StoredAccount, ...]:
        """Every stored account (optionally only those in ``statuses``), by id.

        Args:
            statuses: only accounts in these statuses.
            connection: read inside this connection's transaction.
        """
        query = sa.select(accounts).where(self._mine(accounts)).order_by(accounts.c.id)
        if statuses is not None:
            codes = {self._workflow.catalog[s].code for s in statuses}
            query = query.where(accounts.c.status.in_(sorted(codes)))
        if connection is not None:
            return tuple(account_of(r) for r in connection.execute(query))
        with self._engine.connect() as conn:
            return tuple(account_of(r) for r in conn.execute(query))

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

    def _facts_of(self, conn: sa.Connection, account_id: str) -> Mapping[str, Any] | None:
        """The host's facts row of the account (read in the caller's transaction)."""
        if self._facts is None:
            return None
        key = self._facts.c[self._facts_key]
        row = conn.execute(sa.select(self._facts).where(key == account_id)).first()
        return None if row is None else dict(row._mapping)

    def _past(self, conn: sa.Connection, stored: StoredAccount) -> History:
        """The account's history up to the version read, as the rules read it (without
        the effects)."""
        rows = conn.execute(_PAST, {"id": stored.id, "v": stored.version, "tenant": self._tenant})
        return History([self._change(r, ())[1] for r in rows])

    def history(self, account_id: str, *, connection: sa.Connection | None = None) -> History:
        """The account's full history, effects included (instants in UTC).

        Args:
            connection: read inside this connection's transaction.

        Raises:
            InvalidArgument: no such account, or ``account_id`` is not an id.
        """
        check_id(account_id)
        reader = self._engine.connect() if connection is None else nullcontext(connection)
        with reader as conn:
            if conn.execute(LOAD, {"id": account_id, "tenant": self._tenant}).first() is None:
                raise unknown_account(account_id)
            rows = conn.execute(
                sa.select(history)
                .where(self._mine(history), history.c.account_id == account_id)
                .order_by(history.c.version)
            ).all()
            effects: dict[int, list[Any]] = {}
            for e in conn.execute(
                sa.select(outbox.c.version, outbox.c.kind, outbox.c.key, outbox.c.payload)
                .where(self._mine(outbox), outbox.c.account_id == account_id)
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

        It also raises every error of
        [`acctstate.workflow.Workflow.plan`][acctstate.workflow.Workflow.plan].

        Raises:
            ConcurrentChange: the account is not at ``expected_version``, or another
                writer won and the retries ran out.
            InvalidArgument: unknown account, or the change's effect keys are taken.
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
        seen: list[int] = []
        try:
            if caller is not None:
                # The caller's transaction must not see an error from a write: check first.
                with self._tx(caller) as conn:
                    return self._fire_in(conn, *args, precheck=True, seen=seen)
            try:
                # One round trip fewer: the outbox's unique key refuses a repeated change,
                # the whole transaction rolls back, and nothing is written.
                with self._tx() as conn:
                    return self._fire_in(conn, *args, precheck=False, seen=seen)
            except sa.exc.IntegrityError:
                # Run the careful path to raise the precise error (ConcurrentChange or the
                # repeated change), or succeed if the clash has gone.
                with self._tx() as conn:
                    return self._fire_in(conn, *args, precheck=True, seen=seen)
        except sa.exc.DBAPIError as exc:
            if not lost_race(exc):
                raise
            # REPEATABLE READ or SERIALIZABLE: the database refused the write because
            # another writer changed the account first; retries= plans again.
            raise ConcurrentChange(
                account_id=account_id,
                expected_version=seen[-1] if seen else (expected_version or 0),
                actual_version=None,
            ) from None

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
        seen: list[int] | None = None,
    ) -> StatusChange:
        row = conn.execute(LOAD, {"id": account_id, "tenant": self._tenant}).first()
        if row is None:
            raise unknown_account(account_id)
        stored = account_of(row)
        if seen is not None:
            seen.append(stored.version)
        check_version(account_id, stored.version, expected_version)
        # Effects follow the effective capability: the standing holds are read too (one
        # indexed query, only for workflows that declare hold types).
        held = standing(conn, account_id, self._tenant) if self._workflow.hold_types else ()
        view = AccountView(
            stored, self._facts_of(conn, account_id), self._past(conn, stored), data, held
        )
        change = normalised(
            self._workflow.plan(view, trigger, at=at, reason=reason, note=note, actor=actor, **data)
        )
        payloads = [effect_payload(e) for e in change.effects]
        if change.effects and precheck:
            keys = [e.key for e in change.effects]
            taken = conn.execute(TAKEN, {"keys": keys, "tenant": self._tenant}).scalars().first()
            if taken is not None:
                # Under READ COMMITTED each statement sees the latest commits: keys that
                # appeared since the account was read belong to a writer that just won.
                now = conn.execute(LOAD, {"id": account_id, "tenant": self._tenant}).one()
                if now.version != stored.version:
                    raise ConcurrentChange(
                        account_id=account_id,
                        expected_version=stored.version,
                        actual_version=now.version,
                    )
                raise duplicate_key(account_id, trigger, at, taken)
        version = stored.version + 1
        updated = conn.execute(
            CAS,
            {
                "b_id": account_id,
                "b_version": stored.version,
                "b_tenant": self._tenant,
                "status": change.dest.code,
                "status_since": change.at,
                "version": version,
            },
        )
        if updated.rowcount != 1:
            found = conn.execute(LOAD, {"id": account_id, "tenant": self._tenant}).first()
            raise ConcurrentChange(
                account_id=account_id,
                expected_version=stored.version,
                actual_version=None if found is None else found.version,
            )
        conn.execute(INSERT_HISTORY, history_row(change, version, self._tenant))
        if change.effects:
            created = self._workflow.clock.now()
            conn.execute(
                INSERT_OUTBOX,
                [
                    {
                        "tenant": self._tenant,
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
