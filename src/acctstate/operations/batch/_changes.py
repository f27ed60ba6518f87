"""The changes a batch can make, as validated frozen values.

Re-exported by [`acctstate.batch`][acctstate.batch]; import them from there. A status change
([`FireTrigger`][acctstate.batch.FireTrigger], [`ChangeStatus`][acctstate.batch.ChangeStatus]) is
decided by the workflow; the other changes update an account's fields and are checked here, one
account at a time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from acctstate.core._workflow_defaults import own
from acctstate.values.catalog import StatusRef
from acctstate.values.clock import billing_zone, require_aware, start_of_local_day
from acctstate.values.effects import Charge, Effect, Refund
from acctstate.values.errors import InvalidArgument, MissingFact
from acctstate.values.status import Backend, Status

__all__ = [
    "BatchChange",
    "ChangeStatus",
    "ChargeAccount",
    "FieldUpdate",
    "Fields",
    "FireTrigger",
    "RefundPayment",
    "SetActivationDate",
    "SetAvailabilityPeriod",
    "SetExpirationDate",
    "SetOpeningBalance",
    "activate_inactive",
]

_TRIGGER = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class Fields:
    """What a change reads of one account: ``fields(name)`` is a field as it will be after
    the changes before it; ``fields.fact(name)`` is a fact money and time cannot do without
    (the billing ``timezone``, the ``currency``), read exactly as ``Workflow.fire`` reads
    it: the account's own, else the workflow's default, else
    [`MissingFact`][acctstate.errors.MissingFact]. Never guessed.
    """

    __slots__ = ("_account", "_defaults", "overlay")

    def __init__(self, account: Any, defaults: Mapping[str, str | None]) -> None:
        self._account = account
        self._defaults = defaults
        self.overlay: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        if name in self.overlay:
            return self.overlay[name]
        return getattr(self._account, name, None)

    def fact(self, name: str) -> Any:
        """The account's ``name``, else the workflow's default.

        Raises:
            MissingFact: neither gives one.
        """
        value = own(self._account, name)
        if value is None:
            value = self._defaults.get(name)
        if value is None:
            raise MissingFact(account_id=getattr(self._account, "id", None), fact=name)
        return value


Verdict = tuple[str, str | None, "FieldUpdate | None", Effect | None, Decimal | None]
"""``(action, reason, update, effect, money)``: what a field change does to one account."""


@attrs.frozen
class FieldUpdate:
    """One field of one account, before and after.

    >>> from decimal import Decimal
    >>> str(FieldUpdate("funds", Decimal("10.00"), Decimal("15.00")))
    'funds: 10.00 -> 15.00'
    """

    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        def show(v: Any) -> str:
            return v.isoformat() if isinstance(v, dt.datetime) else str(v)

        return f"{self.field}: {show(self.old)} -> {show(self.new)}"


@attrs.frozen
class BatchChange:
    """Base class of the changes [`acctstate.batch.preview`][acctstate.batch.preview] and ``apply``
    accept."""

    kind: ClassVar[str] = "change"
    moves_status: ClassVar[bool] = False
    ledgered: ClassVar[bool] = False

    def describe(self) -> str:
        """The change in words, as the confirmation lists it."""
        return self.kind

    @property
    def key(self) -> str:
        """What identifies this change in an account's ledger key."""
        return self.kind

    def evaluate(self, account: Any, status: Status, current: Fields) -> Verdict:
        """What this change does to one account (field changes only).

        Raises:
            MissingFact: the change needs the account's time zone or currency, and
                neither the account nor the workflow's defaults give one (the batch
                reports that account refused, with this error).
        """
        raise NotImplementedError  # pragma: no cover - status changes are planned by the workflow


def _closed(status: Status) -> str | None:
    if status.terminal:
        return f"status {status.name!r} is terminal: no further operations are possible"
    return None


