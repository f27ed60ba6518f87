"""Guards: named, composable predicates that say yes, or no with a human reason.

A guard sees a [`GuardContext`][acctstate.guards.GuardContext] (the account, the effective time, the
actor and the event data) and returns ``None`` to allow or a [`Refusal`][acctstate.guards.Refusal]
to refuse. Guards are values: two guards built with the same name and arguments are equal, which
lets the build-time checks recognise ``g`` and ``not_(g)`` as mutually exclusive, and lets
workflow files name them.

>>> import datetime as dt
>>> from decimal import Decimal
>>> g = all_of(balance_settled(), has_payment_method())
>>> ctx = GuardContext(account=None, at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
...                    data={"balance": Decimal("12.50"), "payment_method": "visa"})
>>> print(g(ctx))
all_of(balance_settled, has_payment_method): balance 12.50 is still owed
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from acctstate.values._change_args import check_change_args, check_event_data
from acctstate.values.actors import Actor
from acctstate.values.clock import billing_zone, calendar_days, require_aware
from acctstate.values.errors import InvalidArgument, MissingFact
from acctstate.values.invoices import dunning_facts

__all__ = [
    "GUARDS",
    "Guard",
    "GuardContext",
    "Refusal",
    "all_of",
    "any_of",
    "balance_past_due",
    "balance_settled",
    "by_system",
    "check_change_args",
    "check_event_data",
    "days_in_status",
    "depleted",
    "funds_depleted",
    "guard",
    "has_payment_method",
    "has_permission",
    "not_",
    "nothing_past_due",
    "period_ended",
]

_MISSING: Any = object()


@attrs.frozen
class Refusal:
    """A guard's "no": which guard, and why in plain words."""

    guard: str
    reason: str

    def __str__(self) -> str:
        return f"{self.guard}: {self.reason}"


