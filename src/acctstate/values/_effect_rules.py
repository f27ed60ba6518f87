"""Effect rules: effects declared on a transition (a fixed charge, a notice), and the
registry workflow files name them from. Re-exported by ``acctstate.effects``; import the
names from there."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import attrs

from acctstate.values._effect_kinds import Charge, Effect, Notice, _currency
from acctstate.values.errors import InvalidArgument

if TYPE_CHECKING:  # pragma: no cover - typing only
    from acctstate.values.guards import GuardContext
    from acctstate.values.status import Status

__all__ = ["EFFECT_RULES", "EffectRule", "FixedCharge", "SendNotice", "register_effect_rule"]


@runtime_checkable
class EffectRule(Protocol):
    """Declares effects on a transition: called while planning, returns effect values.

    Rules must be pure (no I/O): they run on every ``plan`` too. Keys are assigned by
    the workflow, so rules return effects without one. A rule is a value (an attrs
    frozen class is ideal): ``name`` is its registry name and ``kwargs`` the arguments
    that rebuild it through [`EFFECT_RULES`][acctstate.effects.EFFECT_RULES], so workflow files can
    name it.
    """

    @property
    def name(self) -> str: ...

    @property
    def kwargs(self) -> dict[str, Any]: ...

    def __call__(self, ctx: GuardContext, source: Status, dest: Status) -> Iterable[Effect]: ...


EFFECT_RULES: dict[str, Callable[..., EffectRule]] = {}
"""Effect-rule factories by name; workflow files name rules from here."""


_Factory = TypeVar("_Factory", bound=Callable[..., Any])


def register_effect_rule(name: str) -> Callable[[_Factory], _Factory]:
    """Class or factory decorator: make an effect rule available to workflow files.

    The decorated class or function is returned unchanged (so it stays usable as a type).

    Raises:
        InvalidArgument: the name is already taken by another factory.
    """

    def add(factory: _Factory) -> _Factory:
        if name in EFFECT_RULES and EFFECT_RULES[name] is not factory:
            raise InvalidArgument("name", name, "an effect-rule name not registered yet")
        EFFECT_RULES[name] = factory
        return factory

    return add


def _amount_arg(value: object) -> Decimal:
    return _money(value, "amount")


def _money(value: object, name: str) -> Decimal:
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except ArithmeticError:
            raise InvalidArgument(name, value, "a decimal amount such as '5.00'") from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidArgument(name, value, "a non-negative Decimal (float money is refused)")
    return value


@register_effect_rule("fixed_charge")
@attrs.frozen
class FixedCharge:
    """Effect rule: charge a fixed amount on every firing (a reconnect fee, a set-up fee).

    Args:
        amount: the amount (``Decimal``, or a string such as ``"25.00"`` from a file).
        currency: ISO 4217 code.
        description: the invoice line.

    >>> fee = FixedCharge(amount=Decimal("25.00"), description="reconnect fee")
    >>> list(fee(None, None, None))  # type: ignore[arg-type]
    [Charge(key='', amount=Decimal('25.00'), currency='USD', description='reconnect fee', kind='charge')]
    """

    amount: Decimal = attrs.field(converter=_amount_arg)
    currency: str = attrs.field(default="USD", validator=_currency)
    description: str = ""

    @property
    def name(self) -> str:
        """``"fixed_charge"``."""
        return "fixed_charge"

    @property
    def kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild it."""
        return {"amount": self.amount, "currency": self.currency, "description": self.description}

    def __call__(self, ctx: GuardContext, source: Status, dest: Status) -> Iterable[Effect]:
        """One [`Charge`][acctstate.effects.Charge] (none when the amount is zero)."""
        if not self.amount:
            return ()
        return (Charge(amount=self.amount, currency=self.currency, description=self.description),)


@register_effect_rule("notice")
@attrs.frozen
class SendNotice:
    """Effect rule: tell the customer, with the message named ``template``.

    >>> list(SendNotice(template="suspension_warning")(None, None, None))  # type: ignore[arg-type]
    [Notice(key='', template='suspension_warning', kind='notice')]
    """

    template: str = attrs.field(validator=attrs.validators.instance_of(str))

    @property
    def name(self) -> str:
        """``"notice"``."""
        return "notice"

    @property
    def kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild it."""
        return {"template": self.template}

    def __call__(self, ctx: GuardContext, source: Status, dest: Status) -> Iterable[Effect]:
        """One [`Notice`][acctstate.effects.Notice]."""
        return (Notice(template=self.template),)
