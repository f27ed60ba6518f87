"""Effects: the consequences of a status change as values, the hooks that carry them out,
and their dispatch.

Effects that follow from the statuses' flags are derived automatically (leaving a
provisioned status for a de-provisioned one means [`Deprovision`][acctstate.effects.Deprovision],
entering a non-billable status means [`StopBilling`][acctstate.effects.StopBilling], ...). Others
are declared on a transition by an [`EffectRule`][acctstate.effects.EffectRule] (a refund, a
reinstatement charge, a reconnect fee).

Every effect carries an idempotency ``key`` that is the same every time the same change
is planned, so a host that retries never refunds twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import attrs

from acctstate.values.errors import EffectFailed, InvalidArgument

if TYPE_CHECKING:  # pragma: no cover - typing only; history sits above effects
    from acctstate.values.guards import GuardContext
    from acctstate.values.history import StatusChange
    from acctstate.values.status import Status

__all__ = [
    "BillingHooks",
    "Charge",
    "Deprovision",
    "Effect",
    "EFFECT_RULES",
    "EffectRule",
    "FixedCharge",
    "Hooks",
    "Notice",
    "NoticeHooks",
    "Provision",
    "ProvisioningHooks",
    "Refund",
    "RecordingHooks",
    "RefundHooks",
    "SendNotice",
    "StartBilling",
    "StartUsageBilling",
    "StopBilling",
    "StopUsageBilling",
    "derive_flag_effects",
    "describe_effects",
    "dispatch",
    "handled",
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
    return capability_effects(flags)


def capability_effects(
    flags: tuple[bool, bool, bool, bool, bool, bool],
) -> tuple[type[Effect], ...]:
    """The effect types a change of capability implies, in execution order.

    ``flags`` is (provisioned before, after, billable before, after, usage-billed before,
    after); the statuses' flags for a plain change, the effective capability (flags minus
    standing holds) on a held account. Stopping comes before starting, and service is
    switched on before billing starts.
    """
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
        billing: a [`BillingHooks`][acctstate.effects.BillingHooks].
        provisioning: a [`ProvisioningHooks`][acctstate.effects.ProvisioningHooks].
        refunds: a [`RefundHooks`][acctstate.effects.RefundHooks].
        notices: a [`NoticeHooks`][acctstate.effects.NoticeHooks].

    >>> hooks = Hooks(refunds=RecordingHooks())
    >>> hooks.handler(Provision()) is None, hooks.handler(Refund(amount=Decimal("1"))) is None
    (True, False)
    """

    billing: BillingHooks | None = None
    provisioning: ProvisioningHooks | None = None
    refunds: RefundHooks | None = None
    notices: NoticeHooks | None = None

    @classmethod
    def from_object(cls, host: Any) -> Hooks:
        """One object that implements every hook protocol, registered for all four systems.

        >>> Hooks.from_object(RecordingHooks()).empty
        False
        """
        return cls(billing=host, provisioning=host, refunds=host, notices=host)

    def handler(self, effect: Effect) -> Callable[[Any, Any], object] | None:
        """The bound hook method that runs ``effect``, or ``None`` when none is registered.

        Raises:
            InvalidArgument: the system is registered but lacks the method for ``effect``.
        """
        route = _ROUTES.get(effect.kind)
        if route is None:
            return None
        system_name, method = route
        system = getattr(self, system_name)
        if system is None:
            return None
        found = getattr(system, method, None)
        if not callable(found):
            raise InvalidArgument(
                f"hooks.{system_name}",
                system,
                f"an object with a {method}(effect, change) method (to run {effect.kind!r})",
            )
        return found  # type: ignore[no-any-return]

    @property
    def empty(self) -> bool:
        """Whether no system is registered."""
        return (self.billing, self.provisioning, self.refunds, self.notices) == (None,) * 4


def dispatch(change: StatusChange, hooks: Hooks) -> tuple[Effect, ...]:
    """Run the change's effects through ``hooks`` in order; return those that ran.

    Every handler is looked up before the first one runs, so a hook object that lacks a
    method is refused before anything happened rather than half-way through. Effects
    whose system has no hook are skipped (the host runs them from the change).

    Raises:
        EffectFailed: a hook raised; the error lists what ran, what failed and what was
            not run (with keys), and chains the hook's exception.
        InvalidArgument: a registered system lacks the method an effect needs (nothing
            ran).

    >>> import datetime as dt
    >>> from acctstate.history import StatusChange
    >>> from acctstate.status import Status
    >>> a = Status(code=1, name="active", backend="active", provisioned=True)
    >>> s = Status(code=-1, name="suspended", backend="suspended")
    >>> at = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    >>> change = StatusChange("A-1", a, s, "suspend", at, effects=(Deprovision(key="k#0"),))
    >>> log = RecordingHooks()
    >>> [e.key for e in dispatch(change, Hooks.from_object(log))], log.keys
    (['k#0'], ['k#0'])
    """
    planned: list[tuple[Effect, Callable[[Any, Any], object]]] = []
    for effect in change.effects:
        handler = hooks.handler(effect)
        if handler is not None:
            planned.append((effect, handler))
    ran: list[Effect] = []
    for i, (effect, handler) in enumerate(planned):
        try:
            handler(effect, change)
        except Exception as exc:
            raise EffectFailed(
                change=change,
                ran=ran,
                failed=effect,
                not_run=[e for e, _ in planned[i + 1 :]],
                cause=exc,
            ) from exc
        ran.append(effect)
    return tuple(ran)


