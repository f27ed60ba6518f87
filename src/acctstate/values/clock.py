"""Time: the [`Clock`][acctstate.clock.Clock] protocol, a system clock, a fixed (steppable) clock,
the refusal of naive datetimes, and calendar days in the customer's billing time zone.

Nothing in acctstate reads the wall clock except through a ``Clock``; tests and
simulations use [`FixedClock`][acctstate.clock.FixedClock].

Calendar arithmetic ("on the 1st", "30 days from now", "at 02:00 every night") is done
in the customer's billing time zone, never in UTC: a local day is 23 or 25
hours long across a DST change, and the helpers here return the exact instants that
bound it, expressed in that time zone. Python compares and subtracts two datetimes that
share a ``tzinfo`` by wall time; acctstate converts to UTC before comparing
([`utc`][acctstate.clock.utc]), and so should code that measures elapsed time between two local
instants.

Every "N days" rule counts with [`calendar_days`][acctstate.clock.calendar_days]: calendar days in
the account's billing time zone ([`billing_zone`][acctstate.clock.billing_zone]), day N beginning at
local midnight.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acctstate.values.errors import InvalidArgument

__all__ = [
    "Clock",
    "FixedClock",
    "SystemClock",
    "add_local_days",
    "billing_zone",
    "calendar_days",
    "first_of_next_month",
    "local_date",
    "local_day_bounds",
    "local_time_on",
    "require_aware",
    "start_of_local_day",
    "utc",
    "zone",
]


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
        if value.year in (dt.MINYEAR, dt.MAXYEAR):
            # An instant at the very edge of the calendar may have no UTC equivalent
            # (datetime.max at -05:00 is past year 9999 in UTC): refuse it here rather
            # than let a comparison overflow later.
            try:
                value.astimezone(dt.UTC)
            except OverflowError:
                raise InvalidArgument(
                    name, value, "an instant between the years 1 and 9999 in UTC"
                ) from None
        return value
    raise InvalidArgument(name, value, "a timezone-aware datetime (e.g. datetime(..., tzinfo=UTC))")


def utc(value: object, name: str = "at") -> dt.datetime:
    """``value`` (a timezone-aware datetime) expressed in UTC.

    Python compares and subtracts two datetimes that share a ``tzinfo`` by wall time,
    ignoring ``fold``; acctstate compares instants in UTC so that every way of writing
    one instant gives one answer.

    Raises:
        InvalidArgument: not an aware datetime, or one with no UTC equivalent.

    >>> berlin = zone("Europe/Berlin")
    >>> second = dt.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=berlin)  # clocks fell back
    >>> first = dt.datetime(2026, 10, 25, 2, 45, tzinfo=berlin)
    >>> second < first, utc(second) < utc(first)
    (True, False)
    """
    return require_aware(value, name).astimezone(dt.UTC)


def billing_zone(value: object, name: str = "timezone") -> dt.tzinfo:
    """The customer's billing time zone from an account's or an event's ``timezone``.

    ``None`` (no zone recorded) is UTC; an IANA name or a ``tzinfo`` is that zone;
    anything else is refused rather than silently read as UTC.

    Raises:
        InvalidArgument: an unknown name, or neither a name nor a ``tzinfo``.

    >>> billing_zone(None), billing_zone("Asia/Tokyo")
    (datetime.timezone.utc, zoneinfo.ZoneInfo(key='Asia/Tokyo'))
    >>> billing_zone(5)
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid timezone: got 5; expected an IANA time zone name such as 'America/New_York', or a tzinfo
    """
    if value is None:
        return dt.UTC
    if isinstance(value, dt.tzinfo | str):
        try:
            return zone(value)
        except InvalidArgument:
            pass
    raise InvalidArgument(
        name, value, "an IANA time zone name such as 'America/New_York', or a tzinfo"
    )


def _local_day(value: object, tz: dt.tzinfo, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return require_aware(value, name).astimezone(tz).date()
    if isinstance(value, dt.date):
        return value  # a calendar day (a due date) is already a local day
    raise InvalidArgument(
        name, value, "a timezone-aware datetime, or a datetime.date (a calendar day)"
    )


def calendar_days(
    since: dt.datetime | dt.date,
    at: dt.datetime | dt.date,
    tz: str | dt.tzinfo,
    *,
    name: str = "since",
) -> int:
    """How many calendar days ``at`` is after ``since``, in the billing time zone ``tz``.

    The day ``since`` falls on is day 0; day N begins at local midnight N calendar days
    later (the first instant of that day when the clocks skip midnight). The count is
    the same however the two instants are written (any zone, ``fold``, UTC), and a
    day is 23, 24 or 25 hours long, as the customer's calendar says. Either end may
    be a ``datetime.date`` (a due date): it is taken as that calendar day.

    Args:
        since: the start (an aware datetime or a date).
        at: the end (an aware datetime or a date).
        tz: the customer's billing time zone.
        name: the parameter name of ``since``, for the error message.

    Returns:
        The number of local midnights passed (negative when ``at`` is earlier).

    Raises:
        InvalidArgument: a naive datetime, a value that is neither a datetime nor a
            date, or an unknown zone.

    >>> berlin = zone("Europe/Berlin")
    >>> closed = dt.datetime(2026, 3, 1, tzinfo=berlin)
    >>> later = dt.datetime(2026, 8, 28, tzinfo=berlin)
    >>> calendar_days(closed, later, berlin), calendar_days(closed, utc(later), berlin)
    (180, 180)
    >>> calendar_days(dt.date(2026, 3, 1), dt.datetime(2026, 3, 1, 23, 59, tzinfo=berlin), berlin)
    0
    """
    tzinfo = zone(tz)
    return (_local_day(at, tzinfo, "at") - _local_day(since, tzinfo, name)).days


def local_date(at: dt.datetime, tz: str | dt.tzinfo) -> dt.date:
    """The calendar day of ``at`` in the customer's billing time zone.

    >>> at = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
    >>> local_date(at, "America/New_York")
    datetime.date(2026, 2, 28)
    """
    require_aware(at)
    return at.astimezone(zone(tz)).date()


def zone(tz: str | dt.tzinfo) -> dt.tzinfo:
    """The time zone named ``tz`` (an IANA name such as ``"Europe/Berlin"``), or ``tz`` itself.

    Raises:
        InvalidArgument: an unknown name, or neither a name nor a ``tzinfo``.

    >>> zone("Europe/Berlin")
    zoneinfo.ZoneInfo(key='Europe/Berlin')
    >>> zone("Mars/Olympus")
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid tz: got 'Mars/Olympus'; expected an IANA time zone name such as 'America/New_York'
    """
    if isinstance(tz, dt.tzinfo):
        return tz
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise InvalidArgument("tz", tz, "an IANA time zone name such as 'America/New_York'")


def _day(value: object, name: str = "day") -> dt.date:
    # A datetime is a date subclass; accepting one would silently drop its time and zone.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise InvalidArgument(name, value, "a datetime.date (a calendar day, no time)")


def _first_instant(naive: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The earliest instant whose local wall time in ``tz`` is ``naive`` or later.

    Usually ``naive`` with ``tz`` attached (its first occurrence when the clocks fall
    back). When ``naive`` falls in a spring-forward gap it does not exist; the answer is
    then the instant the gap ends, the first existing wall time after it.
    """
    early = naive.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    late = naive.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)
    lo, hi = min(early, late), max(early, late)
    if lo.astimezone(tz).replace(tzinfo=None) == naive:
        return lo.astimezone(tz)
    # In a gap: ``lo`` shows a wall time before ``naive`` and ``hi`` one after it, so
    # the transition lies between them; zoneinfo does not expose it, so bisect for it.
    step = dt.timedelta(microseconds=1)
    while hi - lo > step:
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.astimezone(tz)


