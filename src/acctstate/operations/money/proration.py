"""Proration: what part of a paid period is given back, to the cent.

The arithmetic behind cancellations ([`acctstate.refunds`][acctstate.refunds]) as one pure function,
[`quote`][acctstate.proration.quote]: paid amount, service [`Period`][acctstate.proration.Period],
cancellation instant -> the refund, a ``Decimal`` rounded once to the currency's minor unit with an
explicit rounding mode. Proration is daily by default (calendar days in the customer's billing time
zone; the cancel day is refunded, not counted as used, unless ``cancel_day="charged"``), and the
unit is pluggable ([`BASES`][acctstate.proration.BASES],
[`register_basis`][acctstate.proration.register_basis]).

>>> import datetime as dt
>>> from decimal import Decimal
>>> jan = Period(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
>>> quote(Decimal("31.00"), jan, dt.datetime(2026, 1, 10, 15, 0, tzinfo=dt.UTC))
Decimal('22.00')
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from acctstate.values.clock import require_aware, utc
from acctstate.values.errors import InvalidArgument

__all__ = [
    "ACTUAL_DAYS",
    "BASES",
    "MINOR_UNITS",
    "ROUNDING_MODES",
    "SECONDS",
    "THIRTY_DAY",
    "ActualDays",
    "Basis",
    "CancelDay",
    "Period",
    "RefundPolicy",
    "Seconds",
    "ThirtyDay",
    "basis_name",
    "minor_units",
    "quote",
    "register_basis",
]

# -- money --------------------------------------------------------------------------------

_NO_DECIMALS = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF"]
_MORE_NO_DECIMALS = ["UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
_THREE_DECIMALS = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]

MINOR_UNITS: Mapping[str, int] = {
    **dict.fromkeys([*_NO_DECIMALS, *_MORE_NO_DECIMALS], 0),
    **dict.fromkeys(_THREE_DECIMALS, 3),
}
"""ISO 4217 currencies whose minor unit is not the cent (every other code has 2)."""

ROUNDING_MODES: frozenset[str] = frozenset(
    [
        decimal.ROUND_CEILING,
        decimal.ROUND_DOWN,
        decimal.ROUND_FLOOR,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_UP,
        decimal.ROUND_UP,
    ]
)
"""The rounding modes [`quote`][acctstate.proration.quote] accepts: the ``decimal`` module's, except
``ROUND_05UP``, which is meant for intermediate results; on money it can be off by a
whole minor unit in either direction, so a split period could drift by two."""


def minor_units(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit.

    Raises:
        InvalidArgument: not an ISO 4217 code.

    >>> minor_units("USD"), minor_units("JPY"), minor_units("KWD")
    (2, 0, 3)
    """
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise InvalidArgument("currency", currency, "an ISO 4217 code such as 'USD'")
    if not currency.isupper():
        raise InvalidArgument("currency", currency, "an upper-case ISO 4217 code such as 'USD'")
    return MINOR_UNITS.get(currency, 2)


def _minor(amount: object, name: str, currency: str) -> int:
    """``amount`` in minor units of ``currency``; refuses what is not exact money."""
    if isinstance(amount, int) and not isinstance(amount, bool):
        amount = Decimal(amount)
    if not isinstance(amount, Decimal):
        raise InvalidArgument(name, amount, "a Decimal amount (float money is refused)")
    if not amount.is_finite() or amount < 0:
        raise InvalidArgument(name, amount, "a finite, non-negative Decimal")
    places = minor_units(currency)
    scaled = amount.scaleb(places, context=_exact(amount, places))
    if scaled != scaled.to_integral_value(context=_exact(scaled, 0)):
        raise InvalidArgument(
            name, amount, f"an amount in whole minor units of {currency} ({places} decimal places)"
        )
    return int(scaled)


def _rounding(mode: object) -> str:
    if mode not in ROUNDING_MODES:
        raise InvalidArgument(
            "rounding", mode, f"a decimal rounding mode ({', '.join(sorted(ROUNDING_MODES))})"
        )
    return str(mode)


def _divide(num: int, den: int, mode: str) -> int:
    """``num / den`` (both non-negative, ``den > 0``) rounded to an int, exactly."""
    q, r = divmod(num, den)
    if r == 0 or mode in (decimal.ROUND_DOWN, decimal.ROUND_FLOOR):
        return q
    if mode in (decimal.ROUND_UP, decimal.ROUND_CEILING):
        return q + 1
    if 2 * r != den:
        return q + (2 * r > den)
    if mode == decimal.ROUND_HALF_UP:
        return q + 1
    if mode == decimal.ROUND_HALF_DOWN:
        return q
    return q + q % 2  # ROUND_HALF_EVEN