def handled(change: StatusChange, hooks: Hooks) -> tuple[Effect, ...]:
    """The change's effects that ``hooks`` would run, in order (the rest is the host's).

    ``fire`` commits exactly when all of these ran; on
    [`EffectFailed`][acctstate.errors.EffectFailed], ``ran + (failed,) + not_run`` is this tuple.
    """
    return tuple(e for e in change.effects if hooks.handler(e) is not None)


def describe_effects(
    source: Status, dest: Status, rules: Iterable[EffectRule] = ()
) -> tuple[str, ...]:
    """What a transition from ``source`` to ``dest`` implies, by name, without an account.

    Flag-derived effects by kind, then each declared rule by its registry name (its
    amounts depend on the event, so they are known only when a change is planned).

    >>> from acctstate.status import Status
    >>> a = Status(code=1, name="active", backend="active", provisioned=True, billable=True)
    >>> p = Status(code=2, name="pending", backend="active", provisioned=True,
    ...            usage_billable=True)
    >>> describe_effects(a, p, [SendNotice(template="cancel_confirmation")])
    ('stop_billing', 'notice')
    """
    flagged = tuple(kind().kind for kind in derive_flag_effects(source, dest))
    return flagged + tuple(rule.name for rule in rules)


class RecordingHooks:
    """A reference host that implements every hook protocol by recording effects.

    It is idempotent the way a real host should be: an effect whose key it has already
    recorded is not run again, so retrying a failed change never refunds twice. Use it
    in tests, notebooks and as the model for your own hooks.

    Attributes:
        done: every effect run, by key, in the order they ran.
        skipped: keys that were offered again and not run a second time.

    >>> log = RecordingHooks()
    >>> hooks = Hooks.from_object(log)
    >>> log.refund(Refund(amount=Decimal("5.00"), key="A-1/cancel/x#2"), None)
    >>> log.refund(Refund(amount=Decimal("5.00"), key="A-1/cancel/x#2"), None)
    >>> log.keys, log.skipped
    (['A-1/cancel/x#2'], ['A-1/cancel/x#2'])
    """

    def __init__(self) -> None:
        self.done: dict[str, Effect] = {}
        self.skipped: list[str] = []

    @property
    def keys(self) -> list[str]:
        """The keys of the effects run, in order."""
        return list(self.done)

    def _record(self, effect: Effect) -> None:
        if effect.key in self.done:
            self.skipped.append(effect.key)
        else:
            self.done[effect.key] = effect

    def start_billing(self, effect: StartBilling, change: StatusChange | None) -> None:
        """Record a [`StartBilling`][acctstate.effects.StartBilling]."""
        self._record(effect)

    def stop_billing(self, effect: StopBilling, change: StatusChange | None) -> None:
        """Record a [`StopBilling`][acctstate.effects.StopBilling]."""
        self._record(effect)

    def start_usage_billing(self, effect: StartUsageBilling, change: StatusChange | None) -> None:
        """Record a [`StartUsageBilling`][acctstate.effects.StartUsageBilling]."""
        self._record(effect)

    def stop_usage_billing(self, effect: StopUsageBilling, change: StatusChange | None) -> None:
        """Record a [`StopUsageBilling`][acctstate.effects.StopUsageBilling]."""
        self._record(effect)

    def charge(self, effect: Charge, change: StatusChange | None) -> None:
        """Record a [`Charge`][acctstate.effects.Charge]."""
        self._record(effect)

    def provision(self, effect: Provision, change: StatusChange | None) -> None:
        """Record a [`Provision`][acctstate.effects.Provision]."""
        self._record(effect)

    def deprovision(self, effect: Deprovision, change: StatusChange | None) -> None:
        """Record a [`Deprovision`][acctstate.effects.Deprovision]."""
        self._record(effect)

    def refund(self, effect: Refund, change: StatusChange | None) -> None:
        """Record a [`Refund`][acctstate.effects.Refund]."""
        self._record(effect)

    def notify(self, effect: Notice, change: StatusChange | None) -> None:
        """Record a [`Notice`][acctstate.effects.Notice]."""
        self._record(effect)

    def __repr__(self) -> str:
        return f"<RecordingHooks {len(self.done)} done, {len(self.skipped)} skipped>"


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
