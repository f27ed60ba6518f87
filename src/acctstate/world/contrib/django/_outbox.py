"""The Django store's outbox: pending effects, their delivery with back-off, dead letters
for an operator, and pruning (the same behaviour as the SQL store's)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models, transaction

from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.world.contrib.django._core import DjangoCore
from acctstate.world.contrib.django.models import OutboxEntry
from acctstate.world.store import Delivery, PendingEffect
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
    MAX_ATTEMPTS,
    MAX_BACKOFF,
    DeadLetterAction,
    RetryPolicy,
    check_hooks,
    check_reason,
    log_of,
    pending_of,
    run_hook,
)

__all__ = ["DjangoOutbox"]


class DjangoOutbox(DjangoCore):
    """Pending effects, their delivery and dead letters (a part of
    [`DjangoStore`][acctstate.contrib.django.store.DjangoStore])."""

    __slots__ = ()

    # -- reading -------------------------------------------------------------------

    def _effects(self, account_id: str | None, **where: Any) -> tuple[PendingEffect, ...]:
        query = self._outbox().filter(done_at__isnull=True, **where).order_by("seq")
        if account_id is not None:
            query = query.filter(account_id=check_id(account_id))
        return tuple(pending_of(r) for r in query)

    def pending(self, *, account_id: str | None = None) -> tuple[PendingEffect, ...]:
        """The effects not carried out yet (dead letters included), oldest first."""
        return self._effects(account_id)

    def dead_letters(self, *, account_id: str | None = None) -> tuple[PendingEffect, ...]:
        """The effects that ran out of attempts, oldest first (``state == "dead"``).

        Each holds back its own account's later effects until `retry_dead` or
        `skip_dead`.
        """
        return self._effects(account_id, outcome=DEAD)

    def dead_letter_log(self, *, account_id: str | None = None) -> tuple[DeadLetterAction, ...]:
        """The effects given up on and the operators' decisions about them, by time.

        Each effect keeps its latest death and its latest decision (until it is pruned).
        """
        query = self._outbox().filter(dead_at__isnull=False).order_by("seq")
        if account_id is not None:
            query = query.filter(account_id=check_id(account_id))
        return log_of(query)

    # -- delivering ------------------------------------------------------------------

    def _claim(self, blocked: set[str], account_id: str | None, now: dt.datetime) -> Any:
        earlier = OutboxEntry.objects.using(self._db).filter(
            account_model=self._label,
            account_id=models.OuterRef("account_id"),
            done_at__isnull=True,
            seq__lt=models.OuterRef("seq"),
        )
        query = self._outbox().filter(
            ~models.Exists(earlier),
            models.Q(next_attempt_at__isnull=True) | models.Q(next_attempt_at__lte=now),
            done_at__isnull=True,
            outcome__isnull=True,
        )
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
        max_attempts: int = MAX_ATTEMPTS,
        backoff: dt.timedelta = BACKOFF,
        max_backoff: dt.timedelta = MAX_BACKOFF,
    ) -> Delivery:
        """Run pending effects through ``hooks``, oldest first per account; mark each done.

        Each effect is one atomic block: claim it, run its hook (in a savepoint: what a
        failing hook wrote to the database is undone), mark it done. A crash before the
        commit leaves it pending, and the next ``deliver`` runs it (hooks get the
        effect's ``key``: make them idempotent on it).

        A failed effect is tried again at the next ``deliver``, then after ``backoff``,
        doubling up to ``max_backoff``; after ``max_attempts`` tries it becomes a dead
        letter (see `dead_letters`). Either way the same account's later effects wait
        behind it; other accounts go on.

        Args:
            hooks: the host's hooks (default: the workflow's).
            limit: try at most this many effects (failures count).
            account_id: only this account's effects.
            skip_unhandled: mark effects that have no hook as done instead of failing.
            max_attempts: tries before an effect becomes a dead letter.
            backoff: the wait after the second failed try.
            max_backoff: the longest wait.

        Returns:
            A [`Delivery`][acctstate.store.Delivery].

        Raises:
            InvalidArgument: no hooks, or a bad ``limit`` or retry setting.
        """
        run = check_hooks(hooks, self._workflow.hooks)
        check_count(limit, "limit")
        policy = RetryPolicy.checked(max_attempts, backoff, max_backoff)
        if account_id is not None:
            check_id(account_id)
        delivered: list[str] = []
        skipped: list[str] = []
        failed: list[tuple[str, str]] = []
        dead: list[str] = []
        blocked: set[str] = set()
        clock = self._workflow.clock
        while len(delivered) + len(skipped) + len(failed) < limit:
            with self._tx():
                row = self._claim(blocked, account_id, clock.now())
                if row is None:
                    break
                effect = effect_from(row.kind, row.key, row.payload)
                error: str | None = None
                handler: object = None
                try:
                    handler = run.handler(effect)
                    if handler is None:
                        if not skip_unhandled:
                            error = f"no hook handles {effect.kind!r} effects"
                    else:
                        change = self._change_of(row.account_id, row.version)
                        with transaction.atomic(using=self._db):
                            run_hook(handler, effect, change, None, False)
                except Exception as exc:
                    error = error_text(exc)
                now = clock.now()
                attempts = row.attempts + 1
                mine = OutboxEntry.objects.using(self._db).filter(seq=row.seq)
                if error is None:
                    outcome = "delivered" if handler is not None else "skipped"
                    mine.update(done_at=now, outcome=outcome, attempts=attempts)
                    (delivered if handler is not None else skipped).append(row.key)
                    continue
                failed.append((row.key, error))
                blocked.add(row.account_id)
                if policy.gives_up(attempts):
                    mine.update(
                        attempts=attempts,
                        last_error=error,
                        outcome=DEAD,
                        next_attempt_at=None,
                        dead_at=now,
                    )
                    dead.append(row.key)
                else:
                    mine.update(
                        attempts=attempts,
                        last_error=error,
                        next_attempt_at=policy.next_attempt(attempts, now),
                    )
        return Delivery(tuple(delivered), tuple(skipped), tuple(failed), tuple(dead))

    # -- operators -------------------------------------------------------------------

    def retry_dead(self, key: str, *, reason: str, actor: Actor | None = None) -> PendingEffect:
        """Send a dead letter back to the queue: its attempts start from zero and the next
        ``deliver`` tries it. The reason is recorded in `dead_letter_log`.

        Raises:
            InvalidArgument: no dead letter has this key, or ``reason`` is empty.
        """
        return self._resolve(key, "retry", reason, actor)

    def skip_dead(self, key: str, *, reason: str, actor: Actor | None = None) -> PendingEffect:
        """Mark a dead letter done without running it (``outcome`` ``"skipped"``); its
        account's later effects go on. The reason is recorded in `dead_letter_log`.

        Raises:
            InvalidArgument: no dead letter has this key, or ``reason`` is empty.
        """
        return self._resolve(key, "skip", reason, actor)

    def _resolve(self, key: str, action: str, reason: str, actor: Actor | None) -> PendingEffect:
        check_reason(reason)
        if actor is not None and not isinstance(actor, Actor):
            raise InvalidArgument("actor", actor, "an acctstate.Actor or None")
        check_id(key, "key", limit=MAX_KEY)
        check_written(None, None, actor)
        with self._tx():
            row = (
                self._outbox()
                .select_for_update()
                .filter(key=key, done_at__isnull=True, outcome=DEAD)
                .first()
            )
            if row is None:
                raise InvalidArgument("key", key, "the key of a dead letter (see dead_letters())")
            now = self._workflow.clock.now()
            decision = {
                "resolved_action": action,
                "resolution": reason,
                "resolved_by": None if actor is None else actor.id,
                "resolved_at": now,
            }
            mine = OutboxEntry.objects.using(self._db).filter(seq=row.seq)
            if action == "retry":
                mine.update(outcome=None, attempts=0, next_attempt_at=None, **decision)
            else:
                mine.update(outcome="skipped", done_at=now, **decision)
            return pending_of(row)

    # -- pruning ---------------------------------------------------------------------

    def prune(self, *, before: dt.datetime) -> int:
        """Delete the outbox rows of effects carried out before ``before``; how many.

        Pending effects and dead letters are never pruned, nor is the history: the
        status changes stay, but ``history()`` no longer lists the pruned effects on
        them.

        Raises:
            InvalidArgument: a naive ``before``.
        """
        require_aware(before, "before")
        with self._tx():
            gone, _ = self._outbox().filter(done_at__isnull=False, done_at__lt=before).delete()
        return int(gone)
