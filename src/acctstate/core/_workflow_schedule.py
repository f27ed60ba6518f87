"""Scheduling on a :class:`~acctstate.workflow.Workflow` (a private mixin).

A thin entry point: :mod:`acctstate.schedule` holds the logic. It sits in the layer
above the workflow, so the workflow never imports it: the scheduling part registers its
``Schedule`` class here when it is imported (``import acctstate`` does so).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from acctstate.values.actors import Actor
from acctstate.values.effects import Hooks
from acctstate.values.errors import InvalidArgument

if TYPE_CHECKING:
    from acctstate.core.workflow import Workflow
    from acctstate.operations.schedule import ApplyResult, Schedule
    from acctstate.values.history import ScheduledChange

__all__: list[str] = []

_BOOK_TYPE: list[type[Schedule]] = []


def register_book_type(book_type: type[Schedule]) -> None:
    """Make ``book_type`` (``acctstate.schedule.Schedule``) the workflow's own book type."""
    _BOOK_TYPE[:] = [book_type]


def _book_type() -> type[Schedule]:
    if not _BOOK_TYPE:
        raise InvalidArgument(
            "book", None, "a Schedule: import acctstate.schedule (import acctstate does so)"
        )
    return _BOOK_TYPE[0]


class _Scheduling:
    """Scheduled changes through the workflow's own book; mixed into ``Workflow``."""

    __slots__ = ()
    _book: Schedule | None
    _name: str

    def schedule(
        self,
        account: Any,
        trigger: str,
        *,
        at: dt.datetime,
        book: Schedule | None = None,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        **data: Any,
    ) -> ScheduledChange:
        """Record in ``book`` that ``trigger`` is to fire on ``account`` at ``at``.

        Seed 000's "Change User Status" with a date; seed 002's effective date and
        note. Checked now as far as it can be (trigger, time, reason, permission);
        guards are checked when :meth:`acctstate.schedule.Schedule.apply_due` fires it.

        Args:
            book: the :class:`acctstate.schedule.Schedule` to record it in (one built
                on this workflow); default: this workflow's own book (:attr:`book`).
            (others as :meth:`acctstate.schedule.Schedule.add`)

        Returns:
            The pending :class:`~acctstate.history.ScheduledChange`.

        Raises:
            InvalidArgument: ``book`` is not a schedule of this workflow.
            (and every error of :func:`acctstate.schedule.plan_entry`)
        """
        if book is None:
            book = self.book
        if not isinstance(book, _book_type()) or book.workflow != self:
            raise InvalidArgument("book", book, f"a Schedule built on workflow {self._name!r}")
        return book.add(account, trigger, at=at, reason=reason, note=note, actor=actor, **data)

    @property
    def book(self) -> Schedule:
        """This workflow's own schedule of future changes, made on first use.

        The graph stays immutable; the book is the one mutable part, and a workflow made
        by ``extend``, ``with_hooks`` or ``with_clock`` starts with an empty one. Hosts
        that persist schedules keep their own ``Schedule`` (or a store) instead.
        """
        if self._book is None:
            object.__setattr__(self, "_book", _book_type()(cast("Workflow", self)))
        assert self._book is not None
        return self._book

    def scheduled(self, account: Any = None) -> list[ScheduledChange]:
        """The pending changes in :attr:`book`, for one account or all, in time order."""
        return self.book.pending(account)

    def withdraw(
        self,
        entry: ScheduledChange | str,
        *,
        actor: Actor | None = None,
        note: str | None = None,
        at: dt.datetime | None = None,
    ) -> ScheduledChange:
        """Withdraw a pending change from :attr:`book` (see ``Schedule.withdraw``)."""
        return self.book.withdraw(entry, actor=actor, note=note, at=at)

    def apply_due(
        self,
        now: dt.datetime,
        *,
        accounts: Any = None,
        hooks: Hooks | None = None,
        limit: int | None = None,
    ) -> ApplyResult:
        """Fire the changes in :attr:`book` that are due at ``now``, in effective-time order
        (see ``Schedule.apply_due``: guards re-checked, refusals kept as failed, idempotent).
        """
        return self.book.apply_due(now, accounts=accounts, hooks=hooks, limit=limit)
