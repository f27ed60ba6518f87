"""The Django store's outbox: listing pending effects and delivering them through hooks."""

from __future__ import annotations

from typing import Any

from django.db import models

from acctstate.values.effects import Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.world.contrib.django._core import DjangoCore
from acctstate.world.contrib.django.models import OutboxEntry
from acctstate.world.store import Delivery, PendingEffect
from acctstate.world.store._codec import check_count, effect_from, error_text

__all__ = ["DjangoOutbox"]


class DjangoOutbox(DjangoCore):
    """Pending effects and their delivery (a part of
    [`DjangoStore`][acctstate.contrib.django.store.DjangoStore])."""

    __slots__ = ()

    def pending(self, *, account_id: str | None = None) -> tuple[PendingEffect, ...]:
        """The effects not carried out yet, oldest first."""
        query = self._outbox().filter(done_at__isnull=True).order_by("seq")
        if account_id is not None:
            query = query.filter(account_id=account_id)
        return tuple(
            PendingEffect(
                r.key,
                r.account_id,
                r.version,
                effect_from(r.kind, r.key, r.payload),
                r.attempts,
                r.last_error,
            )
            for r in query
        )

    def _claim(self, blocked: set[str], account_id: str | None) -> Any:
        earlier = OutboxEntry.objects.using(self._db).filter(
            account_model=self._label,
            account_id=models.OuterRef("account_id"),
            done_at__isnull=True,
            seq__lt=models.OuterRef("seq"),
        )
        query = self._outbox().filter(~models.Exists(earlier), done_at__isnull=True)
        if account_id is not None:
            query = query.filter(account_id=account_id)
        if blocked:
            query = query.exclude(account_id__in=sorted(blocked))
        # The row stays locked while its hook runs; other deliverers skip it, and the
        # account's next effect is not eligible until this one is done.
        return query.select_for_update(skip_locked=True).order_by("seq").first()

    def _change_of(self, account_id: str, version: int) -> StatusChange:
        row = self._history().get(account_id=account_id, version=version)
        effects = self._outbox().filter(account_id=account_id, version=version).order_by("position")
        return self._change(row, list(effects))

    def deliver(
        self,
        hooks: Hooks | None = None,
        *,
        limit: int = 1000,
        account_id: str | None = None,
        skip_unhandled: bool = False,
    ) -> Delivery:
        """Run pending effects through ``hooks``, oldest first per account; mark each done.

        Each effect is one atomic block: claim it, run its hook, mark it done. A crash
        before the commit leaves it pending, and the next ``deliver`` runs it (hooks get
        the effect's ``key``: make them idempotent on it).

        Args:
            hooks: the host's hooks (default: the workflow's).
            limit: run at most this many effects.
            account_id: only this account's effects.
            skip_unhandled: mark effects that have no hook as done instead of failing.

        Returns:
            A [`Delivery`][acctstate.store.Delivery]. A failed effect stays pending (its
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
            with self._tx():
                row = self._claim(blocked, account_id)
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
                        handler(effect, self._change_of(row.account_id, row.version))
                    except Exception as exc:
                        error = error_text(exc)
                done = OutboxEntry.objects.using(self._db).filter(seq=row.seq)
                if error is None:
                    done.update(
                        done_at=self._workflow.clock.now(),
                        outcome="delivered" if handler is not None else "skipped",
                        attempts=row.attempts + 1,
                    )
                    (delivered if handler is not None else skipped).append(row.key)
                else:
                    done.update(attempts=row.attempts + 1, last_error=error)
                    failed.append((row.key, error))
                    blocked.add(row.account_id)
        return Delivery(tuple(delivered), tuple(skipped), tuple(failed))
