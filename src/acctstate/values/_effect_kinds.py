"""The effect values: what a status change (or the automation) asks the host's systems
to do, each with its idempotency ``key``. Re-exported by ``acctstate.effects`` (and
``ApplyPayment`` by ``acctstate.invoices``, ``ExtendTerm`` by ``acctstate.refunds``);
import them from there."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument

__all__ = [
    "ApplyPayment",
    "Charge",
    "Deprovision",
    "Effect",
    "ExtendTerm",
    "Notice",
    "Provision",
    "Refund",
    "StartBilling",
    "StartUsageBilling",
    "StopBilling",
    "StopUsageBilling",
]


def _amount(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidArgument(attribute.name, value, "a finite Decimal (float money is refused)")
    if value < 0:
        raise InvalidArgument(attribute.name, value, "a non-negative Decimal")


def _currency(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or len(value) != 3 or not value.isupper():
        raise InvalidArgument(attribute.name, value, "an ISO 4217 code such as 'USD'")


@attrs.frozen
class Effect:
    """Base class of every effect. ``key`` is the idempotency key ("" until planned)."""

    key: str = attrs.field(default="", kw_only=True)

    kind: str = attrs.field(init=False, default="effect")

    def keyed(self, key: str) -> Effect:
        """This effect with its idempotency key set."""
        return attrs.evolve(self, key=key)


def _kind(name: str) -> Any:
    return attrs.field(init=False, default=name)


@attrs.frozen
class StartBilling(Effect):
    """Start invoicing recurring charges."""

    kind: str = _kind("start_billing")


@attrs.frozen
class StopBilling(Effect):
    """Stop invoicing recurring charges."""

    kind: str = _kind("stop_billing")


@attrs.frozen
class StartUsageBilling(Effect):
    """Start billing usage (calls, data)."""

    kind: str = _kind("start_usage_billing")


@attrs.frozen
class StopUsageBilling(Effect):
    """Stop billing usage."""

    kind: str = _kind("stop_usage_billing")


@attrs.frozen
class Provision(Effect):
    """Switch the service on (switch, RADIUS, ...)."""

    kind: str = _kind("provision")


@attrs.frozen
class Deprovision(Effect):
    """Switch the service off."""

    kind: str = _kind("deprovision")


@attrs.frozen
class Refund(Effect):
    """Give money back: an exact, non-negative amount."""

    amount: Decimal = attrs.field(validator=_amount)
    currency: str = attrs.field(default="USD", validator=_currency)
    description: str = ""
    kind: str = _kind("refund")


@attrs.frozen
class Charge(Effect):
    """Invoice a one-off amount (reinstatement bill, reconnect fee)."""

    amount: Decimal = attrs.field(validator=_amount)
    currency: str = attrs.field(default="USD", validator=_currency)
    description: str = ""
    kind: str = _kind("charge")


@attrs.frozen
class Notice(Effect):
    """Tell the customer (e-mail, letter); ``template`` names the message."""

    template: str = attrs.field(validator=attrs.validators.instance_of(str))
    kind: str = _kind("notice")


def _positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidArgument(attribute.name, value, "a positive Decimal (float money is refused)")


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str:
        raise InvalidArgument(attribute.name, value, "an id (str)")


@attrs.frozen
class ApplyPayment(Effect):
    """Apply ``amount`` of payment (or credit) ``payment`` to invoice ``invoice``.

    The daily auto-apply plans one per allocation. Its ``key`` is the same every time
    the same allocation is planned at the same instant, so booking twice is
    recognisable. The host's ledger books it: through its
    [`LedgerHooks`][acctstate.effects.LedgerHooks] (``Hooks(ledger=...)``) when one is
    registered, else from the recorded change (its outbox).

    >>> ApplyPayment("I-1", Decimal("12.50"), payment="P-1", key="A-1/auto_apply/x#0")
    ApplyPayment(key='A-1/auto_apply/x#0', kind='apply_payment', invoice='I-1', amount=Decimal('12.50'), payment='P-1')
    """

    kind: str = attrs.field(init=False, default="apply_payment")
    invoice: str = attrs.field(validator=_text)
    amount: Decimal = attrs.field(validator=_positive)
    payment: str = attrs.field(default="", kw_only=True, validator=_text)


def _aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    require_aware(value, f"term.{attribute.name}")


@attrs.frozen
class ExtendTerm(Effect):
    """Move the contract term's end (``contract_ends_at``) to ``ends_at``: the account
    was suspended for ``days`` calendar days.

    The host's contract (subscription) system books the new term end: through its
    [`ContractHooks`][acctstate.effects.ContractHooks] (``Hooks(contracts=...)``) when one
    is registered, else from the recorded change.
    """

    ends_at: dt.datetime = attrs.field(validator=_aware)
    days: int = attrs.field(validator=attrs.validators.instance_of(int))
    kind: str = attrs.field(init=False, default="extend_term")
