"""Cancellation options and proration: what a cancellation does to the money.

A cancellation is two independent choices (seed 000, made precise):

* **when service stops** (:class:`ServiceStop`): now, at the end of the paid period
  (through ``cancelation_pending``), or on a given date;
* **what happens to the money** (:class:`RefundPolicy`): a prorated refund, a full
  refund, none, or a refund prorated as of a specific date.

:data:`CANCEL_OPTIONS` names seed 000's six options as presets of those two choices;
any other combination is one :class:`CancelOption` away.

The arithmetic is one pure function, :func:`quote`: paid amount, service
:class:`Period`, cancellation instant -> the refund, a ``Decimal`` rounded to the
currency's minor unit with an explicit rounding mode. Proration is daily by default
(calendar days in the customer's billing time zone; the cancel day is not counted as
used), and the unit is pluggable (:data:`BASES`).

Three effect rules carry the money onto transitions: :class:`RefundRule` (the
cancellation's refund), :class:`ForwardBill` and :class:`BackBill` (seed 004's
reinstatement bills).

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
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from acctstate.clock import require_aware
from acctstate.effects import Charge, Effect, Refund, register_effect_rule
from acctstate.errors import InvalidArgument
from acctstate.history import History

if TYPE_CHECKING:  # pragma: no cover - typing only; the workflow sits below, hosts above
    from acctstate.actors import Actor
    from acctstate.effects import Hooks
    from acctstate.guards import GuardContext
    from acctstate.history import StatusChange
    from acctstate.status import Status
    from acctstate.workflow import Workflow

__all__ = [
    "ACTUAL_DAYS",
    "BASES",
    "CANCEL_OPTIONS",
    "MINOR_UNITS",
    "ROUNDING_MODES",
    "SECONDS",
    "THIRTY_DAY",
    "ActualDays",
    "BackBill",
    "Basis",
    "CancelOption",
    "Cancellation",
    "ForwardBill",
    "Period",
    "RefundPolicy",
    "RefundRule",
    "Seconds",
    "ServiceStop",
    "ThirtyDay",
    "minor_units",
    "quote",
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
"""The rounding modes :func:`quote` accepts: the ``decimal`` module's, except
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
    scaled = amount.scaleb(places)
    if scaled != scaled.to_integral_value():
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


def _as_money(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-minor_units(currency))


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
        if self.end <= self.start:
            raise InvalidArgument(
                "period.end", self.end, f"an instant after period.start ({self.start.isoformat()})"
            )

    def __contains__(self, at: object) -> bool:
        return isinstance(at, dt.datetime) and self.start <= at <= self.end

    def split(self, at: dt.datetime) -> tuple[Period, Period]:
        """The two periods before and after ``at`` (strictly inside this one).

        Raises:
            InvalidArgument: ``at`` is not strictly inside the period.
        """
        require_aware(at)
        if not self.start < at < self.end:
            raise InvalidArgument("at", at, f"an instant strictly inside {self}")
        return Period(self.start, at), Period(at, self.end)

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@runtime_checkable
class Basis(Protocol):
    """How proration counts time: the pluggable divisor of :func:`quote`.

    ``position(at, tz)`` numbers instants on a scale that never decreases with time; the
    units between two instants are the difference of their positions. The refund is
    ``paid * (position(end) - position(cancel)) / (position(end) - position(start))``.
    """

    @property
    def name(self) -> str:
        """The basis's name in :data:`BASES` (and workflow files)."""
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

BASES: Mapping[str, Basis] = {b.name: b for b in (ACTUAL_DAYS, THIRTY_DAY, SECONDS)}
"""The built-in bases by name."""


def _basis(value: object) -> Basis:
    if isinstance(value, str) and value in BASES:
        return BASES[value]
    if not isinstance(value, str) and isinstance(value, Basis):
        return value
    raise InvalidArgument("basis", value, f"a Basis or one of {sorted(BASES)}")


# -- the two choices ------------------------------------------------------------------------


class ServiceStop(enum.Enum):
    """When service stops on cancellation."""

    NOW = "now"
    """At the time of the change: trigger ``cancel``."""
    PERIOD_END = "period_end"
    """When the paid period ends: ``request_cancelation`` now, ``complete_cancelation``
    at the period's end (the account stays provisioned in between)."""
    ON_DATE = "on_date"
    """On a given date: ``cancel`` effective that date (schedule it, or fire it then)."""


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


def _stop(value: object) -> ServiceStop:
    try:
        return ServiceStop(value)
    except ValueError:
        raise InvalidArgument(
            "stop", value, f"a ServiceStop or one of {[s.value for s in ServiceStop]}"
        ) from None


