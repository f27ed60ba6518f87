"""Holds: named, independent reasons to block an account, and what they take away.

A [`Hold`][acctstate.holds.Hold] stands on an account beside its status. Several may
stand at once (a credit hold, a fraud review, a customer's vacation); each blocks some
*capabilities* — ``billing``, ``service`` (provisioning, entitlement) and ``changes``
(status changes made by people). Blocked is a union: the account's **effective
capability** is its status's flags with every standing hold's blocks taken away, and
billing and provisioning effects follow the change in effective capability.

This module holds the values and the rules; placing and releasing live in
[`acctstate.holds`][acctstate.holds].
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from acctstate.values.actors import Actor
from acctstate.values.effects import (
    Effect,
    capability_effects,
)
from acctstate.values.errors import (
    AcctStateError,
    DefinitionError,
    InvalidArgument,
    Violation,
)
from acctstate.values.guards import GuardContext, Refusal
from acctstate.values.status import Status

__all__ = [
    "CAPABILITIES",
    "HOLD_KINDS",
    "PLACE_HOLD",
    "RELEASE_HOLD",
    "Blocked",
    "BlockReason",
    "Hold",
    "HoldType",
    "UnknownHold",
    "check_hold_types",
    "effective_capability",
    "hold_effects",
    "hold_refusals",
    "why_blocked",
]

CAPABILITIES: tuple[str, ...] = ("billing", "changes", "service")
"""What a hold can block: billing, status changes by people, and the service itself."""

HOLD_KINDS: tuple[str, ...] = (
    "credit",
    "dunning",
    "fraud",
    "host",
    "manual",
    "temporary_release",
    "vacation",
)
"""The kinds of hold; ``host`` is a host application's own."""

PLACE_HOLD = "place_hold"
"""The trigger name recorded in the history when a hold is placed."""

RELEASE_HOLD = "release_hold"
"""The trigger name recorded in the history when a hold is released."""

_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")

HoldGuard = Callable[[GuardContext], Refusal | None]


def _blocks(value: object) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    try:
        found: frozenset[str] = frozenset(value)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidArgument("blocks", value, f"capabilities among {CAPABILITIES}") from None
    unknown = sorted(str(v) for v in found if v not in CAPABILITIES)
    if unknown or not found:
        raise InvalidArgument(
            "blocks", sorted(map(str, found)), f"one or more of {', '.join(CAPABILITIES)}"
        )
    return found


def _name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _SNAKE.match(value):
        raise InvalidArgument(f"hold {attribute.name}", value, "a snake_case name such as 'credit'")