def _exact(amount: Decimal, places: int) -> decimal.Context:
    """A decimal context wide enough to shift ``amount`` by ``places`` without rounding.

    The default context keeps 28 significant digits: an amount written with more
    (a large sum in a currency of small units) would lose its minor units.
    """
    digits = len(amount.as_tuple().digits)
    return decimal.Context(prec=max(decimal.getcontext().prec, digits + abs(places) + 2))


def _as_money(units: int, currency: str) -> Decimal:
    whole = Decimal(units)
    places = minor_units(currency)
    return whole.scaleb(-places, context=_exact(whole, places))


def _zone(tz: object) -> dt.tzinfo:
    if isinstance(tz, dt.tzinfo):
        return tz
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise InvalidArgument("tz", tz, "an IANA time zone name such as 'Europe/Paris', or a tzinfo")


# -- periods and proration units ----------------------------------------------------------


def _aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    require_aware(value, f"period.{attribute.name}")


@attrs.frozen
class Period:
    """A paid service period, ``start`` to ``end`` (timezone-aware; ``end`` after ``start``).

    Raises:
        InvalidArgument: a naive instant, or an ``end`` not after ``start``.

    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> Period(t, t - dt.timedelta(days=1))
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid period.end: got datetime.datetime(2025, 12, 31, 0, 0, tzinfo=datetime.timezone.utc); expected an instant after period.start (2026-01-01T00:00:00+00:00)
    """

    start: dt.datetime = attrs.field(validator=_aware)
    end: dt.datetime = attrs.field(validator=_aware)

    def __attrs_post_init__(self) -> None:
        # Compare instants, not wall times (which ignore ``fold`` when zones match).
        if self.end.astimezone(dt.UTC) <= self.start.astimezone(dt.UTC):
            raise InvalidArgument(
                "period.end", self.end, f"an instant after period.start ({self.start.isoformat()})"
            )

    def __contains__(self, at: object) -> bool:
        if not isinstance(at, dt.datetime) or at.utcoffset() is None:
            return False
        instant = utc(at)
        return self.start.astimezone(dt.UTC) <= instant <= self.end.astimezone(dt.UTC)

    def split(self, at: dt.datetime) -> tuple[Period, Period]:
        """The two periods before and after ``at`` (strictly inside this one).

        Raises:
            InvalidArgument: ``at`` is not strictly inside the period.
        """
        instant = utc(at)
        if not self.start.astimezone(dt.UTC) < instant < self.end.astimezone(dt.UTC):
            raise InvalidArgument("at", at, f"an instant strictly inside {self}")
        return Period(self.start, at), Period(at, self.end)

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@runtime_checkable
class Basis(Protocol):
    """How proration counts time: the pluggable divisor of [`quote`][acctstate.proration.quote].

    ``position(at, tz)`` numbers instants on a scale that never decreases with time; the
    units between two instants are the difference of their positions. The refund is
    ``paid * (position(end) - position(cancel)) / (position(end) - position(start))``.
    """

    @property
    def name(self) -> str:
        """The basis's name in [`BASES`][acctstate.proration.BASES] (and workflow files)."""
        ...

    def position(self, at: dt.datetime, tz: dt.tzinfo) -> int:
        """The position of ``at`` on this basis's scale."""
        ...


@attrs.frozen
class ActualDays:
    """Calendar days in the billing time zone (the default).

    The cancel day is not counted as used: cancelling any time on the period's first
    day refunds everything, on its last day one day.
    """

    @property
    def name(self) -> str:
        """``"actual_days"``."""
        return "actual_days"

    def position(self, at: dt.datetime, tz: dt.tzinfo) -> int:
        """The local calendar day's ordinal."""
        return at.astimezone(tz).date().toordinal()


@attrs.frozen
class ThirtyDay:
    """Every month counts 30 days (the 30E/360 convention), whatever its length.

    The 31st counts as the 30th, and February ends on day 28 or 29 and the next day
    is the 1st of March; a monthly period is always 30 units.
    """

    @property
    def name(self) -> str:
        """``"thirty_day"``."""
        return "thirty_day"

    def position(self, at: dt.datetime, tz: dt.tzinfo) -> int:
        """``360 * year + 30 * (month - 1) + min(day, 30)`` of the local date."""
        d = at.astimezone(tz).date()
        return 360 * d.year + 30 * (d.month - 1) + min(d.day, 30)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SECOND = dt.timedelta(seconds=1)


