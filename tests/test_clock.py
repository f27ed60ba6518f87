"""Clocks, the refusal of naive datetimes, and calendar days in the billing time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acctstate.clock import (
    Clock,
    FixedClock,
    SystemClock,
    add_local_days,
    first_of_next_month,
    local_date,
    local_day_bounds,
    local_time_on,
    require_aware,
    start_of_local_day,
    zone,
)
from acctstate.errors import InvalidArgument

UTC = dt.UTC
NY = "America/New_York"
BERLIN = "Europe/Berlin"
# Zones with ordinary DST, DST at midnight (Havana, Santiago, Beirut), a 30-minute
# shift (Lord Howe), no DST (Kolkata, UTC) and a date-line crossing offset (Apia).
ZONES = [
    NY,
    BERLIN,
    "America/Havana",
    "America/Santiago",
    "Asia/Beirut",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Apia",
    "UTC",
]


def hours(start: dt.datetime, end: dt.datetime) -> float:
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600


# -- clocks ---------------------------------------------------------------------------


def test_system_clock_is_aware_and_a_clock() -> None:
    """The system clock gives timezone-aware UTC instants and satisfies the protocol."""
    c = SystemClock()
    assert isinstance(c, Clock)
    assert c.now().utcoffset() == dt.timedelta(0)


def test_fixed_clock_moves_only_when_told() -> None:
    """A fixed clock shows its instant until set or advanced; advancing returns the new one."""
    t0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
    c = FixedClock(t0)
    assert c.now() == t0 and c.now() == t0
    assert c.advance(days=1, seconds=30) == t0 + dt.timedelta(days=1, seconds=30)
    c.set(t0)
    assert c.now() == t0


def test_fixed_clock_refuses_naive_and_backwards_steps() -> None:
    """Naive instants and negative steps are refused and leave the clock where it was."""
    t0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidArgument, match="start"):
        FixedClock(dt.datetime(2026, 1, 1))
    c = FixedClock(t0)
    with pytest.raises(InvalidArgument, match="non-negative"):
        c.advance(days=-1)
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        c.set(dt.datetime(2026, 2, 1))
    assert c.now() == t0


@pytest.mark.parametrize("value", [dt.datetime(2026, 1, 1), "2026-01-01", dt.date(2026, 1, 1)])
def test_require_aware_refuses_everything_but_aware_datetimes(value: object) -> None:
    """Naive datetimes, strings and dates are refused with the parameter's name."""
    with pytest.raises(InvalidArgument, match=r"invalid when: .*timezone-aware"):
        require_aware(value, "when")


# -- time zones -----------------------------------------------------------------------


def test_zone_resolves_names_and_refuses_unknown_ones() -> None:
    """IANA names resolve; tzinfo objects pass through; unknown names are refused clearly."""
    assert zone(NY) == ZoneInfo(NY)
    assert zone(UTC) is UTC
    for bad in ["Mars/Olympus", "", 5]:
        with pytest.raises(InvalidArgument, match="IANA time zone name"):
            zone(bad)  # type: ignore[arg-type]


def test_local_date_is_the_customers_day() -> None:
    """03:00 UTC on the 1st is still the last day of the previous month in New York."""
    at = dt.datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    assert local_date(at, NY) == dt.date(2026, 2, 28)
    assert local_date(at, BERLIN) == dt.date(2026, 3, 1)


@pytest.mark.parametrize(
    ("tz", "day", "length"),
    [
        (NY, dt.date(2026, 3, 7), 24),
        (NY, dt.date(2026, 3, 8), 23),  # spring forward at 02:00
        (NY, dt.date(2026, 11, 1), 25),  # fall back at 02:00
        (BERLIN, dt.date(2026, 3, 29), 23),
        (BERLIN, dt.date(2026, 10, 25), 25),
        (BERLIN, dt.date(2026, 10, 26), 24),
        ("America/Havana", dt.date(2026, 3, 8), 23),  # the clocks skip midnight itself
        ("Australia/Lord_Howe", dt.date(2026, 10, 4), 23.5),
    ],
)
def test_local_days_are_23_24_or_25_hours_long(tz: str, day: dt.date, length: float) -> None:
    """A local calendar day spans the real elapsed time between two local midnights."""
    start, end = local_day_bounds(day, tz)
    assert hours(start, end) == length
    assert local_date(start, tz) == day
    assert local_date(end, tz) == day + dt.timedelta(days=1)


def test_start_of_local_day_in_new_york_and_berlin_around_dst() -> None:
    """Local midnight is 05:00 UTC in New York winter, 04:00 in summer; Berlin 23:00/22:00."""
    assert start_of_local_day(dt.date(2026, 3, 8), NY).astimezone(UTC).hour == 5
    assert start_of_local_day(dt.date(2026, 3, 9), NY).astimezone(UTC).hour == 4
    assert start_of_local_day(dt.date(2026, 3, 29), BERLIN).astimezone(UTC) == dt.datetime(
        2026, 3, 28, 23, tzinfo=UTC
    )
    assert start_of_local_day(dt.date(2026, 3, 30), BERLIN).astimezone(UTC) == dt.datetime(
        2026, 3, 29, 22, tzinfo=UTC
    )