def local_time_on(day: dt.date, time: dt.time, tz: str | dt.tzinfo) -> dt.datetime:
    """The instant the wall clock in ``tz`` shows ``time`` on ``day``.

    For a daily run time (an account class's "status update time") or a change "at 09:00 on the
    15th". A wall time the clocks skip (spring forward) becomes the first instant after
    the gap; one they pass twice (fall back) is its first occurrence.

    Args:
        day: the calendar day in ``tz``.
        time: the wall time (naive; ``tz`` gives its zone).
        tz: the customer's billing time zone.

    Returns:
        A timezone-aware datetime in ``tz``.

    Raises:
        InvalidArgument: ``day`` is not a date, ``time`` not a naive time, or ``tz`` unknown.

    >>> local_time_on(dt.date(2026, 3, 8), dt.time(2, 30), "America/New_York").isoformat()
    '2026-03-08T03:00:00-04:00'
    """
    if not isinstance(time, dt.time) or time.tzinfo is not None:
        raise InvalidArgument("time", time, "a naive datetime.time (the zone is given by tz)")
    return _first_instant(dt.datetime.combine(_day(day), time), zone(tz))


def start_of_local_day(day: dt.date, tz: str | dt.tzinfo) -> dt.datetime:
    """The first instant of calendar day ``day`` in the customer's billing time zone.

    Local midnight, or when the clocks spring forward at midnight, the first instant
    that exists that day.

    Args:
        day: the calendar day.
        tz: the customer's billing time zone (IANA name or ``tzinfo``).

    Returns:
        A timezone-aware datetime in ``tz``.

    Raises:
        InvalidArgument: ``day`` is not a date (a datetime is refused too), or ``tz`` unknown.

    >>> start_of_local_day(dt.date(2026, 3, 1), "America/New_York").isoformat()
    '2026-03-01T00:00:00-05:00'
    >>> start_of_local_day(dt.date(2026, 3, 1), "America/New_York").astimezone(dt.UTC).hour
    5
    """
    return _first_instant(dt.datetime.combine(_day(day), dt.time()), zone(tz))