class GuardContext:
    """What a guard may look at.

    A plain slotted class rather than an attrs value: one is made for every firing, so
    it is kept as cheap as possible.

    Attributes:
        account: the account (an ``Account`` or any host object).
        at: the effective time of the change (timezone-aware).
        actor: who fires the trigger, or ``None``.
        data: event data passed as keyword arguments to ``fire`` / ``plan``.
    """

    __slots__ = ("account", "actor", "at", "data")

    def __init__(
        self,
        account: Any,
        at: dt.datetime,
        actor: Actor | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.account = account
        self.at = at
        self.actor = actor
        self.data: Mapping[str, Any] = {} if data is None else data

    def __repr__(self) -> str:
        return f"GuardContext(account={self.account!r}, at={self.at!r}, actor={self.actor!r})"

    def value(self, name: str, default: Any = _MISSING) -> Any:
        """Event data ``name`` if given, else the account's attribute ``name``.

        Returns ``default`` when neither exists (``KeyError`` without a default).
        """
        data = self.data
        if name in data:
            return data[name]
        found = getattr(self.account, name, _MISSING)
        if found is _MISSING:
            if default is _MISSING:
                raise KeyError(name)
            return default
        return found

    def fact(self, name: str) -> Any:
        """A fact a rule cannot do without (the billing ``timezone``, the ``currency``):
        event data ``name``, else the account's (a workflow's ``default_timezone`` and
        ``default_currency`` are given as event data when the account has none). Never
        guessed.

        Raises:
            MissingFact: neither gives one.
        """
        found = self.value(name, None)
        if found is None:
            raise MissingFact(account_id=getattr(self.account, "id", None), fact=name)
        return found


Check = Callable[[GuardContext], str | None]


@attrs.frozen(repr=False)
class Guard:
    """A named predicate over a [`GuardContext`][acctstate.guards.GuardContext].

    Build one with [`guard`][acctstate.guards.guard] (for your own rules) or a built-in factory.
    Calling it returns ``None`` (allowed) or a [`Refusal`][acctstate.guards.Refusal].

    Attributes:
        name: the registry name (``"days_in_status"``).
        args: the arguments it was built with, as sorted ``(key, value)`` pairs.
        description: what must hold, in words (``"in status for at least 180 days"``).
    """

    name: str
    args: tuple[tuple[str, Any], ...]
    description: str = attrs.field(eq=False)
    check: Check = attrs.field(eq=False)

    def __call__(self, ctx: GuardContext) -> Refusal | None:
        reason = self.check(ctx)
        return None if reason is None else Refusal(self.label, reason)

    @property
    def label(self) -> str:
        """The name with its arguments, as shown in tables and messages."""
        if not self.args:
            return self.name
        inner = ", ".join(
            v.label
            if isinstance(v, Guard)
            else ", ".join(g.label for g in v)
            if isinstance(v, tuple)
            else repr(v)
            for _, v in self.args
        )
        return f"{self.name}({inner})"

    def __repr__(self) -> str:
        return f"<Guard {self.label}>"

    @property
    def kwargs(self) -> dict[str, Any]:
        """The arguments as a dict (to rebuild it from the registry)."""
        return dict(self.args)


def guard(name: str, check: Check, *, description: str = "", **args: Any) -> Guard:
    """Make a guard from a function returning ``None`` (allow) or a reason (refuse).

    Args:
        name: a snake_case name; equal names and args mean equal guards.
        check: ``(GuardContext) -> str | None``.
        description: what must hold, in words.
        **args: the parameters, kept for equality, display and files.

    >>> vip = guard("is_vip", lambda ctx: None if ctx.value("vip", False) else "not a VIP",
    ...             description="the customer is a VIP")
    >>> vip.label
    'is_vip'
    """
    return Guard(name, tuple(sorted(args.items())), description or name, check)


def _money(value: object, name: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise InvalidArgument(name, value, "a Decimal amount (float money is refused)")


def _attr(value: object) -> str:
    # Checked when the guard is built, so a workflow file naming a wrong argument fails
    # at load (with its key path), not at the first fire.
    if type(value) is not str or not value.isidentifier():
        raise InvalidArgument("attr", value, "an attribute name (str)")
    return value


def balance_settled(*, attr: str = "balance", tolerance: Decimal = Decimal("0")) -> Guard:
    """Allow when the amount owed (``attr``, a ``Decimal``) is at most ``tolerance``."""
    limit = _money(tolerance, "tolerance")
    _attr(attr)

    def check(ctx: GuardContext) -> str | None:
        owed = ctx.value(attr, None)
        if owed is None:
            return f"the account has no {attr!r}"
        owed = _money(owed, attr)
        return None if owed <= limit else f"{attr} {owed} is still owed"

    extra: dict[str, Any] = {} if attr == "balance" else {"attr": attr}
    if limit:
        extra["tolerance"] = limit
    return guard("balance_settled", check, description="the balance is settled", **extra)


class _Facts:
    """The facts a guard context gives, read as attributes (event data first, then the
    account; ``None`` when neither has one), for readers of an account's facts."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: GuardContext) -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        return self._ctx.value(name, None)


def nothing_past_due(*, tolerance: Decimal = Decimal("0")) -> Guard:
    """Allow when at most ``tolerance`` is past due: what "paid" means to dunning.

    Reads what the dunning ladder reads
    ([`dunning_facts`][acctstate.invoices.dunning_facts]): the account's ``invoices``
    (with its ``payments`` and ``credits``) when it has them, else
    ``past_due_balance`` when given, else ``balance`` (then the amount past due, as
    before invoices). So an account whose only open invoice is not yet due is allowed
    whatever its total, and a host that keeps its total in ``balance`` beside invoices
    or ``past_due_balance`` is not held back by it. Event data given to ``fire``
    (``balance=...``) is read before the account's attribute of that name.

    Raises:
        InvalidArgument: a ``tolerance`` that is not a non-negative amount; when
            evaluated, facts of the wrong type (float money, naive dates).

    >>> import types
    >>> at = dt.datetime(2026, 3, 6, 2, 0, tzinfo=dt.UTC)
    >>> host = types.SimpleNamespace(balance=Decimal("80.00"),   # the total: not read
    ...                              past_due_balance=Decimal("0"))
    >>> nothing_past_due()(GuardContext(host, at)) is None
    True
    >>> print(nothing_past_due()(GuardContext(None, at, data={"balance": Decimal("9.50")})))
    nothing_past_due: balance 9.50 is still owed
    """
    limit = _money(tolerance, "tolerance")
    if not limit.is_finite() or limit < 0:
        raise InvalidArgument("tolerance", tolerance, "a non-negative amount")

    def check(ctx: GuardContext) -> str | None:
        facts = _Facts(ctx)
        if facts.invoices is not None:
            source = "invoices"
        elif facts.past_due_balance is not None:
            source = "past_due_balance"
        elif facts.balance is not None:
            source = "balance"
        else:
            return "the account has no invoices, 'past_due_balance' or 'balance'"
        _, owed, count = dunning_facts(facts, ctx.at)
        if owed <= limit:
            return None
        if source == "invoices":
            return f"{owed} is past due on {count} invoice(s)"
        return f"{source} {owed} is still owed"

    extra: dict[str, Any] = {"tolerance": limit} if limit else {}
    return guard("nothing_past_due", check, description="nothing is past due", **extra)


def days_in_status(days: int, *, attr: str = "status_since") -> Guard:
    """Allow from the start of the ``days``-th calendar day in the status.

    Days are calendar days in the account's billing time zone (its ``timezone``, the
    event's, or the workflow's ``default_timezone``; with none of them the guard raises
    [`MissingFact`][acctstate.errors.MissingFact]): the day the account entered its status
    is day 0, and day N begins at local midnight N calendar days later. So
    ``days_in_status(180)`` on an account closed at 15:00 on 1 March (Berlin) allows
    from 00:00 on 28 August, Berlin time, however the instant is written. The
    account (or the event data) carries the instant it entered the status in
    ``attr``; the reference workflow's archive rule is ``days_in_status(180)``.

    Raises:
        InvalidArgument: ``days`` is not a non-negative int; when evaluated, ``attr``
            holds something other than an aware datetime or a date, or the account's
            ``timezone`` is not a time zone.

    >>> import datetime as dt
    >>> from zoneinfo import ZoneInfo
    >>> berlin = ZoneInfo("Europe/Berlin")
    >>> g = days_in_status(180)
    >>> facts = {"status_since": dt.datetime(2026, 3, 1, 15, 0, tzinfo=berlin),
    ...          "timezone": "Europe/Berlin"}
    >>> day_180 = dt.datetime(2026, 8, 28, 0, 0, tzinfo=berlin)
    >>> print(g(GuardContext(None, day_180 - dt.timedelta(seconds=1), data=facts)))
    days_in_status(180): in status for 179 days; 180 required
    >>> g(GuardContext(None, day_180.astimezone(dt.UTC), data=facts)) is None
    True
    """
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise InvalidArgument("days", days, "a non-negative int")
    _attr(attr)

    def check(ctx: GuardContext) -> str | None:
        since = ctx.value(attr, None)
        if since is None:
            return f"the account has no {attr!r}, so its time in status is unknown"
        try:
            zone = billing_zone(ctx.fact("timezone"))
        except MissingFact:
            calendar_days(since, ctx.at, dt.UTC, name=attr)  # a wrong fact is named first
            raise
        spent = calendar_days(since, ctx.at, zone, name=attr)
        if spent >= days:
            return None
        return f"in status for {spent} days; {days} required"

    extra = {} if attr == "status_since" else {"attr": attr}
    return guard(
        "days_in_status",
        check,
        description=f"in status for at least {days} days",
        days=days,
        **extra,
    )


def has_payment_method(*, attr: str = "payment_method") -> Guard:
    """Allow when a payment method is on file (``attr`` is truthy)."""
    _attr(attr)

    def check(ctx: GuardContext) -> str | None:
        return None if ctx.value(attr, None) else "no payment method on file"

    extra = {} if attr == "payment_method" else {"attr": attr}
    return guard("has_payment_method", check, description="a payment method is on file", **extra)


def has_permission(permission: str) -> Guard:
    """Allow when the actor holds ``permission`` (e.g. "edit_account_status")."""
    if type(permission) is not str:
        raise InvalidArgument("permission", permission, "a permission name (str)")

    def check(ctx: GuardContext) -> str | None:
        if ctx.actor is None:
            return f"permission {permission!r} is required and no actor was given"
        if ctx.actor.can(permission):
            return None
        return f"actor {ctx.actor.id!r} lacks permission {permission!r}"

    return guard(
        "has_permission",
        check,
        description=f"the actor holds {permission!r}",
        permission=permission,
    )


def period_ended(*, attr: str = "period_end") -> Guard:
    """Allow when the paid service period (``attr``, an aware datetime) has ended at ``at``.

    The period ends at the instant ``attr`` names, compared as an instant (any zone,
    ``fold`` or UTC gives the same answer).

    Raises:
        InvalidArgument: when evaluated, ``attr`` holds something other than a
            timezone-aware datetime (an ISO string, a date, a naive datetime).
    """
    _attr(attr)

    def check(ctx: GuardContext) -> str | None:
        end = ctx.value(attr, None)
        if end is None:
            return f"the account has no {attr!r}"
        end = require_aware(end, attr)
        if ctx.at.astimezone(dt.UTC) >= end.astimezone(dt.UTC):
            return None
        return f"the period runs until {end.isoformat()}"

    extra = {} if attr == "period_end" else {"attr": attr}
    return guard("period_ended", check, description="the paid period has ended", **extra)


def balance_past_due(*, at_least: Decimal = Decimal("0"), attr: str = "balance") -> Guard:
    """Allow when something is owed (``attr`` more than zero) and at least ``at_least``.

    The one meaning of a minimum past-due amount: an account owing exactly the minimum
    has reached it.

    >>> g = balance_past_due(at_least=Decimal("10.00"))
    >>> at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> g(GuardContext(None, at, data={"balance": Decimal("10.00")})) is None
    True
    >>> print(g(GuardContext(None, at, data={"balance": Decimal("9.99")})))
    balance_past_due(Decimal('10.00')): balance 9.99 is owed; at least 10.00 required
    """
    need = _money(at_least, "at_least")
    if not need.is_finite() or need < 0:
        raise InvalidArgument("at_least", at_least, "a non-negative amount")
    _attr(attr)

    def check(ctx: GuardContext) -> str | None:
        owed = ctx.value(attr, None)
        if owed is None:
            return f"the account has no {attr!r}"
        owed = _money(owed, attr)
        if owed > 0 and owed >= need:
            return None
        if owed <= 0:
            return f"the {attr} is settled"
        return f"{attr} {owed} is owed; at least {need} required"

    extra: dict[str, Any] = {"at_least": need}
    if attr != "balance":
        extra["attr"] = attr
    return guard("balance_past_due", check, description=f"at least {need} is past due", **extra)


def depleted(funds: Decimal | int | None, threshold: Decimal | int = Decimal("0")) -> bool:
    """The one meaning of "depleted": zero funds or less, or less than the service
    availability threshold. An account without prepaid funds (``None``) is never depleted.

    Used by the ``funds_depleted`` guard and by batch selections' counts alike.

    >>> depleted(Decimal("0.50"), Decimal("0.50")), depleted(Decimal("0.49"), Decimal("0.50"))
    (False, True)
    >>> depleted(Decimal("0"), Decimal("0")), depleted(None, Decimal("5"))
    (True, False)
    """
    if funds is None:
        return False
    have, limit = _money(funds, "funds"), _money(threshold, "threshold")
    if not (have.is_finite() and limit.is_finite()):
        raise InvalidArgument("funds", funds, "a finite Decimal amount")
    return have <= 0 or have < limit


def funds_depleted(*, threshold: Decimal = Decimal("0"), attr: str = "funds") -> Guard:
    """Allow when the prepaid funds (``attr``) are [`depleted`][acctstate.guards.depleted]:
    zero or less, or less than ``threshold``."""
    limit = _money(threshold, "threshold")
    if not limit.is_finite():
        raise InvalidArgument("threshold", threshold, "a finite Decimal")
    _attr(attr)

    def check(ctx: GuardContext) -> str | None:
        funds = ctx.value(attr, None)
        if funds is None:
            return f"the account has no {attr!r}"
        if depleted(funds, limit):
            return None
        if limit > 0:
            return f"{attr} {funds} left; depleted below {limit}"
        return f"{attr} {funds} left"

    extra: dict[str, Any] = {} if attr == "funds" else {"attr": attr}
    if limit:
        extra["threshold"] = limit
    return guard(
        "funds_depleted",
        check,
        description="the funds are used up (zero, or less than the availability threshold)",
        **extra,
    )


def by_system() -> Guard:
    """Allow unless the actor is a person: for automatic triggers, which only a system
    actor (or the host's own code, passing no actor) may fire.

    >>> from acctstate.values.actors import Actor
    >>> at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> print(by_system()(GuardContext(None, at, Actor("u-7"))))
    by_system: automatic trigger: actor 'u-7' is a person; only a system actor may fire it
    """

    def check(ctx: GuardContext) -> str | None:
        actor = ctx.actor
        if actor is None or actor.is_system:
            return None
        return f"automatic trigger: actor {actor.id!r} is a person; only a system actor may fire it"

    return guard("by_system", check, description="fired by automation (a system actor)")


def _guards(guards: Iterable[Guard]) -> tuple[Guard, ...]:
    out = tuple(guards)
    for g in out:
        if not isinstance(g, Guard):
            raise InvalidArgument("guard", g, "a Guard (see acctstate.guards)")
    return out


def all_of(*guards: Guard) -> Guard:
    """Allow when every guard allows; refuse with every refusal's reason."""
    parts = _guards(guards)

    def check(ctx: GuardContext) -> str | None:
        reasons = [r.reason for r in (g(ctx) for g in parts) if r is not None]
        return "; ".join(reasons) if reasons else None

    return Guard("all_of", (("guards", parts),), " and ".join(g.description for g in parts), check)


def any_of(*guards: Guard) -> Guard:
    """Allow when at least one guard allows."""
    parts = _guards(guards)

    def check(ctx: GuardContext) -> str | None:
        reasons = []
        for g in parts:
            r = g(ctx)
            if r is None:
                return None
            reasons.append(r.reason)
        return "none of: " + "; ".join(reasons)

    return Guard("any_of", (("guards", parts),), " or ".join(g.description for g in parts), check)


def not_(inner: Guard) -> Guard:
    """Allow exactly when ``inner`` refuses (declares mutual exclusion with ``inner``)."""
    (g,) = _guards([inner])

    def check(ctx: GuardContext) -> str | None:
        return f"{g.description}, and it must not be" if g(ctx) is None else None

    return Guard("not_", (("guard", g),), f"not ({g.description})", check)


GUARDS: Mapping[str, Callable[..., Guard]] = {
    "all_of": all_of,
    "any_of": any_of,
    "balance_past_due": balance_past_due,
    "balance_settled": balance_settled,
    "by_system": by_system,
    "days_in_status": days_in_status,
    "funds_depleted": funds_depleted,
    "has_payment_method": has_payment_method,
    "has_permission": has_permission,
    "not_": not_,
    "nothing_past_due": nothing_past_due,
    "period_ended": period_ended,
}
"""The built-in guard factories by name (workflow files name guards from a registry)."""
