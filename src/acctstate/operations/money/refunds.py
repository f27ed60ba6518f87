"""Cancellation options and proration: what a cancellation does to the money.

A cancellation is two independent choices (EngageIP-style cancellation, made precise):

* **when service stops** ([`ServiceStop`][acctstate.refunds.ServiceStop]): now, at the end of the
  paid period (through ``cancelation_pending``), or on a given date;
* **what happens to the money** ([`RefundPolicy`][acctstate.proration.RefundPolicy]): a prorated
  refund, a full refund, none, or a refund prorated as of a specific date.

[`CANCEL_OPTIONS`][acctstate.refunds.CANCEL_OPTIONS] names the six EngageIP-style options as presets of
those two choices; any other combination is one [`CancelOption`][acctstate.refunds.CancelOption]
away.

The arithmetic is one pure function, [`quote`][acctstate.proration.quote] (in
[`acctstate.proration`][acctstate.proration], re-exported here): paid amount, service period,
cancellation instant -> the refund, a ``Decimal`` rounded to the currency's minor unit with an
explicit rounding mode.

Three effect rules carry the money onto transitions: [`RefundRule`][acctstate.refunds.RefundRule]
(the cancellation's refund), [`ForwardBill`][acctstate.refunds.ForwardBill] and
[`BackBill`][acctstate.refunds.BackBill] (the status-code table's reinstatement bills); a
fourth, [`ExtendTermOnResume`][acctstate.refunds.ExtendTermOnResume], pushes a contract
[`Term`][acctstate.refunds.Term] back by the days an account was suspended.

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
from typing import TYPE_CHECKING, Any

import attrs

from acctstate.core._workflow_schedule import check_book
from acctstate.operations.money._event import _currency_of, _period_of, _tz_of
from acctstate.operations.money._reinstatement import BackBill, ForwardBill
from acctstate.operations.money.proration import (
    ACTUAL_DAYS,
    BASES,
    MINOR_UNITS,
    ROUNDING_MODES,
    SECONDS,
    THIRTY_DAY,
    ActualDays,
    Basis,
    CancelDay,
    Period,
    RefundPolicy,
    Seconds,
    ThirtyDay,
    _cancel_day,
    _policy,
    _rounding,
    basis_name,
    minor_units,
    quote,
    register_basis,
)
from acctstate.operations.money.terms import ExtendTerm, ExtendTermOnResume, Term
from acctstate.values.clock import require_aware, utc
from acctstate.values.effects import Effect, Refund, register_effect_rule
from acctstate.values.errors import InvalidArgument

if TYPE_CHECKING:  # pragma: no cover - typing only; the workflow sits below, hosts above
    from acctstate.core.workflow import Workflow
    from acctstate.operations.schedule import Schedule
    from acctstate.values.actors import Actor
    from acctstate.values.effects import Hooks
    from acctstate.values.guards import GuardContext
    from acctstate.values.history import ScheduledChange, StatusChange
    from acctstate.values.status import Status

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
    "CancelDay",
    "CancelOption",
    "Cancellation",
    "ExtendTerm",
    "ExtendTermOnResume",
    "ForwardBill",
    "Period",
    "RefundPolicy",
    "RefundRule",
    "Seconds",
    "ServiceStop",
    "Term",
    "ThirtyDay",
    "minor_units",
    "quote",
    "register_basis",
]

# -- the two choices ---------------------------------------------------------------------


class ServiceStop(enum.Enum):
    """When service stops on cancellation."""

    NOW = "now"
    """At the time of the change: trigger ``cancel``."""
    PERIOD_END = "period_end"
    """When the paid period ends: ``request_cancelation`` now, ``complete_cancelation``
    at the period's end (the account stays provisioned in between)."""
    ON_DATE = "on_date"
    """On a given date: ``cancel`` effective that date (schedule it, or fire it then)."""


def _stop(value: object) -> ServiceStop:
    try:
        return ServiceStop(value)
    except ValueError:
        raise InvalidArgument(
            "stop", value, f"a ServiceStop or one of {[s.value for s in ServiceStop]}"
        ) from None


# -- the quote --------------------------------------------------------------------------------


