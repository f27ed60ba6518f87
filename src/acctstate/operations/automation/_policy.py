"""Automation policies: the settings of one account class, validated against a workflow.

A policy names the statuses and triggers it drives instead of assuming them, so the same
rules run on the reference ISP workflow, on seed 002's credit-hold workflow, or on a
host's own graph. Everything a policy could get wrong is checked when it is built and
reported at once, in a :class:`PolicyError`.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from acctstate.core.workflow import Workflow
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.clock import require_aware
from acctstate.values.errors import (
    InvalidArgument,
    PolicyError,
    UnknownStatus,
    Violation,
    closest,
)

__all__ = [
    "RULES",
    "AutomationPolicy",
    "CreditHold",
    "DunningLadder",
    "HoldRelease",
    "LadderStep",
    "PolicyError",
    "reference_ladder",
]

RULES: tuple[str, ...] = (
    "trial_end",
    "activation",
    "expiration",
    "contract_expiry",
    "dunning_clear",
    "dunning",
    "credit_hold_removal",
    "credit_hold_release",
    "credit_hold_inactive",
    "credit_hold",
    "archive",
)
"""Every automation rule, in the order a sweep tries them on an account."""


def _count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgument(attribute.name, value, "a non-negative int")


def _count_or_none(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _count(inst, attribute, value)


def _amount(value: object) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidArgument("amount", value, "a finite Decimal (float money is refused)")
    if value < 0:
        raise InvalidArgument("amount", value, "a non-negative amount")
    return value


def _trigger_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgument(attribute.name, value, "a trigger name (str) or None")


def _status_ref(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgument(attribute.name, value, "a status code or name")


@attrs.frozen
class LadderStep:
    """One step of a dunning ladder: where an account goes once every condition holds.

    Args:
        status: the status of this step (code or name).
        min_days: whole days since the earliest unpaid invoice fell due, at least.
        min_balance: unpaid balance, at least (``Decimal``).
        min_invoices: number of unpaid invoices, at least.

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

    def holds(self, days: int | None, balance: Decimal, invoices: int) -> bool:
        """Whether the step's conditions hold (``days`` is ``None`` when nothing is unpaid)."""
        return (
            days is not None
            and days >= self.min_days
            and balance >= self.min_balance
            and invoices >= self.min_invoices
        )

    def thresholds(self) -> tuple[Decimal, Decimal, Decimal]:
        """``(min_days, min_balance, min_invoices)``, as comparable numbers."""
        return (Decimal(self.min_days), self.min_balance, Decimal(self.min_invoices))


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


def _check_ladder(steps: Sequence[LadderStep]) -> list[Violation]:
    problems: list[Violation] = []
    if not steps:
        problems.append(Violation("empty-ladder", "a dunning ladder needs at least one step"))
        return problems
    first = steps[0]
    if first.min_balance == 0 and first.min_invoices == 0 and first.min_days == 0:
        problems.append(
            Violation(
                "never-clear",
                f"step 1 ({first.status!r}) requires nothing, so an account with any unpaid "
                "invoice is in dunning at once; give it min_days, min_balance or min_invoices",
            )
        )
    for i, (a, b) in enumerate(itertools.pairwise(steps), start=1):
        names = ("min_days", "min_balance", "min_invoices")
        lower = [n for n, x, y in zip(names, a.thresholds(), b.thresholds(), strict=True) if y < x]
        if lower:
            problems.append(
                Violation(
                    "not-monotone",
                    f"step {i + 1} ({b.status!r}) lowers {', '.join(lower)} below step {i} "
                    f"({a.status!r}); each step must ask at least as much as the one before",
                )
            )
        elif a.thresholds() == b.thresholds():
            problems.append(
                Violation(
                    "unreachable-step",
                    f"step {i} ({a.status!r}) can never be reached: step {i + 1} "
                    f"({b.status!r}) has the same thresholds and, being later, always wins",
                )
            )
    seen: dict[StatusRef, int] = {}
    for i, s in enumerate(steps, start=1):
        if s.status in seen:
            problems.append(
                Violation(
                    "duplicate-step",
                    f"step {i} repeats status {s.status!r} of step {seen[s.status]}",
                )
            )
        seen.setdefault(s.status, i)
    return problems