@attrs.frozen
class Seconds:
    """Elapsed whole seconds (the time zone does not matter)."""

    @property
    def name(self) -> str:
        """``"seconds"``."""
        return "seconds"

    def position(self, at: dt.datetime, tz: dt.tzinfo) -> int:
        """Whole seconds since the Unix epoch."""
        return (at - _EPOCH) // _SECOND


ACTUAL_DAYS = ActualDays()
"""Daily proration over the period's actual calendar days (the default)."""
THIRTY_DAY = ThirtyDay()
"""Daily proration with 30-day months."""
SECONDS = Seconds()
"""Proration to the second."""

_BASES: dict[str, Basis] = {b.name: b for b in (ACTUAL_DAYS, THIRTY_DAY, SECONDS)}
BASES: Mapping[str, Basis] = MappingProxyType(_BASES)
"""The bases by name: the built-in ones and those added with
[`register_basis`][acctstate.proration.register_basis] (read-only; effect rules and workflow files
name a basis from here)."""


def register_basis(basis: Basis) -> Basis:
    """Make ``basis`` available by its name (to [`RefundRule`][acctstate.refunds.RefundRule]
    and workflow files), and return it.

    Registering the same basis again is a no-op; another basis under a taken name is
    refused.

    Raises:
        InvalidArgument: not a [`Basis`][acctstate.proration.Basis], a name that is not a non-empty
            str, or a name already taken by a different basis.

    (``docs/refunds.md`` registers one.)
    """
    if isinstance(basis, str) or not isinstance(basis, Basis):
        raise InvalidArgument("basis", basis, "a Basis (with a name and a position method)")
    name = basis.name
    if not isinstance(name, str) or not name:
        raise InvalidArgument("basis.name", name, "a non-empty str")
    taken = _BASES.get(name)
    if taken is not None and taken != basis:
        raise InvalidArgument(
            "basis", basis, f"a basis whose name is not taken ({name!r} is {taken!r})"
        )
    _BASES[name] = basis
    return basis


def _basis(value: object) -> Basis:
    if isinstance(value, str) and value in BASES:
        return BASES[value]
    if not isinstance(value, str) and isinstance(value, Basis):
        return value
    raise InvalidArgument("basis", value, f"a Basis or one of {sorted(BASES)}")


def basis_name(value: object) -> str:
    """The registered name of ``value`` (a name in [`BASES`][acctstate.proration.BASES], or a
    registered Basis).

    Raises:
        InvalidArgument: an unknown name, or a basis that was never registered.
    """
    if isinstance(value, str):
        if value in BASES:
            return value
    elif isinstance(value, Basis):
        name = getattr(value, "name", None)
        if isinstance(name, str) and BASES.get(name) == value:
            return name
        raise InvalidArgument(
            "basis", value, "a registered basis (add it with acctstate.proration.register_basis)"
        )
    raise InvalidArgument(
        "basis",
        value,
        f"one of {sorted(BASES)} (or a basis added with acctstate.proration.register_basis)",
    )


# -- the cancel day -----------------------------------------------------------------------


class CancelDay(enum.Enum):
    """Who pays for the unit (the day, on a daily basis) in which service stops."""

    REFUNDED = "refunded"
    """The cancel day is given back: cancelling on a period's first day refunds it all
    (the default; Chargebee's and Kill Bill's convention)."""
    CHARGED = "charged"
    """The cancel day is billed as used: cancelling on a period's last day refunds
    nothing (Lago's convention, and Chargebee's "bill the date of cancellation")."""


def _cancel_day(value: object) -> CancelDay:
    try:
        return CancelDay(value)
    except ValueError:
        raise InvalidArgument(
            "cancel_day", value, f"a CancelDay or one of {[c.value for c in CancelDay]}"
        ) from None


# -- the two choices ------------------------------------------------------------------------


class RefundPolicy(enum.Enum):
    """What happens to the money paid for the current period."""

    PRORATED = "prorated"
    """Refund the unused part, as of the moment service stops."""
    FULL = "full"
    """Refund everything paid for the period."""
    NONE = "none"
    """Refund nothing (adjust by hand if needed)."""
    PRORATED_AS_OF = "prorated_as_of"
    """Refund the unused part as of a given date, whenever service stops."""