def local_day_bounds(day: dt.date, tz: str | dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The instants ``[start, end)`` of calendar day ``day`` in ``tz``.

    The day is 24 hours long except across a DST change (23 or 25 hours).

    >>> start, end = local_day_bounds(dt.date(2026, 3, 29), "Europe/Berlin")
    >>> end.astimezone(dt.UTC) - start.astimezone(dt.UTC)
    datetime.timedelta(seconds=82800)

    (Python subtracts two datetimes that share a ``tzinfo`` by wall time, giving one
    day here; convert to UTC to measure elapsed time.)
    """
    d = _day(day)
    return start_of_local_day(d, tz), start_of_local_day(d + dt.timedelta(days=1), tz)


def first_of_next_month(at: dt.datetime, tz: str | dt.tzinfo) -> dt.datetime:
    """The start of the 1st of the month after the one ``at`` falls in, locally.

    "On the 1st" as billing staff say it (a scheduled status change). The
    month is the customer's: 23:30 on 31 January in New York is already 1 February in
    UTC, but for that customer it is still January, so the answer is 1 February at
    local midnight (05:00 UTC), not 1 March.

    Args:
        at: an instant (timezone-aware).
        tz: the customer's billing time zone.

    Raises:
        InvalidArgument: ``at`` is naive or ``tz`` unknown.

    >>> late = dt.datetime(2026, 2, 1, 4, 30, tzinfo=dt.UTC)  # 23:30 on 31 Jan in New York
    >>> first_of_next_month(late, "America/New_York").isoformat()
    '2026-02-01T00:00:00-05:00'
    >>> first_of_next_month(late, "UTC").isoformat()
    '2026-03-01T00:00:00+00:00'
    """
    today = local_date(at, tz)
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return start_of_local_day(dt.date(year, month, 1), tz)


def add_local_days(at: dt.datetime, days: int, tz: str | dt.tzinfo) -> dt.datetime:
    """The same wall time ``days`` calendar days after ``at``, in ``tz``.

    Not ``days * 24`` hours: across a DST change the local day is 23 or 25 hours long,
    and "in 30 days at the same time" means the customer's calendar.

    Raises:
        InvalidArgument: ``at`` naive, ``days`` not an int, or ``tz`` unknown.

    >>> at = dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC)  # 13:00 in Berlin (CET)
    >>> later = add_local_days(at, 1, "Europe/Berlin")
    >>> later.isoformat(), later - at
    ('2026-03-29T13:00:00+02:00', datetime.timedelta(seconds=82800))
    """
    require_aware(at)
    if not isinstance(days, int) or isinstance(days, bool):
        raise InvalidArgument("days", days, "an int number of calendar days")
    tzinfo = zone(tz)
    local = at.astimezone(tzinfo).replace(tzinfo=None) + dt.timedelta(days=days)
    return _first_instant(local, tzinfo)


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