@attrs.frozen
class DunningLadder:
    """Ordered dunning steps; an account's step is the last one whose conditions hold.

    When no step holds (or the account owes nothing) the account is clear. Steps are
    climbed one at a time with the ``escalate`` trigger, starting from ``home``; a clear
    account in dunning is brought home with the ``clear`` triggers (tried in order, so a
    multi-hop payment path such as ``reinstate_back`` then ``complete_reinstatement``
    works). A lower but non-zero step leaves the account where it is: the graph only
    lets dunning advance or end.

    Args:
        steps: the steps, lowest first; thresholds never decrease.
        home: the status of an account in good standing.
        escalate: the trigger that moves one step down the ladder.
        clear: the triggers that bring a paid account back home.

    Raises:
        PolicyError: no steps, thresholds that decrease, a step that can never be
            reached, a step listed twice, or a first step that requires nothing.

    >>> DunningLadder([LadderStep(10, min_days=30), LadderStep(11, min_days=15)])
    Traceback (most recent call last):
    ...
    acctstate.errors.PolicyError: invalid automation policy (1 problem):
      - [not-monotone] step 2 (11) lowers min_days below step 1 (10); each step must ask at least as much as the one before
    """

    steps: tuple[LadderStep, ...] = attrs.field(converter=_steps)
    home: StatusRef = attrs.field(default="active", kw_only=True, validator=_status_ref)
    escalate: str = attrs.field(default="escalate_dunning", kw_only=True)
    clear: tuple[str, ...] = attrs.field(default=("settle",), kw_only=True, converter=_names)

    def __attrs_post_init__(self) -> None:
        problems = _check_ladder(self.steps)
        if problems:
            raise PolicyError(problems)

    def target(self, days: int | None, balance: Decimal, invoices: int) -> int:
        """The step (1-based) an account with these facts belongs on; 0 when clear."""
        if balance <= 0:
            return 0
        found = 0
        for i, step in enumerate(self.steps, start=1):
            if step.holds(days, balance, invoices):
                found = i
        return found