# -- the quote --------------------------------------------------------------------------------


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
) -> Decimal:
    """The refund owed when a service ``period`` paid ``paid`` is cancelled at ``at``.

    Pure: nothing is read but the arguments. Prorated refunds are
    ``paid * units remaining / units in the period``, counted on ``basis``, rounded
    once to the currency's minor unit with ``rounding``.

    Args:
        paid: the amount paid for the period (``Decimal`` in whole minor units).
        period: the paid service period.
        at: when service stops (within the period).
        policy: a :class:`RefundPolicy` (or its value).
        as_of: the proration instant for ``PRORATED_AS_OF`` (within the period).
        currency: ISO 4217 code; sets the minor unit.
        basis: a :class:`Basis` or a name in :data:`BASES`.
        rounding: a ``decimal`` rounding mode.
        tz: the customer's billing time zone (calendar days are counted there).

    Returns:
        The refund, with the currency's number of decimal places.

    Raises:
        InvalidArgument: float, negative or sub-minor-unit money; a naive instant; an
            instant outside the period; ``as_of`` missing for ``PRORATED_AS_OF`` or given
            for another policy; an unknown currency format, basis, rounding mode or time
            zone; a period shorter than one unit of the basis.

    >>> p = Period(dt.datetime(2026, 2, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    >>> quote(Decimal("20.00"), p, dt.datetime(2026, 2, 15, tzinfo=dt.UTC))
    Decimal('10.00')
    >>> quote(Decimal("20.00"), p, dt.datetime(2026, 2, 15, tzinfo=dt.UTC), policy="full")
    Decimal('20.00')
    """
    policy = _policy(policy)
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
    if total <= 0:
        raise InvalidArgument(
            "period", period, f"a period at least one {unit.name} unit long in {zone}"
        )
    if not 0 <= left <= total:  # only a custom basis that goes backwards gets here
        raise InvalidArgument("basis", unit, "a basis whose positions never decrease")
    return _as_money(_divide(units * left, total, mode), currency)


# -- cancellation options -----------------------------------------------------------------------


@attrs.frozen
class CancelOption:
    """One way to cancel: when service stops and what happens to the money.

    Args:
        stop: a :class:`ServiceStop` (or its value).
        money: a :class:`RefundPolicy` (or its value).
        label: how a UI names it (seed 000's wording for the presets).

    >>> opt = CancelOption(stop="period_end", money="none")
    >>> opt.trigger
    'request_cancelation'
    """

    stop: ServiceStop = attrs.field(converter=_stop)
    money: RefundPolicy = attrs.field(converter=_policy)
    label: str = attrs.field(default="", eq=False)

    @property
    def trigger(self) -> str:
        """The trigger that carries it out in the reference workflow."""
        return "request_cancelation" if self.stop is ServiceStop.PERIOD_END else "cancel"

    def request(
        self,
        *,
        at: dt.datetime,
        on: dt.datetime | None = None,
        as_of: dt.datetime | None = None,
        paid: Decimal | None = None,
        period: Period | None = None,
    ) -> Cancellation:
        """The trigger, effective time and event data that carry this option out.

        Args:
            at: when the customer asks (the change's time unless ``stop`` is ON_DATE).
            on: the date service stops, for ``ServiceStop.ON_DATE`` only.
            as_of: the proration instant, for ``RefundPolicy.PRORATED_AS_OF`` only.
            paid: the amount paid for the current period (needed unless no refund).
            period: the current paid period (or the account's ``period_start`` and
                ``period_end`` are used).

        Raises:
            InvalidArgument: ``on`` / ``as_of`` missing where needed or given where not,
                ``on`` before ``at``, or naive instants.
        """
        require_aware(at)
        if (self.stop is ServiceStop.ON_DATE) != (on is not None):
            need = "the date service stops" if on is None else f"None for stop {self.stop.value!r}"
            raise InvalidArgument("on", on, need)
        if (self.money is RefundPolicy.PRORATED_AS_OF) != (as_of is not None):
            need = "the proration date" if as_of is None else f"None for {self.money.value!r}"
            raise InvalidArgument("as_of", as_of, need)
        effective = at
        if on is not None:
            effective = require_aware(on, "on")
            if effective < at:
                raise InvalidArgument("on", on, f"a date not before the request ({at.isoformat()})")
        data: dict[str, Any] = {"refund": self.money.value}  # plain data: storable as is
        if as_of is not None:
            data["refund_as_of"] = require_aware(as_of, "as_of")
        if paid is not None:
            data["paid"] = paid
        if period is not None:
            data["period"] = period
        return Cancellation(option=self, trigger=self.trigger, at=effective, data=data)


