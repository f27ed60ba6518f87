"""The outbox of the in-memory store: pending effects, delivery with back-off, dead
letters for an operator, and pruning (mixed into ``MemoryStore``)."""

from __future__ import annotations

import datetime as dt
import threading

import attrs

from acctstate.core.workflow import Workflow
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Effect, Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.world.store._codec import (
    MAX_KEY,
    check_count,
    check_id,
    check_written,
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
    run_hook,
)
from acctstate.world.store._types import (
    Delivery,
    PendingEffect,
    StoredAccount,
)

__all__ = ["MemoryOutbox"]


@attrs.define
class _Slot:
    """One outbox entry (mutable: claimed, done, attempts)."""

    key: str
    account_id: str
    version: int
    effect: Effect
    done: bool = False
    claimed: bool = False
    attempts: int = 0
    last_error: str | None = None
    dead: bool = False
    next_attempt_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    log: list[DeadLetterAction] = attrs.Factory(list)  # its latest death, then decision

    def pending(self) -> PendingEffect:
        """The entry as a [`PendingEffect`][acctstate.store.PendingEffect]."""
        return PendingEffect(
            self.key,
            self.account_id,
            self.version,
            self.effect,
            self.attempts,
            self.last_error,
            DEAD if self.dead else "pending",
            self.next_attempt_at,
        )