def reference_ladder() -> DunningLadder:
    """The ladder of the reference ISP workflow (seed 004 codes 10..13, -11..-13).

    Fifteen days per step from the first day past due: active dunning pending on day 1,
    dunning 1/2/3 on days 15/30/45, suspended dunning 1/2/3 on days 60/75/90. Clearing
    settles an active-dunning account and reinstates a suspended one through
    ``reinstate_back`` and ``complete_reinstatement``.

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
    )


def _aware_start(value: object) -> dt.datetime:
    return require_aware(value, "start")


def _aware_end(value: object) -> dt.datetime:
    return require_aware(value, "end")


@attrs.frozen
class HoldRelease:
    """A temporary credit-hold removal for one account (seed 002).

    Service resumes from ``start`` until ``end``; after ``end`` the hold returns unless
    the past-due balance was paid.

    Args:
        account_id: the account.
        start: when service resumes (timezone-aware).
        end: when the release ends (timezone-aware, after ``start``).
    """

    account_id: str = attrs.field(validator=attrs.validators.instance_of(str))
    start: dt.datetime = attrs.field(converter=_aware_start)
    end: dt.datetime = attrs.field(converter=_aware_end)

    def covers(self, at: dt.datetime) -> bool:
        """Whether ``at`` falls inside the release (``start`` included, ``end`` not)."""
        return self.start <= at < self.end


def _releases(value: object) -> tuple[HoldRelease, ...]:
    out: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    for r in out:
        if not isinstance(r, HoldRelease):
            raise InvalidArgument("releases", r, "HoldRelease values")
    return out


@attrs.frozen
class CreditHold:
    """Seed 002's credit-hold automation for one account class.

    Args:
        past_due_days: place the hold once an invoice is this many days past due
            (``None``: automatic placement off).
        min_past_due: ... and the past-due balance is at least this (``Decimal``).
        inactive_after_days: move a held account to inactive after this many days on
            hold (``None``: never).
        auto_remove: lift the hold automatically once the balance is paid.
        releases: temporary hold removals, one per account and window.
        status: the credit-hold status.
        place: the trigger that places the hold.
        remove: the trigger that lifts it when paid.
        deactivate: the trigger from hold to inactive.
        release: the trigger that lifts it temporarily (placement re-applies it later).
    """

    past_due_days: int | None = attrs.field(default=None, validator=_count_or_none)
    min_past_due: Decimal = attrs.field(default=Decimal(0), converter=_amount)
    inactive_after_days: int | None = attrs.field(default=None, validator=_count_or_none)
    auto_remove: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    releases: tuple[HoldRelease, ...] = attrs.field(default=(), converter=_releases)
    status: StatusRef = attrs.field(default="credit_hold", validator=_status_ref)
    place: str = "place_credit_hold"
    remove: str = "remove_credit_hold"
    deactivate: str = "deactivate"
    release: str = "release_credit_hold"

    def released(self, account_id: object, at: dt.datetime) -> bool:
        """Whether ``account_id`` has a temporary release covering ``at``."""
        return any(r.account_id == account_id and r.covers(at) for r in self.releases)


def _time(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dt.time) or value.tzinfo is not None:
        raise InvalidArgument(
            attribute.name, value, "a datetime.time without tzinfo (the zone is `timezone`)"
        )


def _zone(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    try:
        ZoneInfo(value)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidArgument(attribute.name, value, "an IANA time zone name") from None


@attrs.frozen
class AutomationPolicy:
    """The automation settings of one account class, checked against a workflow.

    Every trigger setting names a trigger of ``workflow``; a rule whose trigger is
    ``None`` is off. A rule only ever moves an account along an edge of the graph, so
    guards, effects, history and invariants apply as for a manual change.

    Args:
        workflow: the workflow the policy drives.
        account_class: the class it belongs to (``None``: every account).
        enabled: seed 002 "Enable Automatic Status Update"; off means the sweep plans
            nothing for the class.
        ladder: the dunning ladder, if any.
        credit_hold: the credit-hold settings, if any.
        trial_end: trigger fired once ``trial_ends_at`` has passed.
        activation: trigger fired once ``activated_at`` has passed (seed 001).
        expiration: trigger fired once ``expires_at`` has passed, or ``availability_days``
            after ``first_used_at`` (seed 001).
        contract_expiry: trigger fired once ``contract_ends_at`` has passed.
        archive: trigger that archives a closed account ...
        archive_after_days: ... after this many days in its status (seed 004: 180).
        run_at: seed 002 "Status Update Time", the daily run time ...
        timezone: ... in this (the operator's) time zone.
        actor: who automated changes are recorded as (a system actor).
        reason: the reason code passed with every automated change.

    Raises:
        PolicyError: every problem at once (unknown statuses or triggers, steps the
            graph cannot reach or cannot clear, empty release windows ...).

    >>> from acctstate.presets import isp
    >>> p = AutomationPolicy(isp.workflow(), ladder=reference_ladder(), archive="archive")
    >>> p.next_run(dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)).isoformat()
    '2026-01-06T02:00:00+00:00'
    >>> AutomationPolicy(isp.workflow(), contract_expiry="expire_contracts")
    Traceback (most recent call last):
    ...
    acctstate.errors.PolicyError: invalid automation policy (1 problem):
      - [unknown-trigger] contract_expiry names trigger 'expire_contracts', which the workflow 'isp' does not have; did you mean 'expire_contract'?
    """

    workflow: Workflow = attrs.field(validator=attrs.validators.instance_of(Workflow))
    account_class: str | None = attrs.field(default=None, kw_only=True)
    enabled: bool = attrs.field(
        default=True, kw_only=True, validator=attrs.validators.instance_of(bool)
    )
    ladder: DunningLadder | None = attrs.field(default=None, kw_only=True)
    credit_hold: CreditHold | None = attrs.field(default=None, kw_only=True)
    trial_end: str | None = attrs.field(default=None, kw_only=True, validator=_trigger_or_none)
    activation: str | None = attrs.field(default=None, kw_only=True, validator=_trigger_or_none)
    expiration: str | None = attrs.field(default=None, kw_only=True, validator=_trigger_or_none)
    contract_expiry: str | None = attrs.field(
        default=None, kw_only=True, validator=_trigger_or_none
    )
    archive: str | None = attrs.field(default=None, kw_only=True, validator=_trigger_or_none)
    archive_after_days: int = attrs.field(default=180, kw_only=True, validator=_count)
    run_at: dt.time = attrs.field(default=dt.time(2, 0), kw_only=True, validator=_time)
    timezone: str = attrs.field(default="UTC", kw_only=True, validator=_zone)
    actor: Actor = attrs.field(
        default=SYSTEM, kw_only=True, validator=attrs.validators.instance_of(Actor)
    )
    reason: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems = _check_policy(self)
        if problems:
            raise PolicyError(problems, account_class=self.account_class)

    def run_time(self, day: dt.date) -> dt.datetime:
        """The daily run on ``day`` (a date in the operator's time zone), as an instant.

        >>> from acctstate.presets import isp
        >>> p = AutomationPolicy(isp.workflow(), run_at=dt.time(2, 30), timezone="Europe/Paris")
        >>> p.run_time(dt.date(2026, 3, 29)).isoformat()  # 02:30 does not exist that night
        '2026-03-29T03:30:00+02:00'
        """
        zone = ZoneInfo(self.timezone)
        # A run time inside a spring-forward gap does not exist on the wall clock; the
        # round trip through UTC turns it into the real instant (02:00 -> 03:00 DST).
        return (
            dt.datetime.combine(day, self.run_at, tzinfo=zone).astimezone(dt.UTC).astimezone(zone)
        )

    def next_run(self, after: dt.datetime) -> dt.datetime:
        """The first daily run strictly after ``after``."""
        local = require_aware(after, "after").astimezone(ZoneInfo(self.timezone))
        run = self.run_time(local.date())
        while run <= after:
            run = self.run_time(run.astimezone(ZoneInfo(self.timezone)).date() + _DAY)
        return run

    def runs(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """Every daily run in ``(start, end]``, for simulations and catch-up."""
        out: list[dt.datetime] = []
        run = self.next_run(start)
        while run <= end:
            out.append(run)
            run = self.next_run(run)
        return out

    def applies_to(self, account: Any) -> bool:
        """Whether ``account`` belongs to this policy's class (always, for class ``None``)."""
        return self.account_class is None or (
            getattr(account, "account_class", None) == self.account_class
        )


_DAY = dt.timedelta(days=1)


def _check_policy(p: AutomationPolicy) -> list[Violation]:
    wf = p.workflow
    problems: list[Violation] = []
    known = set(wf.triggers)

    def status(ref: StatusRef, what: str) -> int | None:
        try:
            return wf.catalog[ref].code
        except UnknownStatus as exc:
            problems.append(
                Violation("unknown-status", f"{what} names {exc}, not in workflow {wf.name!r}")
            )
            return None

    def trigger(name: str, what: str) -> bool:
        if name in known:
            return True
        near = closest(name, known)
        hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
        problems.append(
            Violation(
                "unknown-trigger",
                f"{what} names trigger {name!r}, which the workflow {wf.name!r} does not "
                f"have{hint}",
            )
        )
        return False

    def edge(name: str, source: int, dest: int | None = None) -> bool:
        return any(d == dest or dest is None for _, d, _ in wf.table.candidates(source, name))

    for attr in ("trial_end", "activation", "expiration", "contract_expiry", "archive"):
        name = getattr(p, attr)
        if name is not None:
            trigger(name, attr)

    if p.ladder is not None:
        _check_ladder_graph(p.ladder, wf, problems, status, trigger, edge)
    if p.credit_hold is not None:
        _check_credit_hold(p.credit_hold, wf, problems, status, trigger, edge)
    return problems


def _check_ladder_graph(
    ladder: DunningLadder,
    wf: Workflow,
    problems: list[Violation],
    status: Any,
    trigger: Any,
    edge: Any,
) -> None:
    home = status(ladder.home, "ladder home")
    codes = [status(s.status, f"ladder step {i}") for i, s in enumerate(ladder.steps, start=1)]
    escalate_ok = trigger(ladder.escalate, "ladder escalate")
    clear_ok = all([trigger(t, "ladder clear") for t in ladder.clear])
    if home is None or None in codes:
        return
    names = {s.code: s.name for s in wf.catalog}
    if escalate_ok:
        chain = [home, *codes]
        for i, (a, b) in enumerate(itertools.pairwise(chain), start=1):
            if not edge(ladder.escalate, a, b):
                problems.append(
                    Violation(
                        "unreachable-step",
                        f"step {i} ({names[b]!r}) can never be reached: the workflow has no "
                        f"{ladder.escalate!r} transition from {names[a]!r} to {names[b]!r}",
                    )
                )
    if clear_ok:
        for i, code in enumerate(codes, start=1):
            if home not in _clear_reach(wf, code, ladder.clear):
                problems.append(
                    Violation(
                        "uncleared-step",
                        f"step {i} ({names[code]!r}) can never be cleared: no path of "
                        f"{', '.join(repr(t) for t in ladder.clear)} leads from it to "
                        f"{names[home]!r}",
                    )
                )


def _clear_reach(wf: Workflow, start: int, clear: Iterable[str]) -> set[int]:
    """Statuses reachable from ``start`` through ``clear`` triggers only."""
    triggers = tuple(clear)
    seen = {start}
    todo = deque([start])
    while todo:
        here = todo.popleft()
        for t in triggers:
            for _, dest, _ in wf.table.candidates(here, t):
                if dest not in seen:
                    seen.add(dest)
                    todo.append(dest)
    return seen


def _check_credit_hold(
    hold: CreditHold,
    wf: Workflow,
    problems: list[Violation],
    status: Any,
    trigger: Any,
    edge: Any,
) -> None:
    code = status(hold.status, "credit_hold.status")
    for r in hold.releases:
        if r.end <= r.start:
            problems.append(
                Violation(
                    "empty-window",
                    f"the hold release of account {r.account_id!r} ends "
                    f"({r.end.isoformat()}) before it starts ({r.start.isoformat()}); it can "
                    "never be in force",
                )
            )
    used: list[tuple[str, str, bool]] = []
    if hold.past_due_days is not None:
        used.append(("place", hold.place, False))
    if hold.auto_remove:
        used.append(("remove", hold.remove, True))
    if hold.inactive_after_days is not None:
        used.append(("deactivate", hold.deactivate, True))
    if hold.releases:
        used.append(("release", hold.release, True))
    for what, name, from_hold in used:
        if not trigger(name, f"credit_hold.{what}") or code is None:
            continue
        if from_hold and not edge(name, code):
            problems.append(
                Violation(
                    "no-transition",
                    f"credit_hold.{what} can never fire: trigger {name!r} has no transition "
                    f"from the hold status {hold.status!r}",
                )
            )
        into = any(e.dest.code == code for e in wf.transitions if e.trigger == name)
        if not from_hold and not into:
            problems.append(
                Violation(
                    "no-transition",
                    f"credit_hold.place can never fire: trigger {name!r} leads nowhere "
                    f"into the hold status {hold.status!r}",
                )
            )
