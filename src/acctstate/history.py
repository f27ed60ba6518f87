"""What happened: :class:`StatusChange` records and an account's append-only :class:`History`."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator
from typing import Any

import attrs

from acctstate.actors import Actor
from acctstate.effects import Effect
from acctstate.errors import HistoryConflict, InvalidArgument
from acctstate.status import Status

__all__ = ["OPEN", "History", "StatusChange"]

OPEN = "open"
"""The trigger recorded by a history's first entry: how the account started."""


@attrs.frozen(repr=False)
class StatusChange:
    """One status change, planned or done: from, to, why, by whom, with which effects.

    Produced by ``Workflow.plan`` (nothing changed yet) and ``Workflow.fire`` (done).

    Attributes:
        account_id: the account's id.
        source: the status before.
        dest: the status after.
        trigger: the trigger fired (``"open"`` for a history's first entry).
        at: the effective time.
        recorded_at: when it was recorded (may be later than ``at``: back-dating).
        reason: the reason code, if any.
        note: a free-text note, if any.
        actor: who made the change, if known.
        effects: the effects it implies, each with an idempotency key.
    """

    account_id: str
    source: Status
    dest: Status
    trigger: str
    at: dt.datetime
    recorded_at: dt.datetime | None = None
    reason: str | None = None
    note: str | None = None
    actor: Actor | None = None
    effects: tuple[Effect, ...] = ()

    @property
    def key(self) -> str:
        """The change's idempotency key: the same every time the same change is planned."""
        return change_key(self.account_id, self.trigger, self.at)

    @property
    def is_opening(self) -> bool:
        """Whether this is a history's first entry (how the account started)."""
        return self.trigger == OPEN

    @property
    def automatic(self) -> bool:
        """Whether a system actor made the change."""
        return self.actor is not None and self.actor.is_system

    def __repr__(self) -> str:
        return (
            f"<StatusChange {self.account_id!r} {self.trigger}: {self.source.name} -> "
            f"{self.dest.name} at {self.at.isoformat()}>"
        )

    def __str__(self) -> str:
        who = f" by {self.actor.id}" if self.actor else ""
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"{self.at.isoformat()}  {self.source.name} -> {self.dest.name} "
            f"[{self.trigger}]{who}{why}"
        )


def change_key(account_id: str, trigger: str, at: dt.datetime) -> str:
    """The idempotency key of the change ``trigger`` on ``account_id`` effective ``at``."""
    return f"{account_id}/{trigger}/{at.astimezone(dt.UTC).isoformat()}"


class History:
    """An account's append-only list of changes, kept in effective-time order.

    The first entry (trigger ``"open"``) records how the account started. A change may
    be recorded later than it took effect (back-dated), but never before the latest
    change already recorded: that would contradict it.

    >>> from acctstate.presets import isp
    >>> import datetime as dt
    >>> wf = isp.workflow()
    >>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> acct = wf.open("A-1", "prospect", at=t0)
    >>> _ = wf.fire(acct, "register", at=t0 + dt.timedelta(days=1))
    >>> acct.history.status_at(t0 + dt.timedelta(hours=1)).name
    'prospect'
    >>> [c.trigger for c in acct.history]
    ['open', 'register']
    """

    __slots__ = ("_changes", "_times")

    def __init__(self, changes: tuple[StatusChange, ...] | list[StatusChange] = ()) -> None:
        self._changes: list[StatusChange] = []
        self._times: list[dt.datetime] = []
        for c in changes:
            self.append(c)

    def append(self, change: StatusChange) -> None:
        """Record ``change``.

        Raises:
            HistoryConflict: ``change`` is effective before the latest recorded change.
            InvalidArgument: ``change`` does not start from the status the history ends
                in, or is not a ``StatusChange``.
        """
        if not isinstance(change, StatusChange):
            raise InvalidArgument("change", change, "a StatusChange")
        if self._changes:
            last = self._changes[-1]
            if change.at < last.at:
                raise HistoryConflict(account_id=change.account_id, at=change.at, latest=last.at)
            if change.source != last.dest:
                raise InvalidArgument(
                    "change.source",
                    change.source.name,
                    f"the status the history ends in, {last.dest.name!r}",
                )
        self._changes.append(change)
        self._times.append(change.at)

    def __iter__(self) -> Iterator[StatusChange]:
        return iter(self._changes)

    def __len__(self) -> int:
        return len(self._changes)

    def __getitem__(self, index: int) -> StatusChange:
        return self._changes[index]

    def __bool__(self) -> bool:
        return bool(self._changes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self._changes == other._changes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<History of {len(self._changes)} changes>"

    @property
    def last(self) -> StatusChange | None:
        """The latest change, or ``None`` for an empty history."""
        return self._changes[-1] if self._changes else None

    @property
    def current(self) -> Status | None:
        """The status the history ends in."""
        return self._changes[-1].dest if self._changes else None

    def status_at(self, at: dt.datetime) -> Status | None:
        """The status in force at instant ``at`` (``None`` before the first entry).

        A change effective exactly at ``at`` is in force at ``at``.
        """
        i = bisect.bisect_right(self._times, at)
        return self._changes[i - 1].dest if i else None

    def between(self, start: dt.datetime, end: dt.datetime) -> list[StatusChange]:
        """The changes effective in ``[start, end)``."""
        lo = bisect.bisect_left(self._times, start)
        hi = bisect.bisect_left(self._times, end)
        return self._changes[lo:hi]

    def time_in_status(self, until: dt.datetime) -> dict[str, dt.timedelta]:
        """Time spent in each status (by name) from the first entry up to ``until``."""
        spent: dict[str, dt.timedelta] = {}
        for here, nxt in zip(self._changes, [*self._changes[1:], None], strict=True):
            end = min(nxt.at, until) if nxt is not None else until
            if end > here.at:
                name = here.dest.name
                spent[name] = spent.get(name, dt.timedelta()) + (end - here.at)
        return spent

    def to_records(self) -> list[dict[str, Any]]:
        """The history as plain dicts (for tables, JSON and notebooks)."""
        return [
            {
                "at": c.at,
                "from": c.source.name,
                "to": c.dest.name,
                "trigger": c.trigger,
                "reason": c.reason,
                "note": c.note,
                "actor": c.actor.id if c.actor else None,
                "effects": [e.kind for e in c.effects],
            }
            for c in self._changes
        ]
