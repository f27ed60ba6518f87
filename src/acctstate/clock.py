"""Time: the :class:`Clock` protocol, a system clock, a fixed (steppable) clock, and the
refusal of naive datetimes.

Nothing in acctstate reads the wall clock except through a ``Clock``; tests and
simulations use :class:`FixedClock`.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from acctstate.errors import InvalidArgument

__all__ = ["Clock", "FixedClock", "SystemClock", "local_date", "require_aware"]


def require_aware(value: object, name: str = "at") -> dt.datetime:
    """Return ``value`` if it is a timezone-aware datetime, else raise.

    Args:
        value: the value to check.
        name: the parameter name, for the error message.

    Raises:
        InvalidArgument: not a datetime, or a naive one.

    >>> require_aware(dt.datetime(2026, 1, 1))
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid at: got datetime.datetime(2026, 1, 1, 0, 0); expected a timezone-aware datetime (e.g. datetime(..., tzinfo=UTC))
    """
    if (
        isinstance(value, dt.datetime)
        and value.tzinfo is not None
        and value.tzinfo.utcoffset(value) is not None
    ):
        return value
    raise InvalidArgument(name, value, "a timezone-aware datetime (e.g. datetime(..., tzinfo=UTC))")


def local_date(at: dt.datetime, tz: str | dt.tzinfo) -> dt.date:
    """The calendar day of ``at`` in the customer's billing time zone.

    >>> at = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
    >>> local_date(at, "America/New_York")
    datetime.date(2026, 2, 28)
    """
    require_aware(at)
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return at.astimezone(zone).date()


@runtime_checkable
class Clock(Protocol):
    """Anything with a ``now()`` returning a timezone-aware datetime."""

    def now(self) -> dt.datetime:
        """The current instant (timezone-aware)."""
        ...


class SystemClock:
    """The real clock, in UTC.

    >>> SystemClock().now().tzinfo
    datetime.timezone.utc
    """

    def now(self) -> dt.datetime:
        """The current instant in UTC."""
        return dt.datetime.now(dt.UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that only moves when told to: for tests and simulations.

    Args:
        start: the instant it shows (timezone-aware).

    >>> c = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> c.advance(days=2).isoformat()
    '2026-01-03T00:00:00+00:00'
    """

    __slots__ = ("_now",)

    def __init__(self, start: dt.datetime) -> None:
        self._now = require_aware(start, "start")

    def now(self) -> dt.datetime:
        """The instant the clock is set to."""
        return self._now

    def set(self, instant: dt.datetime) -> None:
        """Move the clock to ``instant`` (forwards or backwards)."""
        self._now = require_aware(instant, "instant")

    def advance(
        self, delta: dt.timedelta | None = None, *, days: float = 0, seconds: float = 0
    ) -> dt.datetime:
        """Move the clock forward and return the new instant.

        Raises:
            InvalidArgument: a negative step.
        """
        step = (delta or dt.timedelta()) + dt.timedelta(days=days, seconds=seconds)
        if step < dt.timedelta(0):
            raise InvalidArgument("delta", step, "a non-negative duration")
        self._now = self._now + step
        return self._now

    def __repr__(self) -> str:
        return f"FixedClock({self._now.isoformat()})"
