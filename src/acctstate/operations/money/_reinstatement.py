"""The reinstatement bills: [`ForwardBill`][acctstate.refunds.ForwardBill] (the coming
period, in advance) and [`BackBill`][acctstate.refunds.BackBill] (the days the account went
unbilled). Re-exported by ``acctstate.refunds``; import them from there."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from acctstate.operations.money._event import _currency_of, _tz_of
from acctstate.operations.money.proration import (
    ACTUAL_DAYS,
    _as_money,
    _divide,
    _minor,
    _rounding,
)
from acctstate.values.clock import require_aware, utc
from acctstate.values.effects import Charge, Effect, register_effect_rule
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import History

if TYPE_CHECKING:  # pragma: no cover - typing only
    from acctstate.values.guards import GuardContext
    from acctstate.values.status import Status

__all__ = ["BackBill", "ForwardBill"]

_UNSET: Any = object()


def _priced(ctx: GuardContext, key: str) -> tuple[Decimal, str] | None:
    """The price under ``key`` and its currency, or ``None`` when there is nothing to
    bill: no price, or a zero one (no currency is needed then)."""
    value = ctx.value(key, None)
    if value is None or (isinstance(value, Decimal | int) and not value):
        return None
    currency = _currency_of(ctx)
    _minor(value, key, currency)
    price = Decimal(value)
    return (price, currency) if price else None


@register_effect_rule("forward_bill")
@attrs.frozen
class ForwardBill:
    """Effect rule (reinstated forward bill, code 21): bill the coming period once, in advance.

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
        """One [`Charge`][acctstate.effects.Charge] of the period's price."""
        priced = _priced(ctx, self.price)
        if priced is None:
            return ()
        price, currency = priced
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
    """Effect rule (reinstated back bill, code 22): charge the period the account went unbilled.

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
        """One [`Charge`][acctstate.effects.Charge] for the unbilled days."""
        priced = _priced(ctx, self.price)
        if priced is None:
            return ()
        price, currency = priced
        since = ctx.data.get("suspended_since", _UNSET)
        if since is _UNSET:
            since = _not_billed_since(ctx)
        if since is None:
            raise InvalidArgument(
                "suspended_since", None, "when billing stopped (event data or account history)"
            )
        since = require_aware(since, "suspended_since")
        if utc(since, "suspended_since") > utc(ctx.at):
            raise InvalidArgument(
                "suspended_since", since, f"an instant not after the change ({ctx.at.isoformat()})"
            )
        zone = _tz_of(ctx)
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
