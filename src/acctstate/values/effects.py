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
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from acctstate.values._effect_kinds import (
    ApplyPayment,
    Charge,
    Deprovision,
    Effect,
    ExtendTerm,
    Notice,
    Provision,
    Refund,
    StartBilling,
    StartUsageBilling,
    StopBilling,
    StopUsageBilling,
)
from acctstate.values._effect_rules import (
    EFFECT_RULES,
    EffectRule,
    FixedCharge,
    SendNotice,
    register_effect_rule,
)
from acctstate.values.errors import EffectFailed, InvalidArgument

if TYPE_CHECKING:  # pragma: no cover - typing only; history sits above effects
    from acctstate.values.history import StatusChange
    from acctstate.values.status import Status

__all__ = [
    "BillingHooks",
    "Charge",
    "ContractHooks",
    "Deprovision",
    "Effect",
    "EFFECT_RULES",
    "EffectRule",
    "FixedCharge",
    "Hooks",
    "LedgerHooks",
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


class LedgerHooks(Protocol):
    """The host's ledger: payments and credits applied to invoices by the daily
    auto-apply (one [`ApplyPayment`][acctstate.invoices.ApplyPayment] per allocation,
    carried by the ``auto_apply`` history entry)."""

    def apply_payment(self, effect: ApplyPayment, change: StatusChange) -> None: ...


class ContractHooks(Protocol):
    """The host's contract (subscription) system: a term end moved by a resume
    ([`ExtendTerm`][acctstate.refunds.ExtendTerm])."""

    def extend_term(self, effect: ExtendTerm, change: StatusChange) -> None: ...


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
    "apply_payment": ("ledger", "apply_payment"),
    "extend_term": ("contracts", "extend_term"),
}
# Systems whose effects came later: `Hooks.from_object` registers them only for an
# object that has their method, so a host object written for the first four systems
# keeps working (those effects then stay on the change for the host, as before).
_LATER: dict[str, str] = {"ledger": "apply_payment", "contracts": "extend_term"}


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
        ledger: a [`LedgerHooks`][acctstate.effects.LedgerHooks] (the auto-apply's
            allocations).
        contracts: a [`ContractHooks`][acctstate.effects.ContractHooks] (term
            extensions).

    >>> from decimal import Decimal
    >>> hooks = Hooks(refunds=RecordingHooks())
    >>> hooks.handler(Provision()) is None, hooks.handler(Refund(amount=Decimal("1"))) is None
    (True, False)
    """

    billing: BillingHooks | None = None
    provisioning: ProvisioningHooks | None = None
    refunds: RefundHooks | None = None
    notices: NoticeHooks | None = None
    ledger: LedgerHooks | None = None
    contracts: ContractHooks | None = None

    @classmethod
    def from_object(cls, host: Any) -> Hooks:
        """One object that implements the hook protocols, registered for every system.

        Billing, provisioning, refunds and notices are registered whatever the object
        has (a missing method is refused when an effect needs it); the ledger and the
        contracts only when the object has ``apply_payment`` / ``extend_term``, so an
        object written before those effects had hooks keeps working.

        >>> hooks = Hooks.from_object(RecordingHooks())
        >>> hooks.empty, hooks.ledger is not None, hooks.contracts is not None
        (False, True, True)
        """
        later = {
            system: host if callable(getattr(host, method, None)) else None
            for system, method in _LATER.items()
        }
        return cls(billing=host, provisioning=host, refunds=host, notices=host, **later)

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
        systems = (
            self.billing,
            self.provisioning,
            self.refunds,
            self.notices,
            self.ledger,
            self.contracts,
        )
        return all(system is None for system in systems)


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

    >>> from decimal import Decimal
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

    def apply_payment(self, effect: ApplyPayment, change: StatusChange | None) -> None:
        """Record an [`ApplyPayment`][acctstate.invoices.ApplyPayment]."""
        self._record(effect)

    def extend_term(self, effect: ExtendTerm, change: StatusChange | None) -> None:
        """Record an [`ExtendTerm`][acctstate.refunds.ExtendTerm]."""
        self._record(effect)

    def __repr__(self) -> str:
        return f"<RecordingHooks {len(self.done)} done, {len(self.skipped)} skipped>"