@attrs.frozen
class CancelOption:
    """One way to cancel: when service stops and what happens to the money.

    Args:
        stop: a [`ServiceStop`][acctstate.refunds.ServiceStop] (or its value).
        money: a [`RefundPolicy`][acctstate.proration.RefundPolicy] (or its value).
        label: how a UI names it (EngageIP's wording for the presets).

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
                ``period_end`` are used). For ``ServiceStop.PERIOD_END`` its end is
                recorded as `Cancellation.ends`:
                the instant service ends by itself.

        Raises:
            InvalidArgument: ``on`` / ``as_of`` missing where needed or given where not,
                ``on`` before ``at``, a period-end request whose period has ended, or
                naive instants.

        >>> import datetime as dt
        >>> t = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)
        >>> january = Period(dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        ...                  dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
        >>> request = CancelOption("period_end", "none").request(at=t, period=january)
        >>> request.trigger, request.ends.isoformat()
        ('request_cancelation', '2026-02-01T00:00:00+00:00')
        >>> end = request.completion()
        >>> end.trigger, end.at == january.end, end.data
        ('complete_cancelation', True, {'period_end': datetime.datetime(2026, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)})
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
            if utc(effective, "on") < utc(at):
                raise InvalidArgument("on", on, f"a date not before the request ({at.isoformat()})")
        data: dict[str, Any] = {"refund": self.money.value}  # plain data: storable as is
        if as_of is not None:
            data["refund_as_of"] = require_aware(as_of, "as_of")
        if paid is not None:
            data["paid"] = paid
        ends = None
        if period is not None:
            if not isinstance(period, Period):
                raise InvalidArgument("period", period, "a Period")
            data["period"] = period
            if self.stop is ServiceStop.PERIOD_END:
                if utc(period.end) <= utc(at):
                    raise InvalidArgument(
                        "period", period, f"a paid period that ends after the request ({at})"
                    )
                ends = period.end
        return Cancellation(option=self, trigger=self.trigger, at=effective, data=data, ends=ends)


COMPLETE_TRIGGER = "complete_cancelation"
"""The trigger that ends service at the period end after ``request_cancelation``."""


@attrs.frozen
class Cancellation:
    """A cancellation ready to plan or fire: trigger, effective time and event data.

    Made by [`CancelOption.request`][acctstate.refunds.CancelOption.request]. ``at`` may lie in the
    future (a "specific date"): hand it to a scheduler, or fire it when the date comes.

    Attributes:
        option: the option it carries out.
        trigger: the trigger to fire.
        at: the effective time.
        data: the event data for guards and effect rules (plain values a store keeps).
        ends: for a period-end cancellation, when service ends by itself (the end of the
            paid period given to ``request``; ``None`` when the request had no period, and
            the account's ``period_end`` is read when it is fired).
    """

    option: CancelOption
    trigger: str
    at: dt.datetime
    data: dict[str, Any] = attrs.field(hash=False)
    ends: dt.datetime | None = None

    def completion(self, account: Any = None) -> Cancellation:
        """The change that ends service when the period ends: ``complete_cancelation``
        at `ends` (or ``account``'s
        ``period_end``), carrying that end as event data, so the ``period_ended`` guard
        reads the end the request recorded, not whatever the account holds by then.

        Raises:
            InvalidArgument: the option does not stop service at the period end, or no
                period end is known (give ``request`` a ``period``), or it is not an aware
                instant after the request.
        """
        if self.option.stop is not ServiceStop.PERIOD_END:
            raise InvalidArgument(
                "option", self.option.stop.value, "a cancellation that stops at 'period_end'"
            )
        end = self.ends
        if end is None and account is not None:
            end = getattr(account, "period_end", None)
        if end is None:
            raise InvalidArgument(
                "period", None, "the paid period (request(period=...)) or an account period_end"
            )
        require_aware(end, "period_end")
        if utc(end) <= utc(self.at):
            raise InvalidArgument(
                "period_end", end, f"an instant after the request ({self.at.isoformat()})"
            )
        return Cancellation(self.option, COMPLETE_TRIGGER, end, {"period_end": end}, ends=end)

    def plan(self, workflow: Workflow, account: Any, **options: Any) -> StatusChange:
        """``workflow.plan`` for this cancellation (nothing changes).

        Args:
            options: ``reason``, ``note``, ``actor``, or more event data.
        """
        return workflow.plan(account, self.trigger, at=self.at, **{**self.data, **options})

    def schedule(
        self,
        workflow: Workflow,
        account: Any,
        *,
        book: Schedule | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
    ) -> ScheduledChange:
        """``workflow.schedule`` for this cancellation (for a store:
        ``store.schedule(account_id, c.trigger, at=c.at, **c.data)``)."""
        return workflow.schedule(
            account,
            self.trigger,
            at=self.at,
            book=book,
            actor=actor,
            reason=reason,
            note=note,
            **self.data,
        )

    def fire(
        self,
        workflow: Workflow,
        account: Any,
        *,
        hooks: Hooks | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        book: Schedule | None = None,
    ) -> StatusChange:
        """``workflow.fire`` for this cancellation: refund and all, or nothing.

        A period-end request also schedules its [`completion`][acctstate.refunds.Cancellation.completion]
        in ``book`` (default: the workflow's own book), so service ends by itself when
        the period ends (``apply_due`` fires it then).

        Raises:
            InvalidArgument: for a period-end request, no period end is known or ``book``
                is not a schedule of ``workflow`` (checked before anything changes).
        """
        end: Cancellation | None = None
        target: Schedule | None = None
        if self.option.stop is ServiceStop.PERIOD_END and self.trigger != COMPLETE_TRIGGER:
            end = self.completion(account)
            target = check_book(workflow, workflow.book if book is None else book)
        change = workflow.fire(
            account,
            self.trigger,
            at=self.at,
            hooks=hooks,
            actor=actor,
            reason=reason,
            note=note,
            **self.data,
        )
        if end is not None:
            end.schedule(workflow, account, book=target, actor=actor, note=note)
        return change


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
"""The six EngageIP-style cancel options, as presets of the two choices."""


# -- effect rules ---------------------------------------------------------------------------------


def _service_stops(value: object) -> str:
    if value in ("at", "period_end"):
        return str(value)
    raise InvalidArgument("service_stops", value, "'at' or 'period_end'")


@register_effect_rule("refund_policy")
@attrs.frozen
class RefundRule:
    """Effect rule: the cancellation's [`Refund`][acctstate.effects.Refund].

    Reads the event data (or the account's attributes of the same name): ``refund``
    (a [`RefundPolicy`][acctstate.proration.RefundPolicy], default ``default``), ``paid``,
    ``period`` (or ``period_start`` / ``period_end``), ``refund_as_of``, ``currency`` and the
    account's ``timezone``. A zero refund plans no effect.

    Args:
        default: the policy when the event names none (``"none"``: no refund unless
            asked, as in EngageIP's "no adjustment transactions entered automatically").
        service_stops: ``"at"`` (service stops at the change's time) or
            ``"period_end"`` (it stops when the paid period ends, so a prorated refund
            is zero and only a full or as-of refund pays anything).
        basis: a name in [`BASES`][acctstate.proration.BASES] (built in, or added with
            [`register_basis`][acctstate.proration.register_basis]), or a registered basis.
        rounding: a ``decimal`` rounding mode.
        cancel_day: whether the day service stops is ``"refunded"`` (the default)
            or ``"charged"`` as used (a [`CancelDay`][acctstate.proration.CancelDay]).

    Raises:
        InvalidArgument: (when built) an unknown ``service_stops``, basis, rounding
            mode or ``cancel_day``; (when planning) bad money, period or instants, or
            a currency that contradicts the account's; nothing changes.
    """

    default: RefundPolicy = attrs.field(default=RefundPolicy.NONE, converter=_policy)
    service_stops: str = attrs.field(default="at", converter=_service_stops)
    basis: str = attrs.field(default="actual_days", converter=basis_name)
    rounding: str = attrs.field(default=decimal.ROUND_HALF_EVEN, converter=_rounding)
    cancel_day: CancelDay = attrs.field(default=CancelDay.REFUNDED, converter=_cancel_day)

    @property
    def name(self) -> str:
        """``"refund_policy"``."""
        return "refund_policy"

    @property
    def kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild it (plain strings, for files)."""
        out = {
            "default": self.default.value,
            "service_stops": self.service_stops,
            "basis": self.basis,
            "rounding": self.rounding,
        }
        if self.cancel_day is not CancelDay.REFUNDED:
            out["cancel_day"] = self.cancel_day.value
        return out

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
            cancel_day=self.cancel_day,
        )
        if not amount:
            return ()
        return (Refund(amount=amount, currency=currency, description=f"{policy.value} refund"),)