def test_start_of_local_day_when_midnight_does_not_exist() -> None:
    """Where the clocks jump from 00:00 to 01:00, the day starts at 01:00 (the jump)."""
    start = start_of_local_day(dt.date(2026, 3, 8), "America/Havana")
    assert (start.hour, start.minute) == (1, 0)
    assert local_date(
        start.astimezone(UTC) - dt.timedelta(microseconds=1), "America/Havana"
    ) == dt.date(2026, 3, 7)


@given(
    day=st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2037, 12, 31)),
    tz=st.sampled_from(ZONES),
)
def test_start_of_local_day_is_the_first_instant_of_that_day(day: dt.date, tz: str) -> None:
    """For any day and zone, the start is on that day and one microsecond earlier is not."""
    start = start_of_local_day(day, tz)
    assert local_date(start, tz) == day
    assert local_date(start.astimezone(UTC) - dt.timedelta(microseconds=1), tz) < day


@pytest.mark.parametrize("bad", [dt.datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01", None], ids=repr)
def test_start_of_local_day_refuses_anything_but_a_date(bad: object) -> None:
    """A datetime (whose time and zone would be dropped silently) or a string is refused."""
    with pytest.raises(InvalidArgument, match=r"invalid day: .*a datetime\.date"):
        start_of_local_day(bad, NY)  # type: ignore[arg-type]


def test_local_time_on_gap_and_overlap() -> None:
    """A skipped wall time moves past the gap; a repeated one is its first occurrence."""
    skipped = local_time_on(dt.date(2026, 3, 8), dt.time(2, 30), NY)
    assert skipped.astimezone(UTC) == dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    twice = local_time_on(dt.date(2026, 11, 1), dt.time(1, 30), NY)
    assert twice.astimezone(UTC) == dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    normal = local_time_on(dt.date(2026, 7, 1), dt.time(2, 0), BERLIN)
    assert normal.astimezone(UTC) == dt.datetime(2026, 7, 1, 0, 0, tzinfo=UTC)


def test_local_time_on_refuses_an_aware_time() -> None:
    """The zone comes from ``tz``; a time carrying its own zone is ambiguous and refused."""
    with pytest.raises(InvalidArgument, match=r"naive datetime\.time"):
        local_time_on(dt.date(2026, 1, 1), dt.time(2, tzinfo=UTC), NY)


def test_first_of_next_month_uses_the_customers_month() -> None:
    """ "On the 1st" is the next 1st in the customer's calendar, at local midnight."""
    late_jan_ny = dt.datetime(2026, 2, 1, 4, 30, tzinfo=UTC)  # 23:30 on 31 January in NY
    assert first_of_next_month(late_jan_ny, NY).astimezone(UTC) == dt.datetime(
        2026, 2, 1, 5, 0, tzinfo=UTC
    )
    assert first_of_next_month(late_jan_ny, BERLIN).astimezone(UTC) == dt.datetime(
        2026, 2, 28, 23, 0, tzinfo=UTC
    )
    december = dt.datetime(2026, 12, 15, tzinfo=UTC)
    assert first_of_next_month(december, NY).date() == dt.date(2027, 1, 1)
    on_the_first = dt.datetime(2026, 4, 1, 12, tzinfo=UTC)
    assert first_of_next_month(on_the_first, BERLIN).date() == dt.date(2026, 5, 1)


def test_first_of_next_month_across_dst_is_local_midnight() -> None:
    """The 1st of April in Berlin starts at 22:00 UTC the day before (summer time)."""
    march = dt.datetime(2026, 3, 10, tzinfo=UTC)
    first = first_of_next_month(march, BERLIN)
    assert (first.hour, first.minute, first.utcoffset()) == (0, 0, dt.timedelta(hours=2))


def test_add_local_days_keeps_the_wall_time_across_dst() -> None:
    """One calendar day over spring-forward is 23 hours; over fall-back, 25 hours."""
    before_spring = dt.datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # 12:00 in New York
    after = add_local_days(before_spring, 1, NY)
    assert (after.hour, hours(before_spring, after)) == (12, 23)
    before_fall = dt.datetime(2026, 10, 24, 10, 0, tzinfo=UTC)  # 12:00 in Berlin
    after = add_local_days(before_fall, 1, BERLIN)
    assert (after.hour, hours(before_fall, after)) == (12, 25)
    assert add_local_days(after, -1, BERLIN).astimezone(UTC) == before_fall


def test_add_local_days_refuses_naive_and_non_int() -> None:
    """Naive instants and fractional day counts are refused."""
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        add_local_days(dt.datetime(2026, 1, 1), 1, NY)
    with pytest.raises(InvalidArgument, match="int number of calendar days"):
        add_local_days(dt.datetime(2026, 1, 1, tzinfo=UTC), 1.5, NY)  # type: ignore[arg-type]


@given(
    at=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2036, 12, 31),
        timezones=st.just(UTC),
    ),
    days=st.integers(-400, 400),
    tz=st.sampled_from([NY, BERLIN, "Asia/Kolkata"]),
)
def test_add_local_days_moves_the_local_date_exactly(at: dt.datetime, days: int, tz: str) -> None:
    """The result falls ``days`` calendar days later in ``tz``, whatever DST does."""
    result = add_local_days(at, days, tz)
    assert local_date(result, tz) == local_date(at, tz) + dt.timedelta(days=days)
