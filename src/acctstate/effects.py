"""Effects: the consequences of a status change as values, the hooks that carry them out,
and their dispatch.

Effects that follow from the statuses' flags are derived automatically (leaving a
provisioned status for a de-provisioned one means :class:`Deprovision`, entering a
non-billable status means :class:`StopBilling`, ...). Others are declared on a transition
by an :class:`EffectRule` (a refund, a reinstatement charge, a reconnect fee).

Every effect carries an idempotency ``key`` that is the same every time the same change
is planned, so a host that retries never refunds twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from acctstate.errors import EffectFailed, InvalidArgument

if TYPE_CHECKING:  # pragma: no cover - typing only; history sits above effects
    from acctstate.guards import GuardContext
    from acctstate.history import StatusChange
    from acctstate.status import Status

__all__ = [
    "BillingHooks",
    "Charge",
    "Deprovision",
    "Effect",
    "EFFECT_RULES",
    "EffectRule",
    "Hooks",
    "Notice",
    "NoticeHooks",
    "Provision",
    "ProvisioningHooks",
    "Refund",
    "RefundHooks",
    "StartBilling",
    "StartUsageBilling",
    "StopBilling",
    "StopUsageBilling",
    "derive_flag_effects",
    "dispatch",
    "register_effect_rule",
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


@runtime_checkable
class EffectRule(Protocol):
    """Declares effects on a transition: called while planning, returns effect values.

    Rules must be pure (no I/O): they run on every ``plan`` too. Keys are assigned by
    the workflow, so rules return effects without one. A rule is a value (an attrs
    frozen class is ideal): ``name`` is its registry name and ``kwargs`` the arguments
    that rebuild it through :data:`EFFECT_RULES`, so workflow files can name it.
    """

    @property
    def name(self) -> str: ...

    @property
    def kwargs(self) -> dict[str, Any]: ...

    def __call__(self, ctx: GuardContext, source: Status, dest: Status) -> Iterable[Effect]: ...


EFFECT_RULES: dict[str, Callable[..., EffectRule]] = {}
"""Effect-rule factories by name; workflow files name rules from here."""


def register_effect_rule(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class or factory decorator: make an effect rule available to workflow files.

    Raises:
        InvalidArgument: the name is already taken.
    """

    def add(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in EFFECT_RULES and EFFECT_RULES[name] is not factory:
            raise InvalidArgument("name", name, "an effect-rule name not registered yet")
        EFFECT_RULES[name] = factory
        return factory

    return add


_FLAG_CACHE: dict[tuple[bool, bool, bool, bool, bool, bool], tuple[type[Effect], ...]] = {}


def derive_flag_effects(source: Status, dest: Status) -> tuple[type[Effect], ...]:
    """The effect types implied by the statuses' flags, in execution order.

    Stopping comes before starting, and service is switched on before billing starts.

    >>> from acctstate.status import Status
    >>> a = Status(code=1, name="active", backend="active", provisioned=True, billable=True)
    >>> s = Status(code=-1, name="suspended", backend="suspended")
    >>> [t.__name__ for t in derive_flag_effects(a, s)]
    ['StopBilling', 'StopUsageBilling', 'Deprovision']
    """
    flags = (
        source.provisioned,
        dest.provisioned,
        source.billable,
        dest.billable,
        bool(source.usage_billable),
        bool(dest.usage_billable),
    )
    found = _FLAG_CACHE.get(flags)
    if found is None:
        sp, dp, sb, db, su, du = flags
        out: list[type[Effect]] = []
        if sb and not db:
            out.append(StopBilling)
        if su and not du:
            out.append(StopUsageBilling)
        if sp and not dp:
            out.append(Deprovision)
        if dp and not sp:
            out.append(Provision)
        if db and not sb:
            out.append(StartBilling)
        if du and not su:
            out.append(StartUsageBilling)
        found = _FLAG_CACHE[flags] = tuple(out)
    return found


class BillingHooks(Protocol):
    """The host's billing system."""

    def start_billing(self, effect: StartBilling, change: StatusChange) -> None: ...
    def stop_billing(self, effect: StopBilling, change: StatusChange) -> None: ...
    def start_usage_billing(self, effect: StartUsageBilling, change: StatusChange) -> None: ...
    def stop_usage_billing(self, effect: StopUsageBilling, change: StatusChange) -> None: ...
    def charge(self, effect: Charge, change: StatusChange) -> None: ...


class ProvisioningHooks(Protocol):
    """The host's provisioning system (switch, RADIUS, ...)."""

    def provision(self, effect: Provision, change: StatusChange) -> None: ...
    def deprovision(self, effect: Deprovision, change: StatusChange) -> None: ...


class RefundHooks(Protocol):
    """The host's payment system, for money going back."""

    def refund(self, effect: Refund, change: StatusChange) -> None: ...


class NoticeHooks(Protocol):
    """The host's messaging system."""

    def notify(self, effect: Notice, change: StatusChange) -> None: ...


_ROUTES: dict[str, tuple[str, str]] = {
    "start_billing": ("billing", "start_billing"),
    "stop_billing": ("billing", "stop_billing"),
    "start_usage_billing": ("billing", "start_usage_billing"),
    "stop_usage_billing": ("billing", "stop_usage_billing"),
    "charge": ("billing", "charge"),
    "provision": ("provisioning", "provision"),
    "deprovision": ("provisioning", "deprovision"),
    "refund": ("refunds", "refund"),
    "notice": ("notices", "notify"),
}


@attrs.frozen
class Hooks:
    """The host's implementations, one object per system; any may be left out.

    An effect whose system has no hook is not run by acctstate: it stays on the
    ``StatusChange`` for the host to execute (e.g. through its own outbox).

    Args:
        billing: a :class:`BillingHooks`.
        provisioning: a :class:`ProvisioningHooks`.
        refunds: a :class:`RefundHooks`.
        notices: a :class:`NoticeHooks`.
    """

    billing: BillingHooks | None = None
    provisioning: ProvisioningHooks | None = None
    refunds: RefundHooks | None = None
    notices: NoticeHooks | None = None

    def handler(self, effect: Effect) -> Any | None:
        """The bound hook method that runs ``effect``, or ``None`` when none is registered."""
        route = _ROUTES.get(effect.kind)
        if route is None:
            return None
        system = getattr(self, route[0])
        return None if system is None else getattr(system, route[1])

    @property
    def empty(self) -> bool:
        """Whether no system is registered."""
        return not (self.billing or self.provisioning or self.refunds or self.notices)


def dispatch(change: StatusChange, hooks: Hooks) -> tuple[Effect, ...]:
    """Run the change's effects through ``hooks`` in order; return those that ran.

    Raises:
        EffectFailed: a hook raised; the error lists what ran, what failed and what was
            not run (with keys), and chains the hook's exception.
    """
    ran: list[Effect] = []
    effects: Sequence[Effect] = change.effects
    for i, effect in enumerate(effects):
        handler = hooks.handler(effect)
        if handler is None:
            continue
        try:
            handler(effect, change)
        except Exception as exc:
            raise EffectFailed(
                change=change,
                ran=ran,
                failed=effect,
                not_run=[e for e in effects[i + 1 :] if hooks.handler(e) is not None],
                cause=exc,
            ) from exc
        ran.append(effect)
    return tuple(ran)