@attrs.frozen
class Cancellation:
    """A cancellation ready to plan or fire: trigger, effective time and event data.

    Made by :meth:`CancelOption.request`. ``at`` may lie in the future (seed 000's
    "specific date"): hand it to a scheduler, or fire it when the date comes.
    """

    option: CancelOption
    trigger: str
    at: dt.datetime
    data: dict[str, Any] = attrs.field(hash=False)

    def plan(self, workflow: Workflow, account: Any, **options: Any) -> StatusChange:
        """``workflow.plan`` for this cancellation (nothing changes).

        Args:
            options: ``reason``, ``note``, ``actor``, or more event data.
        """
        return workflow.plan(account, self.trigger, at=self.at, **{**self.data, **options})

    def fire(
        self,
        workflow: Workflow,
        account: Any,
        *,
        hooks: Hooks | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
    ) -> StatusChange:
        """``workflow.fire`` for this cancellation: refund and all, or nothing."""
        return workflow.fire(
            account,
            self.trigger,
            at=self.at,
            hooks=hooks,
            actor=actor,
            reason=reason,
            note=note,
            **self.data,
        )


CANCEL_OPTIONS: Mapping[str, CancelOption] = {
    "immediately_prorated_refund": CancelOption(
        stop=ServiceStop.NOW, money=RefundPolicy.PRORATED, label="Immediately with prorated refund"
    ),
    "immediately_full_refund": CancelOption(
        stop=ServiceStop.NOW, money=RefundPolicy.FULL, label="Immediately with full refund"
    ),
    "immediately_no_refund": CancelOption(
        stop=ServiceStop.NOW, money=RefundPolicy.NONE, label="Immediately with no refund"
    ),
    "period_end": CancelOption(
        stop=ServiceStop.PERIOD_END, money=RefundPolicy.NONE, label="Period end"
    ),
    "specific_date_prorated_refund": CancelOption(
        stop=ServiceStop.ON_DATE,
        money=RefundPolicy.PRORATED,
        label="Specific date with prorated refund",
    ),
    "immediately_prorated_as_of_date": CancelOption(
        stop=ServiceStop.NOW,
        money=RefundPolicy.PRORATED_AS_OF,
        label="Immediately with prorated transaction as of a specific date",
    ),
}
"""Seed 000's six cancel options, as presets of the two choices."""


# -- effect rules ---------------------------------------------------------------------------------

_UNSET: Any = object()


def _currency_of(ctx: GuardContext) -> str:
    """The event's currency, refusing one that contradicts the account's."""
    given = ctx.data.get("currency")
    own = getattr(ctx.account, "currency", None)
    if given is not None and own is not None and given != own:
        raise InvalidArgument("currency", given, f"the account's currency {own!r}")
    currency = given if given is not None else own if own is not None else "USD"
    minor_units(currency)
    return str(currency)


def _tz_of(ctx: GuardContext) -> str | dt.tzinfo:
    tz = ctx.value("timezone", "UTC")
    return tz if isinstance(tz, str | dt.tzinfo) else "UTC"


def _period_of(ctx: GuardContext) -> Period:
    period = ctx.value("period", None)
    if period is None:
        start, end = ctx.value("period_start", None), ctx.value("period_end", None)
        if start is None or end is None:
            raise InvalidArgument(
                "period",
                None,
                "the paid Period as event data (period=) or the account's "
                "period_start and period_end",
            )
        return Period(start, end)
    if not isinstance(period, Period):
        raise InvalidArgument("period", period, "a Period")
    return period


