"""Reading a change's money facts: its currency, billing time zone and paid period, from
the event data or the account (private to ``acctstate.refunds``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from acctstate.core._workflow_defaults import own
from acctstate.operations.money.proration import Period, minor_units
from acctstate.values.clock import billing_zone
from acctstate.values.errors import InvalidArgument

if TYPE_CHECKING:  # pragma: no cover - typing only
    from acctstate.values.guards import GuardContext

__all__: list[str] = []


def _currency_of(ctx: GuardContext) -> str:
    """The event's currency, refusing one that contradicts the account's."""
    given = ctx.data.get("currency")
    mine = getattr(ctx.account, "currency", None) if given is None else own(ctx.account, "currency")
    if given is not None and mine is not None and given != mine:
        raise InvalidArgument("currency", given, f"the account's currency {mine!r}")
    currency = given if given is not None else mine if mine is not None else ctx.fact("currency")
    minor_units(currency)
    return str(currency)


def _tz_of(ctx: GuardContext) -> dt.tzinfo:
    return billing_zone(ctx.fact("timezone"))


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