def _kind(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in HOLD_KINDS:
        raise InvalidArgument("hold kind", value, f"one of {', '.join(HOLD_KINDS)}")


def _reasons(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset([value])
    return frozenset(str(v) for v in value)  # type: ignore[attr-defined]


def _aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and attribute.name == "until":
        return
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise InvalidArgument(f"Hold.{attribute.name}", value, "a timezone-aware datetime")


@attrs.frozen
class HoldType:
    """A kind of hold a workflow allows, declared with the workflow.

    Args:
        name: the hold type's snake_case name (``"credit_hold"``).
        kind: one of [`HOLD_KINDS`][acctstate.holds.HOLD_KINDS].
        blocks: the capabilities it takes away (``"billing"``, ``"service"``, ``"changes"``).
        reasons: the reason codes accepted when placing it (``None``: any or none).
        permission: the permission needed to place and release it (``None``: anyone).
        guards: conditions checked when placing it, each ``(GuardContext) -> Refusal | None``.
        description: a sentence for people.
        release_reasons: the reason codes accepted when releasing it (``None``: any or
            none).
        release_guards: conditions checked when releasing it, as ``guards``.

    A hold whose ``until`` has passed ends by itself: releasing it then checks the
    permission but neither ``release_reasons`` nor ``release_guards`` (the automation
    releases it with the reason ``"expired"``).

    >>> HoldType("fraud_review", kind="fraud", blocks={"billing", "changes"}).blocks == {
    ...     "billing", "changes"}
    True
    >>> HoldType("x", kind="credit", blocks="invoices")
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid blocks: got ['invoices']; expected one or more of billing, changes, service
    """

    name: str = attrs.field(validator=_name)
    kind: str = attrs.field(validator=_kind)
    blocks: frozenset[str] = attrs.field(converter=_blocks)
    reasons: frozenset[str] | None = attrs.field(default=None, converter=_reasons)
    permission: str | None = None
    guards: tuple[HoldGuard, ...] = attrs.field(default=(), converter=tuple, eq=False)
    description: str = ""
    release_reasons: frozenset[str] | None = attrs.field(default=None, converter=_reasons)
    release_guards: tuple[HoldGuard, ...] = attrs.field(default=(), converter=tuple, eq=False)


@attrs.frozen
class Hold:
    """One standing hold on an account: who placed which hold, when, why, until when.

    Attributes:
        id: the hold's id, unique on its account.
        type: the name of its [`HoldType`][acctstate.holds.HoldType].
        kind: the type's kind (``"credit"``, ``"fraud"`` ...).
        blocks: the capabilities it takes away.
        since: when it was placed.
        until: when it ends by itself (the automation releases it), or ``None``.
        reason: the reason code given when it was placed.
        placed_by: who placed it.
        note: free text given when it was placed.
    """

    id: str = attrs.field(validator=attrs.validators.instance_of(str))
    type: str = attrs.field(validator=_name)
    kind: str = attrs.field(validator=_kind)
    blocks: frozenset[str] = attrs.field(converter=_blocks)
    since: dt.datetime = attrs.field(validator=_aware)
    until: dt.datetime | None = attrs.field(default=None, validator=_aware)
    reason: str | None = None
    placed_by: Actor | None = None
    note: str | None = None

    def expired(self, now: dt.datetime) -> bool:
        """Whether its ``until`` has passed at ``now``."""
        return self.until is not None and self.until.astimezone(dt.UTC) <= now.astimezone(dt.UTC)

    def __str__(self) -> str:
        who = f" by {self.placed_by.id}" if self.placed_by is not None else ""
        why = f" ({self.reason})" if self.reason else ""
        end = f" until {self.until.isoformat()}" if self.until is not None else ""
        return f"{self.type} hold {self.id!r}{who} since {self.since.isoformat()}{end}{why}"


class UnknownHold(AcctStateError, LookupError):
    """A hold type the workflow does not declare, or a hold not standing on the account.

    Attributes:
        name: the hold type or hold id asked for.
        known: what there is instead.
    """

    def __init__(self, what: str, name: object, *, known: Iterable[str] = ()) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        hint = f"; known: {', '.join(repr(k) for k in self.known)}" if self.known else "; none"
        super().__init__(f"unknown {what} {name!r}{hint}")


def check_hold_types(types: Iterable[HoldType]) -> tuple[HoldType, ...]:
    """The declared hold types, checked as a workflow is built.

    Raises:
        DefinitionError: a declaration is not a ``HoldType``, or two share a name.
    """
    found: list[HoldType] = []
    problems: list[Violation] = []
    seen: set[str] = set()
    for t in types:
        if not isinstance(t, HoldType):
            problems.append(Violation("hold-type", f"{t!r} is not an acctstate.HoldType"))
            continue
        if t.name in seen:
            problems.append(Violation("hold-duplicate", f"hold type {t.name!r} is declared twice"))
        seen.add(t.name)
        found.append(t)
    if problems:
        raise DefinitionError(problems)
    return tuple(found)


def _blocked(holds: Sequence[Hold]) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for h in holds:
        out |= h.blocks
    return out


def effective_capability(status: Status, holds: Sequence[Hold] = ()) -> frozenset[str]:
    """What the account may do: its status's flags minus every standing hold's blocks.

    ``billing`` comes from a billable status, ``service`` from a provisioned one, and
    ``changes`` from any status that is not terminal.

    >>> from acctstate.status import Status
    >>> active = Status(code=1, name="active", backend="active", provisioned=True, billable=True)
    >>> sorted(effective_capability(active))
    ['billing', 'changes', 'service']
    >>> t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    >>> sorted(effective_capability(active, [Hold("h1", "credit", "credit", "billing", t0)]))
    ['changes', 'service']
    """
    own = set()
    if status.billable or status.usage_billable:
        own.add("billing")
    if status.provisioned:
        own.add("service")
    if not status.terminal:
        own.add("changes")
    return frozenset(own) - _blocked(holds)


_Summary = tuple[Sequence["Hold"] | None, bool, bool, tuple["Hold", ...]]
_last: _Summary = (None, True, True, ())


def _summary(holds: Sequence[Hold]) -> _Summary:
    """``(holds, service open, billing open, holds blocking changes)``, remembered for the
    last holds seen: a fire reads the same tuple twice (deciding, then planning). One
    immutable value swapped whole, so threads never see half of another's."""
    global _last
    last = _last
    if last[0] is holds:
        return last
    service = billing = True
    changes: list[Hold] = []
    for h in holds:
        b = h.blocks
        if "service" in b:
            service = False
        if "billing" in b:
            billing = False
        if "changes" in b:
            changes.append(h)
    last = (holds, service, billing, tuple(changes))
    if type(holds) is tuple:  # a host's list may change in place: never remembered
        _last = last
    return last


def _open(holds: Sequence[Hold]) -> tuple[bool, bool]:
    """Whether (service, billing) stay open under ``holds``."""
    found = _summary(holds)
    return found[1], found[2]


def hold_effects(
    source: Status, dest: Status, before: Sequence[Hold], after: Sequence[Hold]
) -> tuple[type[Effect], ...]:
    """The effect types implied by the change in *effective* capability, in execution order.

    Used for status changes on held accounts (``before`` and ``after`` the same holds)
    and for placing or releasing a hold (``source`` and ``dest`` the same status).
    Stopping comes before starting, and service is switched on before billing starts.
    """
    s_service, s_billing = _open(before)
    d_service, d_billing = (s_service, s_billing) if after is before else _open(after)
    flags = (
        source.provisioned and s_service,
        source.billable and s_billing,
        bool(source.usage_billable) and s_billing,
        dest.provisioned and d_service,
        dest.billable and d_billing,
        bool(dest.usage_billable) and d_billing,
    )
    sp, sb, su, dp, db, du = flags
    return capability_effects((sp, dp, sb, db, su, du))


def hold_refusals(holds: Sequence[Hold], actor: Actor | None) -> list[Refusal]:
    """The refusals of a status change by ``actor`` that holds blocking ``changes`` make.

    Such holds stop changes made by people (or with no actor); automation (a system
    actor) still moves the account, so dunning and archiving go on.
    """
    if actor is not None and actor.is_system:
        return []
    changes = _summary(holds)[3]
    return [Refusal(f"hold:{h.type}", _held(h)) for h in changes] if changes else []


def _held(h: Hold) -> str:
    who = f" by {h.placed_by.id}" if h.placed_by is not None else ""
    why = f" ({h.reason})" if h.reason else ""
    return f"the {h.type} hold {h.id!r} placed{who} at {h.since.isoformat()}{why} blocks changes"


@attrs.frozen
class BlockReason:
    """One reason a capability is blocked: the status itself, or one standing hold.

    Attributes:
        source: ``"status"`` or ``"hold"``.
        status: the account's status (for a status reason).
        hold: the hold (for a hold reason).
    """

    source: str
    status: Status | None = None
    hold: Hold | None = None

    def __str__(self) -> str:
        if self.hold is not None:
            h = self.hold
            who = f" by {h.placed_by.id}" if h.placed_by is not None else ""
            why = f", reason {h.reason!r}" if h.reason else ""
            end = f", until {h.until.isoformat()}" if h.until is not None else ""
            return f"the {h.type} hold {h.id!r} ({h.kind}) placed{who} at {h.since.isoformat()}{why}{end}"
        assert self.status is not None
        return f"its status {self.status.name!r} ({self.status.code}) does not allow it"


@attrs.frozen
class Blocked:
    """Why a capability is blocked on an account: every reason, the status and each hold.

    Attributes:
        account_id: the account (or site, subscription ...).
        capability: ``"billing"``, ``"service"`` or ``"changes"``.
        reasons: every reason, the status first, then holds in the order they were placed.
        label: what the paragraph calls it: ``"account"``, or the level's name.

    ``bool(blocked)`` is true when anything blocks; ``str()`` is one paragraph for an
    operator.

    >>> from acctstate.status import Status
    >>> closed = Status(code=-9, name="closed", backend="closed", terminal=True)
    >>> print(why_blocked("SUB-2", closed, (), "changes", label="subscription"))
    Changes on subscription 'SUB-2' are blocked for 1 reason: (1) its status 'closed' (-9) does not allow it.
    """

    account_id: str
    capability: str
    reasons: tuple[BlockReason, ...]
    label: str = "account"

    def __bool__(self) -> bool:
        return bool(self.reasons)

    @property
    def holds(self) -> tuple[Hold, ...]:
        """The standing holds among the reasons."""
        return tuple(r.hold for r in self.reasons if r.hold is not None)

    def __str__(self) -> str:
        what = f"{self.capability} on {self.label} {self.account_id!r}"
        if not self.reasons:
            return f"Nothing blocks {what}."
        n = len(self.reasons)
        parts = "; ".join(f"({i}) {r}" for i, r in enumerate(self.reasons, 1))
        verb = "are" if self.capability == "changes" else "is"  # "changes" is plural
        return (
            f"{what[0].upper()}{what[1:]} {verb} blocked for {n} reason{'s' if n > 1 else ''}: "
            f"{parts}."
        )


def why_blocked(
    account_id: str,
    status: Status,
    holds: Sequence[Hold],
    capability: str,
    *,
    label: str = "account",
) -> Blocked:
    """Every reason ``capability`` is blocked: the status itself and each standing hold.

    Args:
        label: what the paragraph calls the entity (``"account"``, ``"subscription"`` ...).

    Raises:
        InvalidArgument: ``capability`` is not one of [`CAPABILITIES`][acctstate.holds.CAPABILITIES],
            or ``label`` is not a name.
    """
    if capability not in CAPABILITIES:
        raise InvalidArgument("capability", capability, f"one of {', '.join(CAPABILITIES)}")
    if not isinstance(label, str) or not label.strip():
        raise InvalidArgument("label", label, "a name such as 'account' or 'subscription'")
    reasons: list[BlockReason] = []
    if capability not in effective_capability(status):
        reasons.append(BlockReason("status", status=status))
    reasons.extend(BlockReason("hold", hold=h) for h in holds if capability in h.blocks)
    return Blocked(account_id, capability, tuple(reasons), label)
