"""The effect the daily auto-apply books: [`ApplyPayment`][acctstate.invoices.ApplyPayment],
one per allocation of a payment or credit to an invoice, for the host's ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from acctstate.values.effects import Effect
from acctstate.values.errors import InvalidArgument

__all__ = ["ApplyPayment"]


def _positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidArgument(attribute.name, value, "a positive Decimal (float money is refused)")


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str:
        raise InvalidArgument(attribute.name, value, "an id (str)")


@attrs.frozen
class ApplyPayment(Effect):
    """Apply ``amount`` of payment (or credit) ``payment`` to invoice ``invoice``.

    The host's ledger books it; its ``key`` is the same every time the same allocation
    is planned at the same instant, so booking twice is recognisable. No hook system
    runs it: it stays on the recorded change for the host (its outbox, its ledger).

    >>> ApplyPayment("I-1", Decimal("12.50"), payment="P-1", key="A-1/auto_apply/x#0")
    ApplyPayment(key='A-1/auto_apply/x#0', kind='apply_payment', invoice='I-1', amount=Decimal('12.50'), payment='P-1')
    """

    kind: str = attrs.field(init=False, default="apply_payment")
    invoice: str = attrs.field(validator=_text)
    amount: Decimal = attrs.field(validator=_positive)
    payment: str = attrs.field(default="", kw_only=True, validator=_text)
