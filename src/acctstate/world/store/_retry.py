"""What both stores share to deliver effects: the retry policy, claims and dead letters.

A failed effect is tried again on the next ``deliver`` once, then backs off exponentially
(``backoff``, doubling, capped at ``max_backoff``); after ``max_attempts`` tries it becomes
a *dead letter*: it stays in the outbox, holds back its own account's later effects, and
waits for an operator to retry or skip it (with a reason, recorded).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from typing import Any

import attrs

from acctstate.values.effects import Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.world.store._codec import check_count, check_text, effect_from
from acctstate.world.store._types import PendingEffect

__all__ = [
    "pending_of",
    "BACKOFF",
    "DEAD",
    "LEASE",
    "MAX_ATTEMPTS",
    "MAX_BACKOFF",
    "DeadLetterAction",
    "RetryPolicy",
    "check_hooks",
    "check_reason",
    "claim_token",
    "claim_is_orphaned",
    "log_of",
    "run_hook",
]

DEAD = "dead"
"""The ``outcome`` of an effect that ran out of attempts (it is not done)."""

_HOST = socket.gethostname()

MAX_ATTEMPTS = 10
"""Tries before an effect becomes a dead letter (``deliver(max_attempts=...)``)."""
BACKOFF = dt.timedelta(seconds=30)
"""The wait after the second failed try; it doubles after each further one."""
MAX_BACKOFF = dt.timedelta(hours=1)
"""The longest wait between two tries."""
LEASE = dt.timedelta(minutes=5)
"""How long a claim holds when its deliverer cannot be seen to have died."""


def check_hooks(hooks: object, workflow_hooks: object) -> Hooks:
    """The hooks to run: ``hooks``, else the workflow's.

    Raises:
        InvalidArgument: neither is an [`acctstate.effects.Hooks`][acctstate.effects.Hooks].
    """
    run = hooks if hooks is not None else workflow_hooks
    if run is None or not isinstance(run, Hooks):
        raise InvalidArgument("hooks", run, "an acctstate.Hooks (or a workflow with hooks)")
    return run


@attrs.frozen
class DeadLetterAction:
    """One entry of the dead-letter log: an effect given up on, or an operator's decision.

    Attributes:
        key: the effect's key.
        account_id: its account.
        action: ``"dead"`` (it ran out of attempts), ``"retry"`` (sent back to the queue)
            or ``"skip"`` (marked done without running).
        reason: the last error (``"dead"``) or the operator's reason.
        actor_id: who decided (operators' actions), or ``None``.
        at: when (UTC).
    """

    key: str
    account_id: str
    action: str
    reason: str
    actor_id: str | None
    at: dt.datetime


@attrs.frozen
class RetryPolicy:
    """When a failed effect is tried again, and when it is given up on.

    The first retry comes at the next ``deliver``; after that the wait doubles from
    ``backoff`` up to ``max_backoff``.

    >>> p = RetryPolicy(max_attempts=5, backoff=dt.timedelta(seconds=30),
    ...                 max_backoff=dt.timedelta(minutes=1))
    >>> [str(p.delay(n)) for n in range(1, 5)]
    ['0:00:00', '0:00:30', '0:01:00', '0:01:00']
    """

    max_attempts: int
    backoff: dt.timedelta
    max_backoff: dt.timedelta
    lease: dt.timedelta = LEASE

    @classmethod
    def checked(
        cls,
        max_attempts: object,
        backoff: object,
        max_backoff: object,
        lease: object = LEASE,
    ) -> RetryPolicy:
        """A policy from ``deliver``'s arguments.

        Raises:
            InvalidArgument: a count below 1 or a duration that is not positive.
        """
        attempts = check_count(max_attempts, "max_attempts")
        for name, value in (("backoff", backoff), ("max_backoff", max_backoff), ("lease", lease)):
            if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
                raise InvalidArgument(name, value, "a positive datetime.timedelta")
        assert isinstance(backoff, dt.timedelta)
        assert isinstance(max_backoff, dt.timedelta)
        assert isinstance(lease, dt.timedelta)
        if max_backoff < backoff:
            raise InvalidArgument("max_backoff", max_backoff, f"at least backoff ({backoff})")
        return cls(attempts, backoff, max_backoff, lease)

    def delay(self, attempts: int) -> dt.timedelta:
        """How long to wait after the ``attempts``-th failed try."""
        if attempts <= 1:
            return dt.timedelta(0)
        step = self.backoff * (1 << min(attempts - 2, 30))
        return min(step, self.max_backoff)

    def next_attempt(self, attempts: int, now: dt.datetime) -> dt.datetime | None:
        """When to try again after ``attempts`` failed tries (``None``: at once)."""
        wait = self.delay(attempts)
        return None if not wait else now + wait

    def gives_up(self, attempts: int) -> bool:
        """Whether ``attempts`` tries are the last."""
        return attempts >= self.max_attempts


def claim_token() -> str:
    """A deliverer's claim: ``host:pid:random`` (the pid lets a restart on the same host
    take over the claims of a deliverer that died)."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim_is_orphaned(token: str) -> bool:
    """Whether ``token`` was taken on this host by a process that no longer runs."""
    parts = token.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != _HOST or os.name != "posix":
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by someone else
        return False
    return False


def check_reason(reason: object) -> str:
    """``reason`` if it is a non-empty ``str`` (an operator's action needs one)."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidArgument("reason", reason, "a non-empty str saying why (it is recorded)")
    check_text(reason, "reason")
    return reason


def run_hook(
    handler: object, effect: object, change: StatusChange, connection: object, give: bool
) -> None:
    """Call ``handler(effect, change)``, with ``connection=`` when ``give`` is set."""
    assert callable(handler)
    if give:
        handler(effect, change, connection=connection)
    else:
        handler(effect, change)


def log_of(rows: Any) -> tuple[DeadLetterAction, ...]:
    """The dead-letter log entries of outbox rows, by time."""
    out: list[DeadLetterAction] = []
    for r in rows:
        out.append(DeadLetterAction(r.key, r.account_id, DEAD, r.last_error or "", None, r.dead_at))
        if r.resolved_action is not None:
            out.append(
                DeadLetterAction(
                    r.key,
                    r.account_id,
                    r.resolved_action,
                    r.resolution,
                    r.resolved_by,
                    r.resolved_at,
                )
            )
    return tuple(sorted(out, key=lambda a: (a.at, a.key, a.action != DEAD)))


def pending_of(r: Any) -> PendingEffect:
    """A pending effect from an outbox row (SQL or Django: the same columns)."""
    return PendingEffect(
        r.key,
        r.account_id,
        r.version,
        effect_from(r.kind, r.key, r.payload),
        r.attempts,
        r.last_error,
        DEAD if r.outcome == DEAD else "pending",
        r.next_attempt_at,
    )