def _money(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidArgument(attribute.name, value, "a finite Decimal (float money is refused)")


def _positive_money(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _money(inst, attribute, value)
    assert isinstance(value, Decimal)
    if value <= 0:
        raise InvalidArgument(attribute.name, value, "a Decimal greater than zero")


# -- status changes ---------------------------------------------------------------------


@attrs.frozen
class FireTrigger(BatchChange):
    """Fire ``trigger`` on every account (refused where the graph or a guard says no).

    >>> FireTrigger("block").describe()
    "fire 'block'"
    """

    trigger: str = attrs.field()
    kind: ClassVar[str] = "fire"
    moves_status: ClassVar[bool] = True

    @trigger.validator
    def _check(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not _TRIGGER.match(value):
            raise InvalidArgument("trigger", value, "a snake_case verb such as 'block'")

    def describe(self) -> str:
        return f"fire {self.trigger!r}"


def _refs(value: object) -> tuple[StatusRef, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | int | Status):
        return (value,)
    return tuple(value)  # type: ignore[arg-type]


def _ref_name(ref: StatusRef) -> str:
    return ref.name if isinstance(ref, Status) else str(ref)


@attrs.frozen
class ChangeStatus(BatchChange):
    """Move every account to status ``to`` through the one trigger leading there.

    An account already in ``to`` is unchanged; with ``only_from``, so is every account
    not in one of those statuses (the "activate all accounts with the Inactive
    status").

    Args:
        to: the target status.
        only_from: the statuses concerned (default: all).

    >>> ChangeStatus("blocked").describe()
    "change status to 'blocked'"
    """

    to: StatusRef = attrs.field()
    only_from: tuple[StatusRef, ...] | None = attrs.field(default=None, converter=_refs)
    kind: ClassVar[str] = "change_status"
    moves_status: ClassVar[bool] = True

    @to.validator
    def _check(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | str | Status):
            raise InvalidArgument("to", value, "a status code, name or Status")

    def describe(self) -> str:
        text = f"change status to {_ref_name(self.to)!r}"
        if self.only_from is not None:
            text += " (only accounts in " + ", ".join(repr(_ref_name(s)) for s in self.only_from)
            text += ")"
        return text


def activate_inactive(
    *, inactive: StatusRef = "inactive", active: StatusRef = "active"
) -> ChangeStatus:
    """The batch toggle "activate all accounts with the Inactive status".

    >>> activate_inactive().describe()
    "change status to 'active' (only accounts in 'inactive')"
    """
    return ChangeStatus(active, only_from=(inactive,))


# -- dates ------------------------------------------------------------------------------


def _date_or_aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, dt.datetime):
        require_aware(value, attribute.name)
    elif not isinstance(value, dt.date):
        raise InvalidArgument(
            attribute.name, value, "a date (in the customer's time zone) or an aware datetime"
        )


def _instant(on: dt.date | dt.datetime, current: Fields) -> dt.datetime:
    if isinstance(on, dt.datetime):
        return on
    # A bare date is a day in the customer's billing time zone: it starts at
    # local midnight there, whatever zone the operator is in.
    # When the clocks skip midnight, the day starts at the first instant that exists; a
    # ``timezone`` that is not a zone is refused (InvalidArgument), never read as UTC, and
    # an account without one takes the workflow's default or is refused (MissingFact).
    return start_of_local_day(on, billing_zone(current.fact("timezone")))


def _show_day(on: dt.date | dt.datetime) -> str:
    if isinstance(on, dt.datetime):
        return on.isoformat()
    return f"{on.isoformat()} (customer's time zone)"


class _DateChange(BatchChange):
    field: ClassVar[str] = ""

    def _verdict(self, account: Any, status: Status, current: Fields, new: Any) -> Verdict:
        closed = _closed(status)
        if closed:
            return ("refused", closed, None, None, None)
        old = current(self.field)
        if old == new:
            return ("unchanged", f"{self.field} is already {_show(new)}", None, None, None)
        return ("change", None, FieldUpdate(self.field, old, new), None, None)


def _show(v: Any) -> str:
    return v.isoformat() if isinstance(v, dt.datetime) else str(v)


@attrs.frozen
class SetActivationDate(_DateChange):
    """Set the activation date: a date in the customer's billing time zone, or an instant.

    >>> import datetime as dt
    >>> SetActivationDate(dt.date(2026, 2, 1)).describe()
    "set activation date to 2026-02-01 (customer's time zone)"
    """

    on: dt.date | dt.datetime = attrs.field(validator=_date_or_aware)
    kind: ClassVar[str] = "activation_date"
    field: ClassVar[str] = "activated_at"

    def describe(self) -> str:
        return f"set activation date to {_show_day(self.on)}"

    def evaluate(self, account: Any, status: Status, current: Fields) -> Verdict:
        new = _instant(self.on, current)
        expires = current("expires_at")
        if expires is not None and expires <= new:
            return (
                "refused",
                f"activation {new.isoformat()} is not before expiration {expires.isoformat()}",
                None,
                None,
                None,
            )
        return self._verdict(account, status, current, new)


def _optional_date(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _date_or_aware(inst, attribute, value)


@attrs.frozen
class SetExpirationDate(_DateChange):
    """Set (or clear, with ``None``) the date from which the account can no longer be used.

    A date is a day in the customer's billing time zone; the account expires at the
    start of that day there.

    >>> SetExpirationDate(None).describe()
    'clear expiration date'
    """

    on: dt.date | dt.datetime | None = attrs.field(validator=_optional_date)
    kind: ClassVar[str] = "expiration_date"
    field: ClassVar[str] = "expires_at"

    def describe(self) -> str:
        if self.on is None:
            return "clear expiration date"
        return f"set expiration date to {_show_day(self.on)}"

    def evaluate(self, account: Any, status: Status, current: Fields) -> Verdict:
        new = None if self.on is None else _instant(self.on, current)
        activated = current("activated_at")
        if new is not None and activated is not None and new <= activated:
            return (
                "refused",
                f"expiration {new.isoformat()} is not after activation {activated.isoformat()}",
                None,
                None,
                None,
            )
        return self._verdict(account, status, current, new)


def _days(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidArgument(attribute.name, value, "None or a number of days >= 1")


@attrs.frozen
class SetAvailabilityPeriod(_DateChange):
    """Set how many days accounts stay usable after their first use (``None`` clears it).

    >>> SetAvailabilityPeriod(30).describe()
    'set availability after first use to 30 days'
    """

    days: int | None = attrs.field(validator=_days)
    kind: ClassVar[str] = "availability_period"
    field: ClassVar[str] = "availability_days"

    def describe(self) -> str:
        if self.days is None:
            return "clear availability period after first use"
        return f"set availability after first use to {self.days} days"

    def evaluate(self, account: Any, status: Status, current: Fields) -> Verdict:
        return self._verdict(account, status, current, self.days)


# -- balance ----------------------------------------------------------------------------


def _balance_closed(status: Status) -> str | None:
    closed = _closed(status)
    if closed:
        return closed
    if status.backend is Backend.CLOSED:
        return f"status {status.name!r} is closed: balance operations are not allowed"
    return None


@attrs.frozen
class SetOpeningBalance(BatchChange):
    """Set the prepaid funds an account starts with; only before its first use.

    >>> from decimal import Decimal
    >>> SetOpeningBalance(Decimal("15.00")).describe()
    'set opening balance to 15.00 (only before first use)'
    """

    amount: Decimal = attrs.field(validator=_money)
    kind: ClassVar[str] = "opening_balance"

    @amount.validator
    def _non_negative(self, attribute: attrs.Attribute[Any], value: Decimal) -> None:
        if value < 0:
            raise InvalidArgument(attribute.name, value, "a non-negative Decimal")

    def describe(self) -> str:
        return f"set opening balance to {self.amount} (only before first use)"

    def evaluate(self, account: Any, status: Status, current: Fields) -> Verdict:
        closed = _balance_closed(status)
        if closed:
            return ("refused", closed, None, None, None)
        used = current("first_used_at")
        if used is not None:
            return (
                "refused",
                f"the opening balance can change only before first use; first used "
                f"{used.isoformat()}",
                None,
                None,
                None,
            )
        old = current("funds")
        if old == self.amount:
            return ("unchanged", f"opening balance is already {self.amount}", None, None, None)
        delta = self.amount - (old if old is not None else Decimal(0))
        return ("change", None, FieldUpdate("funds", old, self.amount), None, delta)


class _FundsChange(BatchChange):
    ledgered: ClassVar[bool] = True
    amount: Decimal
    description: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.amount}"

    def _effect(self, currency: str) -> Effect:
        raise NotImplementedError  # pragma: no cover

    def evaluate(self, account: Any, status: Status, current: Fields) -> Verdict:
        closed = _balance_closed(status)
        if closed:
            return ("refused", closed, None, None, None)
        funds = current("funds")
        if funds is None:
            return ("refused", "the account has no prepaid funds", None, None, None)
        if funds < self.amount:
            return (
                "refused",
                f"funds {funds} do not cover a {self.kind} of {self.amount}",
                None,
                None,
                None,
            )
        currency = str(current.fact("currency"))
        return (
            "change",
            None,
            FieldUpdate("funds", funds, funds - self.amount),
            self._effect(currency),
            None,
        )


@attrs.frozen
class ChargeAccount(_FundsChange):
    """Charge every account for a service it used: funds go down, a ``Charge`` effect runs.

    >>> from decimal import Decimal
    >>> ChargeAccount(Decimal("5.00"), description="SIM").describe()
    'charge 5.00 (SIM)'
    """

    amount: Decimal = attrs.field(validator=_positive_money)
    description: str = attrs.field(default="", kw_only=True)
    kind: ClassVar[str] = "charge"

    def describe(self) -> str:
        return f"charge {self.amount}" + (f" ({self.description})" if self.description else "")

    def _effect(self, currency: str) -> Effect:
        return Charge(self.amount, currency, self.description)


@attrs.frozen
class RefundPayment(_FundsChange):
    """Refund a payment received earlier: the money goes back to the customer, so the
    prepaid funds it bought go down, and a ``Refund`` effect runs.

    >>> from decimal import Decimal
    >>> RefundPayment(Decimal("5.00")).describe()
    'refund 5.00'
    """

    amount: Decimal = attrs.field(validator=_positive_money)
    description: str = attrs.field(default="", kw_only=True)
    kind: ClassVar[str] = "refund"

    def describe(self) -> str:
        return f"refund {self.amount}" + (f" ({self.description})" if self.description else "")

    def _effect(self, currency: str) -> Effect:
        return Refund(self.amount, currency, self.description)