class MemoryOutbox:
    """Delivery for ``MemoryStore``: its effects wait here until ``deliver`` runs them."""

    __slots__ = ()
    _accounts: dict[str, StoredAccount]
    _changes: dict[str, list[StatusChange]]
    _lock: threading.RLock
    _outbox: dict[str, _Slot]
    _workflow: Workflow

    # -- outbox -----------------------------------------------------------------------

    def pending(self, *, account_id: str | None = None) -> tuple[PendingEffect, ...]:
        """The effects not carried out yet (dead letters included), oldest first."""
        with self._lock:
            return tuple(
                s.pending()
                for s in self._outbox.values()
                if not s.done and (account_id is None or s.account_id == account_id)
            )

    def dead_letters(self, *, account_id: str | None = None) -> tuple[PendingEffect, ...]:
        """The effects that ran out of attempts, oldest first (``state == "dead"``)."""
        return tuple(p for p in self.pending(account_id=account_id) if p.state == DEAD)

    def dead_letter_log(self, *, account_id: str | None = None) -> tuple[DeadLetterAction, ...]:
        """The effects given up on and the operators' decisions about them, by time.

        Each effect keeps its latest death and its latest decision (until it is pruned).
        """
        out: list[DeadLetterAction] = []
        with self._lock:
            for s in self._outbox.values():
                if account_id is None or s.account_id == account_id:
                    out.extend(s.log)
        return tuple(sorted(out, key=lambda a: (a.at, a.key, a.action != DEAD)))

    def _claim(self, blocked: set[str], account_id: str | None, now: dt.datetime) -> _Slot | None:
        heads: set[str] = set()
        for slot in self._outbox.values():
            if slot.done or slot.account_id in heads:
                continue
            heads.add(slot.account_id)  # later effects of this account wait behind it
            if slot.claimed or slot.account_id in blocked or slot.dead:
                continue
            if slot.next_attempt_at is not None and slot.next_attempt_at > now:
                continue
            if account_id is None or slot.account_id == account_id:
                slot.claimed = True
                return slot
        return None

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
    ) -> Delivery:
        """Run pending effects through ``hooks``, oldest first per account; mark each done.

        No lock is held while a hook runs. A failed effect is tried again at the next
        ``deliver``, then after ``backoff``, doubling up to ``max_backoff``; after
        ``max_attempts`` tries it becomes a dead letter (see `dead_letters`).

        Args:
            hooks: the host's hooks (default: the workflow's).
            limit: try at most this many effects (failures count).
            account_id: only this account's effects.
            skip_unhandled: mark effects that have no hook as done instead of failing.
            transactional: not available in memory (there is no database transaction
                to share with the hook).
            max_attempts: tries before an effect becomes a dead letter.
            backoff: the wait after the second failed try.
            max_backoff: the longest wait.

        Returns:
            A [`Delivery`][acctstate.store.Delivery]. A failed effect stays pending, and the
            same account's later effects wait behind it.

        Raises:
            InvalidArgument: no hooks, ``transactional=True``, or a bad ``limit`` or
                retry setting.
        """
        run = check_hooks(hooks, self._workflow.hooks)
        check_count(limit, "limit")
        policy = RetryPolicy.checked(max_attempts, backoff, max_backoff)
        if transactional:
            raise InvalidArgument(
                "transactional", transactional, "False: a MemoryStore has no transaction to share"
            )
        delivered: list[str] = []
        skipped: list[str] = []
        failed: list[tuple[str, str]] = []
        dead: list[str] = []
        blocked: set[str] = set()
        while len(delivered) + len(skipped) + len(failed) < limit:
            clock = self._workflow.clock
            with self._lock:
                slot = self._claim(blocked, account_id, clock.now())
                if slot is None:
                    break
                change = self._changes[slot.account_id][slot.version]
            error: str | None = None
            handler: object = None
            try:
                handler = run.handler(slot.effect)
                if handler is None:
                    if not skip_unhandled:
                        error = f"no hook handles {slot.effect.kind!r} effects"
                else:
                    run_hook(handler, slot.effect, change, None, False)
            except Exception as exc:
                error = error_text(exc)
            except BaseException:
                with self._lock:
                    slot.claimed = False
                raise
            now = clock.now()
            with self._lock:
                slot.claimed = False
                slot.attempts += 1
                if error is None:
                    slot.done = True
                    slot.done_at = now
                    (delivered if handler is not None else skipped).append(slot.key)
                    continue
                slot.last_error = error
                failed.append((slot.key, error))
                blocked.add(slot.account_id)
                if policy.gives_up(slot.attempts):
                    slot.dead = True
                    slot.next_attempt_at = None
                    dead.append(slot.key)
                    died = DeadLetterAction(slot.key, slot.account_id, DEAD, error, None, now)
                    slot.log = [died, *slot.log[1:]]
                else:
                    slot.next_attempt_at = policy.next_attempt(slot.attempts, now)
        return Delivery(tuple(delivered), tuple(skipped), tuple(failed), tuple(dead))

    def retry_dead(self, key: str, *, reason: str, actor: Actor | None = None) -> PendingEffect:
        """Send a dead letter back to the queue: its attempts start from zero and the next
        ``deliver`` tries it. The reason is recorded in
        [`dead_letter_log`][acctstate.store.asyncio.AsyncSqlStore.dead_letter_log].

        Raises:
            InvalidArgument: no dead letter has this key, or ``reason`` is empty.
        """
        return self._resolve(key, "retry", reason, actor)

    def skip_dead(self, key: str, *, reason: str, actor: Actor | None = None) -> PendingEffect:
        """Mark a dead letter done without running it; its account's later effects go on.
        The reason is recorded in
        [`dead_letter_log`][acctstate.store.asyncio.AsyncSqlStore.dead_letter_log].

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
        with self._lock:
            slot = self._outbox.get(key)
            if slot is None or slot.done or not slot.dead:
                raise InvalidArgument("key", key, "the key of a dead letter (see dead_letters())")
            before = slot.pending()
            now = self._workflow.clock.now()
            slot.dead = False
            if action == "retry":
                slot.attempts = 0
                slot.next_attempt_at = None
            else:
                slot.done = True
                slot.done_at = now
            decided = DeadLetterAction(
                key, slot.account_id, action, reason, None if actor is None else actor.id, now
            )
            slot.log = [slot.log[0], decided]
            return before

    def prune(self, *, before: dt.datetime) -> int:
        """Forget the effects carried out before ``before``; how many.

        Pending effects and dead letters are never pruned; the history keeps its
        changes (in memory, with their effects).

        Raises:
            InvalidArgument: a naive ``before``.
        """
        require_aware(before, "before")
        with self._lock:
            gone = [
                k
                for k, s in self._outbox.items()
                if s.done and s.done_at is not None and s.done_at < before
            ]
            for k in gone:
                del self._outbox[k]
            return len(gone)
