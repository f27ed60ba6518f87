"""Contract terms, distinct from bill cycles, and the resume rule that extends a term by
the days an account was suspended.

An account has two calendars. Its **bill cycle** is the period one invoice pays for
(``period_start`` to ``period_end``, a [`Period`][acctstate.proration.Period]); its
**contract term** is what the customer committed to (``contract_ends_at``, a
[`Term`][acctstate.refunds.Term]), typically twelve cycles. An end-of-period cancellation
waits for the cycle, an end-of-term one for the term; a resume may push the term back
by the days the service was suspended, as Zuora's resume does:

>>> import datetime as dt
>>> term = Term(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
>>> later = term.resumed(
...     suspended=dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
...     resumed=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
...     tz="UTC",
... )
>>> later.end.date().isoformat(), later.days - term.days
('2027-03-03', 61)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs

from acctstate.values._effect_kinds import ExtendTerm
from acctstate.values.clock import add_local_days, billing_zone, calendar_days, require_aware
from acctstate.values.effects import Effect, register_effect_rule
from acctstate.values.errors import InvalidArgument
from acctstate.values.guards import GuardContext
from acctstate.values.status import Status

__all__ = ["ExtendTerm", "ExtendTermOnResume", "Term"]


def _aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    require_aware(value, f"term.{attribute.name}")


@attrs.frozen
class Term:
    """A contract term, ``start`` to ``end`` (aware instants, ``end`` after ``start``).

    Raises:
        InvalidArgument: a naive instant or an ``end`` not after ``start``.
    """

    start: dt.datetime = attrs.field(validator=_aware)
    end: dt.datetime = attrs.field(validator=_aware)

    def __attrs_post_init__(self) -> None:
        if self.end.astimezone(dt.UTC) <= self.start.astimezone(dt.UTC):
            raise InvalidArgument(
                "term.end", self.end, f"an instant after term.start ({self.start.isoformat()})"
            )

    @property
    def days(self) -> int:
        """The term's length in calendar days (UTC)."""
        return calendar_days(self.start, self.end, dt.UTC)

    def extended(self, days: int, *, tz: str | dt.tzinfo = "UTC") -> Term:
        """The term ending ``days`` calendar days later (same wall time, in ``tz``)."""
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise InvalidArgument("days", days, "a non-negative int")
        return attrs.evolve(
            self, end=add_local_days(self.end, days, tz).astimezone(self.end.tzinfo)
        )

    def resumed(self, *, suspended: dt.datetime, resumed: dt.datetime, tz: str | dt.tzinfo) -> Term:
        """The term after a suspension from ``suspended`` to ``resumed``: extended by the
        calendar days suspended, counted in the billing time zone ``tz``.

        Raises:
            InvalidArgument: naive instants, or ``resumed`` before ``suspended``.
        """
        days = calendar_days(suspended, resumed, billing_zone(tz), name="suspended")
        if days < 0:
            raise InvalidArgument(
                "resumed", resumed, f"an instant not before the suspension ({suspended})"
            )
        return self.extended(days, tz=billing_zone(tz))


@register_effect_rule("extend_term_on_resume")
@attrs.frozen
class ExtendTermOnResume:
    """Effect rule for a resume transition: the [`ExtendTerm`][acctstate.refunds.ExtendTerm]
    that pushes the term back by the days suspended.

    The suspension began when the account entered the status it leaves
    (``status_since``); the term ends at ``contract_ends_at`` (event data or the
    account's); days are counted in the account's ``timezone``. An account without a
    term (month to month) or resumed the day it was suspended gets no effect.
    """

    @property
    def name(self) -> str:
        """``"extend_term_on_resume"``."""
        return "extend_term_on_resume"

    @property
    def kwargs(self) -> dict[str, Any]:
        """No arguments."""
        return {}

    def __call__(self, ctx: GuardContext, source: Status, dest: Status) -> Iterable[Effect]:
        """The term extension this resume owes (nothing without a term)."""
        end = ctx.value("contract_ends_at", None)
        since = ctx.value("status_since", None)
        if end is None or since is None:
            return ()
        tz = billing_zone(ctx.value("timezone", None))
        days = calendar_days(since, ctx.at, tz, name="status_since")
        if days <= 0:
            return ()
        ends_at = add_local_days(require_aware(end, "contract_ends_at"), days, tz)
        return (ExtendTerm(ends_at=ends_at.astimezone(end.tzinfo), days=days),)
