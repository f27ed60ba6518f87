"""The SQL store's outbox: listing pending effects and delivering them through hooks."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from acctstate.values.effects import Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.world.store._codec import check_count, effect_from, error_text
from acctstate.world.store._schema import history, outbox
from acctstate.world.store._sqlcore import SqlBase
from acctstate.world.store._types import Delivery, PendingEffect

__all__ = ["SqlDelivery"]


class SqlDelivery(SqlBase):
    """Pending effects and their delivery (a part of :class:`~acctstate.store.sql.SqlStore`)."""

    __slots__ = ()

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
