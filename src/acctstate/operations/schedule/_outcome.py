"""What applying scheduled changes did: one [`ScheduleOutcome`][acctstate.schedule.ScheduleOutcome]
per change, gathered in an [`ApplyResult`][acctstate.schedule.ApplyResult]."""

from __future__ import annotations

import datetime as dt

import attrs

from acctstate.values.history import (
    ScheduledChange,
    ScheduleState,
    StatusChange,
)

__all__ = ["ApplyResult", "ScheduleOutcome"]


@attrs.frozen
class ScheduleOutcome:
    """What applying one scheduled change did.

    Attributes:
        entry: the scheduled change, settled (``APPLIED`` or ``FAILED``).
        change: the status change recorded, when applied.
        error: the exception that refused it, when failed (not compared).
    """

    entry: ScheduledChange
    change: StatusChange | None = None
    error: Exception | None = attrs.field(default=None, eq=False)

    @property
    def ok(self) -> bool:
        """Whether it was applied."""
        return self.entry.state is ScheduleState.APPLIED

    def __str__(self) -> str:
        return f"{self.entry.id}: {self.entry.state.value}" + (
            f" ({self.entry.detail})" if not self.ok and self.entry.detail else ""
        )


@attrs.frozen
class ApplyResult:
    """One outcome per scheduled change that was due, in the order they were applied.

    Attributes:
        now: the instant the due changes were applied at.
        outcomes: one [`ScheduleOutcome`][acctstate.schedule.ScheduleOutcome] per scheduled change
            settled.
    """

    now: dt.datetime
    outcomes: tuple[ScheduleOutcome, ...] = ()

    @property
    def applied(self) -> tuple[ScheduledChange, ...]:
        """The scheduled changes that were applied."""
        return tuple(o.entry for o in self.outcomes if o.ok)

    @property
    def failed(self) -> tuple[ScheduledChange, ...]:
        """The scheduled changes that were refused, each with its reason in ``detail``."""
        return tuple(o.entry for o in self.outcomes if not o.ok)

    @property
    def changes(self) -> tuple[StatusChange, ...]:
        """The status changes recorded."""
        return tuple(o.change for o in self.outcomes if o.change is not None)

    def __len__(self) -> int:
        return len(self.outcomes)

    def __str__(self) -> str:
        return f"{len(self.applied)} applied, {len(self.failed)} failed"
