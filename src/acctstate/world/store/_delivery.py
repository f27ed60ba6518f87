"""The SQL store's outbox: pending effects, their delivery, dead letters and pruning.

Delivery never holds a lock while a hook runs. Each effect is *claimed* in a short
transaction (``claimed_by``, ``claimed_until``: a lease), its hook runs outside any
transaction, and it is marked done in another short one, so a hook that writes to the
same database never waits on its own deliverer. A deliverer that dies inside a hook
leaves its claim behind: a deliverer on the same host takes it over at once (the
process is gone), any other once the lease has run out.

With ``transactional=True`` the claim, the hook and the "done" are one transaction, and
the hook gets its connection: the hook's writes and the effect's completion commit or
roll back together (exactly once for effects whose whole work is in this database).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.world.store._codec import (
    MAX_KEY,
    check_count,
    check_id,
    check_written,
    effect_from,
    error_text,
)
from acctstate.world.store._retry import (
    BACKOFF,
    DEAD,
    LEASE,
    MAX_ATTEMPTS,
    MAX_BACKOFF,
    DeadLetterAction,
    RetryPolicy,
    check_hooks,
    check_reason,
    claim_is_orphaned,
    claim_token,
    log_of,
    pending_of,
    run_hook,
)
from acctstate.world.store._schema import history, outbox
from acctstate.world.store._sqlcore import SqlBase
from acctstate.world.store._types import Delivery, PendingEffect

__all__ = ["SqlDelivery"]

_PENDING = outbox.c.done_at.is_(None)


class SqlDelivery(SqlBase):
    """Pending effects and their delivery (a part of [`SqlStore`][acctstate.store.sql.SqlStore])."""

    __slots__ = ()

    # -- reading -------------------------------------------------------------------

    def pending(
        self, *, account_id: str | None = None, connection: sa.Connection | None = None
    ) -> tuple[PendingEffect, ...]:
        """The effects not carried out yet (dead letters included), oldest first.

        Args:
            account_id: only this account's.
            connection: read inside this connection's transaction.
        """
        query = sa.select(outbox).where(self._mine(outbox), _PENDING).order_by(outbox.c.seq)
        if account_id is not None:
            query = query.where(outbox.c.account_id == check_id(account_id))
        return self._effects(query, connection)

    def dead_letters(
        self, *, account_id: str | None = None, connection: sa.Connection | None = None
    ) -> tuple[PendingEffect, ...]:
        """The effects that ran out of attempts, oldest first (``state == "dead"``).

        Each holds back its own account's later effects until `retry_dead` or
        `skip_dead`.
        """
        query = (
            sa.select(outbox)
            .where(self._mine(outbox), _PENDING, outbox.c.outcome == DEAD)
            .order_by(outbox.c.seq)
        )
        if account_id is not None:
            query = query.where(outbox.c.account_id == check_id(account_id))
        return self._effects(query, connection)

    def dead_letter_log(
        self, *, account_id: str | None = None, connection: sa.Connection | None = None
    ) -> tuple[DeadLetterAction, ...]:
        """The effects given up on and the operators' decisions about them, by time.

        Each effect keeps its latest death and its latest decision (until it is pruned).
        """
        query = (
            sa.select(outbox)
            .where(self._mine(outbox), outbox.c.dead_at.is_not(None))
            .order_by(outbox.c.seq)
        )
        if account_id is not None:
            query = query.where(outbox.c.account_id == check_id(account_id))
        with self._read(connection) as conn:
            return log_of(conn.execute(query))

    def _effects(self, query: Any, connection: sa.Connection | None) -> tuple[PendingEffect, ...]:
        with self._read(connection) as conn:
            return tuple(pending_of(r) for r in conn.execute(query))

    def _read(self, connection: sa.Connection | None) -> Any:
        if connection is not None:
            return _Borrowed(connection)
        return self._engine.connect()

    def _change_of(self, conn: sa.Connection, account_id: str, version: int) -> StatusChange:
        row = conn.execute(
            sa.select(history).where(
                self._mine(history),
                history.c.account_id == account_id,
                history.c.version == version,
            )
        ).one()
        effects = conn.execute(
            sa.select(outbox.c.kind, outbox.c.key, outbox.c.payload)
            .where(
                self._mine(outbox), outbox.c.account_id == account_id, outbox.c.version == version
            )
            .order_by(outbox.c.position)
        ).all()
        return self._change(row, effects)[1]

    # -- claiming --------------------------------------------------------------------

    def _eligible(
        self, now: dt.datetime, blocked: set[str], account_id: str | None, lock: bool
    ) -> Any:
        """The oldest effect that may run now: not done, not dead, not backing off, not
        claimed, and every earlier effect of its account done."""
        earlier = outbox.alias("earlier")
        query = (
            sa.select(outbox)
            .where(
                self._mine(outbox),
                _PENDING,
                outbox.c.outcome.is_(None),
                sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
                sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= now),
                ~sa.exists().where(
                    earlier.c.tenant == outbox.c.tenant,
                    earlier.c.account_id == outbox.c.account_id,
                    earlier.c.done_at.is_(None),
                    earlier.c.seq < outbox.c.seq,
                ),
            )
            .order_by(outbox.c.seq)
            .limit(1)
        )
        if account_id is not None:
            query = query.where(outbox.c.account_id == check_id(account_id))
        if blocked:
            query = query.where(outbox.c.account_id.not_in(sorted(blocked)))
        if lock and self._locking:
            # Parallel deliverers skip a row another one is claiming right now.
            query = query.with_for_update(skip_locked=True, of=outbox)
        return query

    def _release_orphans(self, conn: sa.Connection) -> None:
        """Free the claims of deliverers on this host whose process has died."""
        tokens = conn.execute(
            sa.select(outbox.c.claimed_by)
            .where(self._mine(outbox), _PENDING, outbox.c.claimed_by.is_not(None))
            .distinct()
        ).scalars()
        for token in [t for t in tokens if claim_is_orphaned(t)]:
            conn.execute(
                outbox.update()
                .where(self._mine(outbox), _PENDING, outbox.c.claimed_by == token)
                .values(claimed_by=None, claimed_until=None)
            )

    # -- delivering ------------------------------------------------------------------

    def deliver(
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
        connection: sa.Connection | None = None,
    ) -> Delivery:
        """Run pending effects through ``hooks``, oldest first per account; mark each done.

        No lock is held while a hook runs: each effect is claimed in a short
        transaction, its hook runs outside it, and it is marked done in another. A crash
        before "done" leaves it pending and the next ``deliver`` runs it again with the
        same ``key`` (at least once: make hooks idempotent on it). With
        ``transactional=True`` the hook is called as ``hook(effect, change,
        connection=conn)`` inside the transaction that marks the effect done: what it
        writes through ``conn`` commits with the "done" or not at all (exactly once).

        A failed effect is tried again at the next ``deliver``, then after ``backoff``,
        doubling up to ``max_backoff``; after ``max_attempts`` tries it becomes a dead
        letter (see `dead_letters`). Either way the same account's later effects
        wait behind it; other accounts go on.

        Args:
            hooks: the host's hooks (default: the workflow's).
            limit: try at most this many effects (failures count).
            account_id: only this account's effects.
            skip_unhandled: mark effects that have no hook as done instead of failing.
            transactional: run each hook inside the transaction that marks it done,
                passing it ``connection=``.
            max_attempts: tries before an effect becomes a dead letter.
            backoff: the wait after the second failed try.
            max_backoff: the longest wait.
            lease: how long a claim lasts when its deliverer dies on another host.
            connection: work inside this connection's transaction (the caller commits;
                each hook's writes are kept or undone with a savepoint).

        Returns:
            A [`Delivery`][acctstate.store.Delivery].

        Raises:
            InvalidArgument: no hooks, or a bad ``limit`` or retry setting.
        """
        run = check_hooks(hooks, self._workflow.hooks)
        check_count(limit, "limit")
        policy = RetryPolicy.checked(max_attempts, backoff, max_backoff, lease)
        report = _Report()
        blocked: set[str] = set()
        together = transactional or connection is not None
        with self._tx(connection) as conn:
            self._release_orphans(conn)
        while report.attempts < limit:
            if together:
                with self._tx(connection) as conn:
                    if not self._deliver_inside(
                        conn,
                        run,
                        policy,
                        report,
                        blocked,
                        account_id,
                        skip_unhandled,
                        transactional,
                    ):
                        break
            elif not self._deliver_apart(run, policy, report, blocked, account_id, skip_unhandled):
                break
        return report.delivery()

    def _deliver_apart(
        self,
        run: Hooks,
        policy: RetryPolicy,
        report: _Report,
        blocked: set[str],
        account_id: str | None,
        skip_unhandled: bool,
    ) -> bool:
        token = claim_token()
        with self._tx() as conn:
            now = self._workflow.clock.now()
            row = conn.execute(self._eligible(now, blocked, account_id, lock=True)).first()
            if row is None:
                return False
            taken = conn.execute(
                outbox.update()
                .where(
                    outbox.c.seq == row.seq,
                    _PENDING,
                    outbox.c.outcome.is_(None),
                    sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= now),
                )
                .values(
                    claimed_by=token, claimed_until=now + policy.lease, attempts=row.attempts + 1
                )
            )
            if taken.rowcount != 1:  # pragma: no cover - another deliverer was first
                return True
            change = self._change_of(conn, row.account_id, row.version)
        error: str | None = None
        effect = effect_from(row.kind, row.key, row.payload)
        handler: object = None
        try:
            handler = run.handler(effect)
            if handler is None:
                if not skip_unhandled:
                    error = f"no hook handles {effect.kind!r} effects"
            else:
                run_hook(handler, effect, change, None, False)
        except Exception as exc:
            error = error_text(exc)
        except BaseException:
            with self._tx() as conn:  # give the effect back before stopping
                conn.execute(
                    outbox.update()
                    .where(outbox.c.seq == row.seq, outbox.c.claimed_by == token)
                    .values(claimed_by=None, claimed_until=None)
                )
            raise
        with self._tx() as conn:
            mine = outbox.update().where(outbox.c.seq == row.seq, outbox.c.claimed_by == token)
            self._finish(conn, mine, row, row.attempts + 1, error, handler, policy, report)
        if error is not None:
            blocked.add(row.account_id)
        return True

    def _deliver_inside(
        self,
        conn: sa.Connection,
        run: Hooks,
        policy: RetryPolicy,
        report: _Report,
        blocked: set[str],
        account_id: str | None,
        skip_unhandled: bool,
        transactional: bool,
    ) -> bool:
        now = self._workflow.clock.now()
        row = conn.execute(self._eligible(now, blocked, account_id, lock=True)).first()
        if row is None:
            return False
        change = self._change_of(conn, row.account_id, row.version)
        effect = effect_from(row.kind, row.key, row.payload)
        error: str | None = None
        handler: object = None
        try:
            handler = run.handler(effect)
        except InvalidArgument as exc:
            error = error_text(exc)
        if error is not None:
            pass
        elif handler is None:
            if not skip_unhandled:
                error = f"no hook handles {effect.kind!r} effects"
        else:
            savepoint = conn.begin_nested()
            try:
                run_hook(handler, effect, change, conn, transactional)
            except Exception as exc:
                savepoint.rollback()
                error = error_text(exc)
            else:
                savepoint.commit()
        mine = outbox.update().where(outbox.c.seq == row.seq)
        self._finish(conn, mine, row, row.attempts + 1, error, handler, policy, report)
        if error is not None:
            blocked.add(row.account_id)
        return True

    def _finish(
        self,
        conn: sa.Connection,
        mine: Any,
        row: Any,
        attempts: int,
        error: str | None,
        handler: object,
        policy: RetryPolicy,
        report: _Report,
    ) -> None:
        now = self._workflow.clock.now()
        done: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "attempts": attempts}
        if error is None:
            outcome = "delivered" if handler is not None else "skipped"
            conn.execute(mine.values(done_at=now, outcome=outcome, **done))
            (report.delivered if handler is not None else report.skipped).append(row.key)
            return
        report.failed.append((row.key, error))
        if policy.gives_up(attempts):
            conn.execute(
                mine.values(
                    last_error=error, outcome=DEAD, next_attempt_at=None, dead_at=now, **done
                )
            )
            report.dead.append(row.key)
        else:
            wait = policy.next_attempt(attempts, now)
            conn.execute(mine.values(last_error=error, next_attempt_at=wait, **done))

    # -- operators -------------------------------------------------------------------

    def retry_dead(
        self,
        key: str,
        *,
        reason: str,
        actor: Actor | None = None,
        connection: sa.Connection | None = None,
    ) -> PendingEffect:
        """Send a dead letter back to the queue: its attempts start from zero and the next
        ``deliver`` tries it. The reason is recorded in
        [`dead_letter_log`][acctstate.store.asyncio.AsyncSqlStore.dead_letter_log].

        Raises:
            InvalidArgument: no dead letter has this key, or ``reason`` is empty.
        """
        return self._resolve(key, "retry", reason, actor, connection)

    def skip_dead(
        self,
        key: str,
        *,
        reason: str,
        actor: Actor | None = None,
        connection: sa.Connection | None = None,
    ) -> PendingEffect:
        """Mark a dead letter done without running it (``outcome`` ``"skipped"``); its
        account's later effects go on. The reason is recorded in
        [`dead_letter_log`][acctstate.store.asyncio.AsyncSqlStore.dead_letter_log].

        Raises:
            InvalidArgument: no dead letter has this key, or ``reason`` is empty.
        """
        return self._resolve(key, "skip", reason, actor, connection)

    def _resolve(
        self,
        key: str,
        action: str,
        reason: str,
        actor: Actor | None,
        connection: sa.Connection | None,
    ) -> PendingEffect:
        check_reason(reason)
        if actor is not None and not isinstance(actor, Actor):
            raise InvalidArgument("actor", actor, "an acctstate.Actor or None")
        check_id(key, "key", limit=MAX_KEY)
        check_written(None, None, actor)
        with self._tx(connection) as conn:
            query = sa.select(outbox).where(
                self._mine(outbox), outbox.c.key == key, _PENDING, outbox.c.outcome == DEAD
            )
            if self._locking:
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                raise InvalidArgument("key", key, "the key of a dead letter (see dead_letters())")
            now = self._workflow.clock.now()
            decision = {
                "resolved_action": action,
                "resolution": reason,
                "resolved_by": None if actor is None else actor.id,
                "resolved_at": now,
            }
            mine = outbox.update().where(outbox.c.seq == row.seq)
            if action == "retry":
                conn.execute(
                    mine.values(outcome=None, attempts=0, next_attempt_at=None, **decision)
                )
            else:
                conn.execute(mine.values(outcome="skipped", done_at=now, **decision))
            return pending_of(row)

    # -- pruning ---------------------------------------------------------------------

    def prune(self, *, before: dt.datetime, connection: sa.Connection | None = None) -> int:
        """Delete the outbox rows of effects carried out before ``before``; how many.

        Pending effects and dead letters are never pruned, nor is the history: the
        status changes stay, but ``history()`` no longer lists the pruned effects on
        them.

        Raises:
            InvalidArgument: a naive ``before``.
        """
        require_aware(before, "before")
        with self._tx(connection) as conn:
            gone = conn.execute(
                outbox.delete().where(
                    self._mine(outbox), outbox.c.done_at.is_not(None), outbox.c.done_at < before
                )
            )
            return int(gone.rowcount)


class _Borrowed:
    """The caller's connection as a context manager that leaves it open."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sa.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        return None


class _Report:
    """What one ``deliver`` did so far."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.skipped: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.dead: list[str] = []

    @property
    def attempts(self) -> int:
        return len(self.delivered) + len(self.skipped) + len(self.failed)

    def delivery(self) -> Delivery:
        return Delivery(
            tuple(self.delivered), tuple(self.skipped), tuple(self.failed), tuple(self.dead)
        )