@register_effect_rule("refund_policy")
@attrs.frozen
class RefundRule:
    """Effect rule: the cancellation's :class:`~acctstate.effects.Refund`.

    Reads the event data (or the account's attributes of the same name): ``refund``
    (a :class:`RefundPolicy`, default ``default``), ``paid``, ``period`` (or
    ``period_start`` / ``period_end``), ``refund_as_of``, ``currency`` and the
    account's ``timezone``. A zero refund plans no effect.

    Args:
        default: the policy when the event names none (``"none"``: no refund unless
            asked, as seed 000's "no adjustment transactions entered automatically").
        service_stops: ``"at"`` (service stops at the change's time) or
            ``"period_end"`` (it stops when the paid period ends, so a prorated refund
            is zero and only a full or as-of refund pays anything).
        basis: a name in :data:`BASES`.
        rounding: a ``decimal`` rounding mode.

    Raises:
        InvalidArgument: (when planning) bad money, period or instants, or a currency
            that contradicts the account's; nothing changes.
    """

    default: RefundPolicy = attrs.field(default=RefundPolicy.NONE, converter=_policy)
    service_stops: str = attrs.field(
        default="at", validator=attrs.validators.in_(["at", "period_end"])
    )
    basis: str = attrs.field(default="actual_days", validator=attrs.validators.in_(list(BASES)))
    rounding: str = attrs.field(default=decimal.ROUND_HALF_EVEN, converter=_rounding)

    @property
    def name(self) -> str:
        """``"refund_policy"``."""
        return "refund_policy"

    @property
    def kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild it (plain strings, for files)."""
        return {
            "default": self.default.value,
            "service_stops": self.service_stops,
            "basis": self.basis,
            "rounding": self.rounding,
        }

    def __call__(self, ctx: GuardContext, source: Status, dest: Status) -> Iterable[Effect]:
        """The refund this cancellation owes (nothing for a zero refund)."""
        policy = _policy(ctx.data.get("refund", self.default))
        if policy is RefundPolicy.NONE:
            return ()
        paid = ctx.value("paid", None)
        if paid is None:
            raise InvalidArgument("paid", None, f"the amount paid, for a {policy.value} refund")
        period = _period_of(ctx)
        currency = _currency_of(ctx)
        stop = period.end if self.service_stops == "period_end" else ctx.at
        amount = quote(
            paid,
            period,
            stop,
            policy=policy,
            as_of=ctx.data.get("refund_as_of"),
            currency=currency,
            basis=self.basis,
            rounding=self.rounding,
            tz=_tz_of(ctx),
        )
        if not amount:
            return ()
        return (Refund(amount=amount, currency=currency, description=f"{policy.value} refund"),)


def _price_of(ctx: GuardContext, key: str, currency: str) -> Decimal | None:
    price = ctx.value(key, None)
    if price is None:
        return None
    _minor(price, key, currency)
    return Decimal(price)


@register_effect_rule("forward_bill")
@attrs.frozen
class ForwardBill:
    """Effect rule (seed 004, code 21): bill the coming period once, in advance.

    Charges the event's (or account's) ``price`` exactly. Without a price nothing is
    planned: the host then bills the period itself.

    Args:
        price: the event-data key holding the price of one period.
    """

    price: str = "period_price"

    @property
    def name(self) -> str:
        """``"forward_bill"``."""
        return "forward_bill"

    @property
    def kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild it."""
        return {"price": self.price}

    def __call__(self, ctx: GuardContext, source: Status, dest: Status) -> Iterable[Effect]:
        """One :class:`~acctstate.effects.Charge` of the period's price."""
        currency = _currency_of(ctx)
        price = _price_of(ctx, self.price, currency)
        if not price:
            return ()
        return (Charge(amount=price, currency=currency, description="forward bill"),)


def _not_billed_since(ctx: GuardContext) -> dt.datetime | None:
    """When the account last stopped being billed: the start of the back-bill stretch."""
    history = getattr(ctx.account, "history", None)
    if isinstance(history, History) and history:
        since = None
        for i in range(len(history) - 1, -1, -1):
            change = history[i]
            if change.dest.billable:
                break
            since = change.at
            if change.source.billable:
                break
        return since
    since = getattr(ctx.account, "status_since", None)
    return since if isinstance(since, dt.datetime) else None


@register_effect_rule("back_bill")
@attrs.frozen
class BackBill:
    """Effect rule (seed 004, code 22): charge the period the account went unbilled.

    The unbilled stretch runs from ``suspended_since`` (event data) or, by default,
    from when the account's history last left a billable status, to the change's
    time; it is billed at ``price`` per ``period_days`` calendar days (counted in the
    account's ``timezone``), rounded once to the minor unit. Without a price nothing
    is planned.

    Args:
        price: the event-data key holding the price of one period.
        period_days: the length of one billing period in days.
        rounding: a ``decimal`` rounding mode.
    """

    price: str = "period_price"
    period_days: int = attrs.field(default=30, validator=attrs.validators.ge(1))
    rounding: str = attrs.field(default=decimal.ROUND_HALF_EVEN, converter=_rounding)

    @property
    def name(self) -> str:
        """``"back_bill"``."""
        return "back_bill"

    @property
    def kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild it."""
        return {"price": self.price, "period_days": self.period_days, "rounding": self.rounding}

    def __call__(self, ctx: GuardContext, source: Status, dest: Status) -> Iterable[Effect]:
        """One :class:`~acctstate.effects.Charge` for the unbilled days."""
        currency = _currency_of(ctx)
        price = _price_of(ctx, self.price, currency)
        if not price:
            return ()
        since = ctx.data.get("suspended_since", _UNSET)
        if since is _UNSET:
            since = _not_billed_since(ctx)
        if since is None:
            raise InvalidArgument(
                "suspended_since", None, "when billing stopped (event data or account history)"
            )
        since = require_aware(since, "suspended_since")
        if since > ctx.at:
            raise InvalidArgument(
                "suspended_since", since, f"an instant not after the change ({ctx.at.isoformat()})"
            )
        zone = _zone(_tz_of(ctx))
        days = ACTUAL_DAYS.position(ctx.at, zone) - ACTUAL_DAYS.position(since, zone)
        units = _divide(_minor(price, self.price, currency) * days, self.period_days, self.rounding)
        if not units:
            return ()
        return (
            Charge(
                amount=_as_money(units, currency),
                currency=currency,
                description=f"back bill: {days} days",
            ),
        )