def _policy(value: object) -> RefundPolicy:
    try:
        return RefundPolicy(value)
    except ValueError:
        raise InvalidArgument(
            "refund", value, f"a RefundPolicy or one of {[p.value for p in RefundPolicy]}"
        ) from None


def quote(
    paid: Decimal,
    period: Period,
    at: dt.datetime,
    *,
    policy: RefundPolicy | str = RefundPolicy.PRORATED,
    as_of: dt.datetime | None = None,
    currency: str = "USD",
    basis: Basis | str = ACTUAL_DAYS,
    rounding: str = decimal.ROUND_HALF_EVEN,
    tz: str | dt.tzinfo = "UTC",
    cancel_day: CancelDay | str = CancelDay.REFUNDED,
) -> Decimal:
    """The refund owed when a service ``period`` paid ``paid`` is cancelled at ``at``.

    Pure: nothing is read but the arguments. Prorated refunds are
    ``paid * units remaining / units in the period``, counted on ``basis``, rounded
    once to the currency's minor unit with ``rounding``.

    Args:
        paid: the amount paid for the period (``Decimal`` in whole minor units).
        period: the paid service period.
        at: when service stops (within the period).
        policy: a [`RefundPolicy`][acctstate.proration.RefundPolicy] (or its value).
        as_of: the proration instant for ``PRORATED_AS_OF`` (within the period).
        currency: ISO 4217 code; sets the minor unit.
        basis: a [`Basis`][acctstate.proration.Basis] or a name in
            [`BASES`][acctstate.proration.BASES].
        rounding: a ``decimal`` rounding mode.
        tz: the customer's billing time zone (calendar days are counted there).
        cancel_day: whether the unit in which service stops (the cancel day, on a
            daily basis) is ``"refunded"`` (the default) or ``"charged"`` as used.

    Returns:
        The refund, with the currency's number of decimal places.

    Raises:
        InvalidArgument: float, negative or sub-minor-unit money; a naive instant; an
            instant outside the period; ``as_of`` missing for ``PRORATED_AS_OF`` or given
            for another policy; an unknown currency format, basis, rounding mode or time
            zone; a period shorter than one unit of the basis; an unknown
            ``cancel_day``.

    >>> p = Period(dt.datetime(2026, 2, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    >>> quote(Decimal("20.00"), p, dt.datetime(2026, 2, 15, tzinfo=dt.UTC))
    Decimal('10.00')
    >>> quote(Decimal("20.00"), p, dt.datetime(2026, 2, 15, tzinfo=dt.UTC), policy="full")
    Decimal('20.00')
    >>> quote(Decimal("20.00"), p, dt.datetime(2026, 2, 15, tzinfo=dt.UTC), cancel_day="charged")
    Decimal('9.29')
    """
    policy = _policy(policy)
    billed = _cancel_day(cancel_day) is CancelDay.CHARGED
    if not isinstance(period, Period):
        raise InvalidArgument("period", period, "a Period")
    units = _minor(paid, "paid", currency)
    mode = _rounding(rounding)
    unit = _basis(basis)
    zone = _zone(tz)
    require_aware(at)
    if policy is RefundPolicy.PRORATED_AS_OF:
        if as_of is None:
            raise InvalidArgument("as_of", as_of, "the proration instant for 'prorated_as_of'")
        stop, stop_name = require_aware(as_of, "as_of"), "as_of"
    else:
        if as_of is not None:
            raise InvalidArgument("as_of", as_of, f"None for policy {policy.value!r}")
        stop, stop_name = at, "at"
    if stop not in period:
        raise InvalidArgument(stop_name, stop, f"an instant within the paid period {period}")
    if policy is RefundPolicy.NONE:
        return _as_money(0, currency)
    if policy is RefundPolicy.FULL:
        return _as_money(units, currency)
    end = unit.position(period.end, zone)
    total = end - unit.position(period.start, zone)
    left = end - unit.position(stop, zone)
    if billed and left > 0:
        left -= 1  # the unit service stops in is used, not given back
    if total <= 0:
        raise InvalidArgument(
            "period", period, f"a period at least one {unit.name} unit long in {zone}"
        )
    if not 0 <= left <= total:  # only a custom basis that goes backwards gets here
        raise InvalidArgument("basis", unit, "a basis whose positions never decrease")
    return _as_money(_divide(units * left, total, mode), currency)


# -- cancellation options -----------------------------------------------------------------------
