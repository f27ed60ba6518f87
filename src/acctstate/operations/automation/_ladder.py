"""Dunning ladders: the steps an unpaid account climbs and walks back down, checked
when built.

Two evaluation orders: ``last_holding`` (the step is the last one whose conditions all
hold; thresholds must nest) and ``first_match`` (steps listed most severe first, as Kill
Bill's overdue states are; the first that holds wins, and conditions need not nest).
The ladder refuses steps that can never be reached, steps listed twice and a final
cancellation it was not told about.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import attrs

from acctstate.operations.automation._fields import _amount, _count, _status_ref
from acctstate.operations.automation._ladder_check import check_ladder
from acctstate.operations.money.proration import RefundPolicy
from acctstate.values.account import tag_names
from acctstate.values.catalog import StatusRef
from acctstate.values.errors import InvalidArgument, PolicyError

__all__ = [
    "CANCEL_WHEN",
    "ORDERS",
    "DunningLadder",
    "LadderCancellation",
    "LadderStep",
    "ladder_conditions",
    "reference_ladder",
    "register_ladder_condition",
]

ORDERS: tuple[str, ...] = ("last_holding", "first_match")
"""The evaluation orders a ladder may use."""

CANCEL_WHEN: tuple[str, ...] = ("immediate", "end_of_term", "end_of_period")
"""When a final step's cancellation fires: at once, once the contract term
(``contract_ends_at``) has ended, or once the bill cycle (``period_end``) has ended."""

Condition = Callable[[Any, dt.datetime], bool]

_CONDITIONS: dict[str, Condition] = {}


def register_ladder_condition(name: str, condition: Condition | None = None) -> Any:
    """Register a host predicate that ladder steps (and workflow files) name.

    The predicate is called as ``condition(account, now)`` and returns whether the step
    may hold. Use as a function or a decorator.

    Args:
        name: the snake_case name steps use (``LadderStep(..., condition=name)``).
        condition: the predicate.

    Raises:
        InvalidArgument: a name that is not a str, or a predicate that is not callable.

    >>> @register_ladder_condition("vip")
    ... def vip(account, now):
    ...     return getattr(account, "tier", None) == "vip"
    >>> "vip" in ladder_conditions()
    True
    """
    if type(name) is not str or not name:
        raise InvalidArgument("name", name, "a condition name (str)")

    def add(fn: Condition) -> Condition:
        if not callable(fn):
            raise InvalidArgument("condition", fn, "a callable (account, now) -> bool")
        _CONDITIONS[name] = fn
        return fn

    return add if condition is None else add(condition)


def condition_of(name: str) -> Condition:
    """The registered predicate ``name``.

    Raises:
        InvalidArgument: no predicate is registered under that name.
    """
    try:
        return _CONDITIONS[name]
    except KeyError:
        raise InvalidArgument(
            "condition", name, f"a registered condition ({sorted(_CONDITIONS)})"
        ) from None


def ladder_conditions() -> dict[str, Condition]:
    """The registered host predicates, by name (a copy)."""
    return dict(_CONDITIONS)


def _when(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in CANCEL_WHEN:
        raise InvalidArgument(attribute.name, value, f"one of {list(CANCEL_WHEN)}")


def _refund(value: object) -> str:
    try:
        return RefundPolicy(value.value if isinstance(value, RefundPolicy) else value).value
    except ValueError:
        raise InvalidArgument(
            "refund", value, f"one of {[p.value for p in RefundPolicy]}"
        ) from None


@attrs.frozen
class LadderCancellation:
    """How the final step of a ladder ends the account.

    Args:
        trigger: the trigger that cancels (it must lead out of the step's status).
        when: ``"immediate"``, ``"end_of_term"`` (once ``contract_ends_at`` has passed:
            the contract term) or ``"end_of_period"`` (once ``period_end`` has passed:
            the bill cycle).
        refund: the refund policy passed with the change as event data ``refund``
            (a [`RefundPolicy`][acctstate.proration.RefundPolicy] value).

    >>> LadderCancellation("cancel", when="end_of_term").when
    'end_of_term'
    >>> LadderCancellation("cancel", when="later")
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid when: got 'later'; expected one of ['immediate', 'end_of_term', 'end_of_period']
    """

    trigger: str = attrs.field(default="cancel")
    when: str = attrs.field(default="immediate", kw_only=True, validator=_when)
    refund: str = attrs.field(default="none", kw_only=True, converter=_refund)

    @trigger.validator
    def _check_trigger(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if type(value) is not str:
            raise InvalidArgument(attribute.name, value, "a trigger name (str)")

    @property
    def fact(self) -> str | None:
        """The account fact the cancellation waits for (``None``: it fires at once)."""
        return {"end_of_term": "contract_ends_at", "end_of_period": "period_end"}.get(self.when)


def _tags(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset([value])
    out: frozenset[Any] = frozenset(value)  # type: ignore[call-overload]
    for t in out:
        if type(t) is not str:
            raise InvalidArgument("tags", t, "control tag names (str)")
    return out


def _tags_or_none(value: object) -> frozenset[str] | None:
    return None if value is None else _tags(value)


def _name_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (type(value) is not str or not value):
        raise InvalidArgument(attribute.name, value, "a name (str) or None")


@attrs.frozen
class LadderStep:
    """One step of a dunning ladder: where an account goes once every condition holds.

    Args:
        status: the status of this step (code or name).
        min_days: whole days since the earliest unpaid invoice fell due, at least.
        min_balance: unpaid balance, at least (``Decimal``).
        min_invoices: number of unpaid invoices, at least.
        with_tags: control tags the account must carry (``AUTO_PAY_OFF``), read from its
            ``control_tags``.
        without_tags: control tags the account must not carry.
        failure_reasons: the step holds only when the account's
            ``last_payment_failure`` is one of these (``None``: any or none).
        condition: the name of a host predicate (see
            [`register_ladder_condition`][acctstate.automation.register_ladder_condition]).
        down: the trigger that steps down from this step (default: the ladder's
            ``deescalate``).
        cancel: a [`LadderCancellation`][acctstate.automation.LadderCancellation]: this
            final step ends the account.

    >>> LadderStep("active_dunning_1", min_days=15).holds(20, Decimal("9.90"), 1)
    True
    >>> LadderStep("active_dunning_1", min_days=15.5)
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid min_days: got 15.5; expected a non-negative int
    """

    status: StatusRef = attrs.field(validator=_status_ref)
    min_days: int = attrs.field(default=0, kw_only=True, validator=_count)
    min_balance: Decimal = attrs.field(default=Decimal(0), kw_only=True, converter=_amount)
    min_invoices: int = attrs.field(default=0, kw_only=True, validator=_count)
    with_tags: frozenset[str] = attrs.field(default=frozenset(), kw_only=True, converter=_tags)
    without_tags: frozenset[str] = attrs.field(default=frozenset(), kw_only=True, converter=_tags)
    failure_reasons: frozenset[str] | None = attrs.field(
        default=None, kw_only=True, converter=_tags_or_none
    )
    condition: str | None = attrs.field(default=None, kw_only=True, validator=_name_or_none)
    down: str | None = attrs.field(default=None, kw_only=True, validator=_name_or_none)
    cancel: LadderCancellation | None = attrs.field(
        default=None,
        kw_only=True,
        validator=attrs.validators.optional(attrs.validators.instance_of(LadderCancellation)),
    )

    def holds(
        self,
        days: int | None,
        balance: Decimal,
        invoices: int,
        *,
        tags: Iterable[str] = (),
        failure: str | None = None,
        host: Callable[[str], bool] | None = None,
    ) -> bool:
        """Whether the step's conditions hold (``days`` is ``None`` when nothing is unpaid).

        Args:
            tags: the account's control tags.
            failure: the account's last payment failure reason.
            host: answers a host predicate by name (steps with ``condition`` need it).
        """
        if not (
            days is not None
            and days >= self.min_days
            and balance >= self.min_balance
            and invoices >= self.min_invoices
        ):
            return False
        if not self.extended:
            return True
        if self.with_tags or self.without_tags:
            have = tag_names(tags)
            if not self.with_tags <= have or self.without_tags & have:
                return False
        if self.failure_reasons is not None and failure not in self.failure_reasons:
            return False
        if self.condition is not None:
            if host is None:
                raise InvalidArgument("host", None, f"an answer for condition {self.condition!r}")
            return bool(host(self.condition))
        return True

    @property
    def extended(self) -> bool:
        """Whether the step reads more than days, balance and invoices."""
        return bool(
            self.with_tags
            or self.without_tags
            or self.failure_reasons is not None
            or self.condition is not None
        )

    def thresholds(self) -> tuple[Decimal, Decimal, Decimal]:
        """``(min_days, min_balance, min_invoices)``, as comparable numbers."""
        return (Decimal(self.min_days), self.min_balance, Decimal(self.min_invoices))

    def facts(self) -> str:
        """The least facts under which the step's numeric conditions hold, in words."""
        out = [f"{self.min_days} days past due", f"{self.min_balance} owed"]
        out.append(f"{self.min_invoices} unpaid invoices")
        if self.with_tags:
            out.append(f"tags {sorted(self.with_tags)}")
        if self.failure_reasons is not None:
            out.append(f"last failure {sorted(self.failure_reasons)[0]!r}")
        if self.condition is not None:
            out.append(f"condition {self.condition!r}")
        return ", ".join(out)


def _steps(value: object) -> tuple[LadderStep, ...]:
    out: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    for s in out:
        if not isinstance(s, LadderStep):
            raise InvalidArgument("steps", s, "LadderStep values")
    return out


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    out: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    for t in out:
        if not isinstance(t, str):
            raise InvalidArgument("clear", t, "trigger names (str)")
    return out


def _order(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in ORDERS:
        raise InvalidArgument(attribute.name, value, f"one of {list(ORDERS)}")


@attrs.frozen
class DunningLadder:
    """Ordered dunning steps, evaluated on every run in both directions.

    The target step is recomputed from the facts on every evaluation. Going up, steps
    are climbed one at a time with the ``escalate`` trigger, starting from ``home``.
    Going down (a partial payment), the account walks down one step at a time with the
    step's ``down`` trigger or the ladder's ``deescalate`` (``None``: it stays where it
    is); each step is an ordinary, recorded transition whose effects follow the status
    flags (a step that re-provisions restores service). A clear account is brought home
    with the ``clear`` triggers (tried in order, so a multi-hop payment path such as
    ``reinstate_back`` then ``complete_reinstatement`` works). An account carrying the
    ``enforcement_off`` control tag is not moved at all.

    Args:
        steps: the steps: lowest first for ``last_holding``, most severe first for
            ``first_match``.
        home: the status of an account in good standing.
        escalate: the trigger that moves one step up the ladder.
        clear: the triggers that bring a paid account back home.
        order: ``"last_holding"`` (the last step whose conditions hold; thresholds
            never decrease) or ``"first_match"`` (the first listed step that holds).
        deescalate: the trigger that moves one step down (``None``: never down).
        ends_in_cancellation: the most severe step carries a cancellation and need not
            be clearable by payment (every other step must be).
        enforcement_off: the control tag that stops every dunning move (``None``: none).

    Raises:
        PolicyError: no steps, thresholds that decrease (``last_holding``), a step that
            can never be reached, a step listed twice, a first step that requires
            nothing, an unregistered condition, or a cancellation not declared with
            ``ends_in_cancellation``.

    >>> DunningLadder([LadderStep(10, min_days=30), LadderStep(11, min_days=15)])
    Traceback (most recent call last):
    ...
    acctstate.errors.PolicyError: invalid automation policy (1 problem):
      - [not-monotone] step 2 (11) lowers min_days below step 1 (10); each step must ask at least as much as the one before (or use order='first_match', most severe step first)
    """

    steps: tuple[LadderStep, ...] = attrs.field(converter=_steps)
    home: StatusRef = attrs.field(default="active", kw_only=True, validator=_status_ref)
    escalate: str = attrs.field(default="escalate_dunning", kw_only=True)
    clear: tuple[str, ...] = attrs.field(default=("settle",), kw_only=True, converter=_names)
    order: str = attrs.field(default="last_holding", kw_only=True, validator=_order)
    deescalate: str | None = attrs.field(default=None, kw_only=True, validator=_name_or_none)
    ends_in_cancellation: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )
    enforcement_off: str | None = attrs.field(
        default="OVERDUE_ENFORCEMENT_OFF", kw_only=True, validator=_name_or_none
    )

    def __attrs_post_init__(self) -> None:
        problems = check_ladder(self, _CONDITIONS)
        if problems:
            raise PolicyError(problems)

    @property
    def climb(self) -> tuple[LadderStep, ...]:
        """The steps in climbing order, least severe first (step 1 first)."""
        return self.steps if self.order == "last_holding" else self.steps[::-1]

    def down_trigger(self, step: int) -> str | None:
        """The trigger that moves down from ``step`` (1-based, climbing order)."""
        own = self.climb[step - 1].down
        return own if own is not None else self.deescalate

    @property
    def extended(self) -> bool:
        """Whether some step reads more than days, balance and invoices."""
        return any(s.extended for s in self.steps)

    def target(
        self,
        days: int | None,
        balance: Decimal,
        invoices: int,
        *,
        tags: Iterable[str] = (),
        failure: str | None = None,
        host: Callable[[str], bool] | None = None,
    ) -> int:
        """The step (1-based, climbing order) an account with these facts belongs on;
        0 when clear.

        >>> kb = DunningLadder(
        ...     [LadderStep("od2", min_balance=Decimal("5.00")), LadderStep("od1", min_days=30)],
        ...     order="first_match",
        ... )
        >>> kb.target(1, Decimal("10.00"), 1), kb.target(30, Decimal("1.00"), 1)
        (2, 1)
        """
        if balance <= 0:
            return 0
        tags = tag_names(tags)
        if self.order == "first_match":
            n = len(self.steps)
            for i, step in enumerate(self.steps):
                if step.holds(days, balance, invoices, tags=tags, failure=failure, host=host):
                    return n - i
            return 0
        found = 0
        for i, step in enumerate(self.steps, start=1):
            if step.holds(days, balance, invoices, tags=tags, failure=failure, host=host):
                found = i
        return found

    def witnesses(self) -> list[tuple[int, str]]:
        """One set of facts per reachable target (0 included), in words: the least facts
        of each step. The policy check walks the graph from every step under each."""
        out = [(0, "nothing owed")]
        out.extend((i, s.facts()) for i, s in enumerate(self.climb, start=1))
        return out


def reference_ladder() -> DunningLadder:
    """The ladder of the reference ISP workflow (status codes 10..13, -11..-13).

    Fifteen days per step from the first day past due: active dunning pending on day 1,
    dunning 1/2/3 on days 15/30/45, suspended dunning 1/2/3 on days 60/75/90. Clearing
    settles an active-dunning account and reinstates a suspended one through
    ``reinstate_back`` and ``complete_reinstatement``; a partial payment that brings the
    oldest unpaid invoice back under a step's threshold walks the account down with
    ``deescalate_dunning`` (out of suspension: service is restored).

    >>> [s.status for s in reference_ladder().steps]
    [10, 11, 12, 13, -11, -12, -13]
    """
    days = (1, 15, 30, 45, 60, 75, 90)
    codes = (10, 11, 12, 13, -11, -12, -13)
    return DunningLadder(
        [
            LadderStep(c, min_days=d, min_balance=Decimal("0.01"))
            for c, d in zip(codes, days, strict=True)
        ],
        home="active",
        escalate="escalate_dunning",
        clear=("settle", "reinstate_back", "complete_reinstatement"),
        deescalate="deescalate_dunning",
    )
