"""Automation policies: the settings of one account class, validated against a workflow.

A policy names the statuses and triggers it drives instead of assuming them, so the same
rules run on the reference ISP workflow, on the account-class credit-hold workflow, or on a
host's own graph. Everything a policy could get wrong is checked when it is built and
reported at once, in a [`PolicyError`][acctstate.automation.PolicyError].
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from acctstate.core.workflow import Workflow
from acctstate.operations.automation._fields import (
    _count,
    _instance_of,
    _text_or_none,
    _trigger_or_none,
)
from acctstate.operations.automation._hold import CreditHold
from acctstate.operations.automation._ladder import DunningLadder
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
    "PolicyError",
]

RULES: tuple[str, ...] = (
    "hold_expiry",
    "trial_end",
    "activation",
    "expiration",
    "contract_expiry",
    "dunning_clear",
    "dunning",
    "dunning_down",
    "dunning_cancel",
    "credit_hold_removal",
    "credit_hold_return",
    "credit_hold_release",
    "credit_hold_inactive",
    "credit_hold",
    "archive",
)
"""Every automation rule, in the order a sweep tries them on an account (``hold_expiry``
releases time-bound holds whose ``until`` has passed; with ``CreditHold(hold=...)`` the
credit-hold rules place and release that hold, before the status rules run)."""


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
        enabled: the "Enable Automatic Status Update" setting; off means the sweep plans
            nothing for the class.
        ladder: the dunning ladder, if any.
        credit_hold: the credit-hold settings, if any.
        auto_apply: the "Run Daily Auto Apply" setting: before the rules are evaluated,
            unapplied payments and credits go to the oldest open invoice balances first
            (accounts with ``invoices``; see ``acctstate.invoices``).
        trial_end: trigger fired once ``trial_ends_at`` has passed.
        activation: trigger fired once ``activated_at`` has passed (prepaid activation).
        expiration: trigger fired once ``expires_at`` has passed, or ``availability_days``
            after ``first_used_at`` (prepaid availability).
        contract_expiry: trigger fired once ``contract_ends_at`` has passed.
        archive: trigger that archives a closed account ...
        archive_after_days: ... after this many days in its status (the reference workflow: 180).
        run_at: the "Status Update Time" setting, the daily run time ...
        timezone: ... in this (the operator's) time zone.
        actor: who automated changes are recorded as (a system actor).
        reason: the reason code passed with every automated change.

    Raises:
        PolicyError: every problem at once (unknown statuses or triggers, steps the
            graph cannot reach or cannot clear, empty release windows ...).

    >>> from acctstate.presets import isp
    >>> from acctstate.automation import reference_ladder
    >>> p = AutomationPolicy(isp.workflow(), ladder=reference_ladder(), archive="archive")
    >>> p.next_run(dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)).isoformat()
    '2026-01-06T02:00:00+00:00'
    >>> AutomationPolicy(isp.workflow(), contract_expiry="expire_contracts")
    Traceback (most recent call last):
    ...
    acctstate.errors.PolicyError: invalid automation policy (1 problem):
      - [unknown-trigger] contract_expiry names trigger 'expire_contracts', which the workflow 'isp' does not have; did you mean 'expire_contract'?
    """

    workflow: Workflow = attrs.field(validator=_instance_of(Workflow, "an acctstate Workflow"))
    account_class: str | None = attrs.field(default=None, kw_only=True, validator=_text_or_none)
    enabled: bool = attrs.field(default=True, kw_only=True, validator=_instance_of(bool, "a bool"))
    ladder: DunningLadder | None = attrs.field(
        default=None,
        kw_only=True,
        validator=attrs.validators.optional(_instance_of(DunningLadder, "a DunningLadder")),
    )
    credit_hold: CreditHold | None = attrs.field(
        default=None,
        kw_only=True,
        validator=attrs.validators.optional(_instance_of(CreditHold, "a CreditHold")),
    )
    auto_apply: bool = attrs.field(
        default=False, kw_only=True, validator=_instance_of(bool, "a bool")
    )
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
        default=SYSTEM, kw_only=True, validator=_instance_of(Actor, "an acctstate Actor")
    )
    reason: str | None = attrs.field(default=None, kw_only=True, validator=_text_or_none)

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
        """The first daily run strictly after ``after`` (compared as instants: any zone,
        ``fold`` or UTC writing of ``after`` gives the same run).

        >>> from acctstate.presets import isp
        >>> p = AutomationPolicy(isp.workflow(), run_at=dt.time(2, 30), timezone="Europe/Paris")
        >>> p.next_run(dt.datetime(2026, 3, 28, 23, 0, tzinfo=dt.UTC)).isoformat()
        '2026-03-29T03:30:00+02:00'
        """
        instant = require_aware(after, "after").astimezone(dt.UTC)
        zone = ZoneInfo(self.timezone)
        run = self.run_time(instant.astimezone(zone).date())
        # Instants, not wall times: two datetimes sharing a tzinfo compare by wall time,
        # which ignores ``fold`` in the hour a clock goes back.
        while run.astimezone(dt.UTC) <= instant:
            run = self.run_time(run.astimezone(zone).date() + _DAY)
        return run

    def runs(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """Every daily run in ``(start, end]``, for simulations and catch-up."""
        last = require_aware(end, "end").astimezone(dt.UTC)
        out: list[dt.datetime] = []
        run = self.next_run(start)
        while run.astimezone(dt.UTC) <= last:
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
    if p.credit_hold is not None and p.credit_hold.hold is not None:
        _check_hold_type(p, p.credit_hold, problems)
    elif p.credit_hold is not None:
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
    climb = ladder.climb
    codes = [status(s.status, f"ladder step {i}") for i, s in enumerate(climb, start=1)]
    escalate_ok = trigger(ladder.escalate, "ladder escalate")
    clear_ok = all([trigger(t, "ladder clear") for t in ladder.clear])
    downs = {t for i in range(2, len(climb) + 1) if (t := ladder.down_trigger(i)) is not None}
    down_ok = all([trigger(t, "ladder deescalate") for t in sorted(downs)])
    cancel = climb[-1].cancel
    cancel_ok = cancel is not None and trigger(cancel.trigger, "ladder cancellation")
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
    pos = {code: i for i, code in enumerate(codes, start=1)}
    if down_ok:
        for i in range(2, len(codes) + 1):
            t = ladder.down_trigger(i)
            if t is None:
                continue
            dests = [d for _, d, _ in wf.table.candidates(codes[i - 1], t)]
            if not any(0 < pos.get(d, 0) < i for d in dests):
                problems.append(
                    Violation(
                        "no-step-down",
                        f"step {i} ({names[codes[i - 1]]!r}) cannot step down: the workflow "
                        f"has no {t!r} transition from it to a lower step such as "
                        f"{names[codes[i - 2]]!r}",
                    )
                )
    if cancel is not None and cancel_ok and not edge(cancel.trigger, codes[-1]):
        problems.append(
            Violation(
                "no-transition",
                f"the cancellation can never fire: trigger {cancel.trigger!r} has no "
                f"transition from the final step {names[codes[-1]]!r}",
            )
        )
    if clear_ok:
        for i, code in enumerate(codes, start=1):
            if i == len(codes) and ladder.ends_in_cancellation:
                continue  # the final step ends the account; it need not clear
            if home not in _clear_reach(wf, code, ladder.clear):
                problems.append(
                    Violation(
                        "uncleared-step",
                        f"step {i} ({names[code]!r}) can never be cleared: no path of "
                        f"{', '.join(repr(t) for t in ladder.clear)} leads from it to "
                        f"{names[home]!r}",
                    )
                )
        if escalate_ok and down_ok:
            _check_fixed_point(ladder, wf, home, codes, names, problems)


def _check_fixed_point(
    ladder: DunningLadder,
    wf: Workflow,
    home: int,
    codes: list[int],
    names: dict[int, str],
    problems: list[Violation],
) -> None:
    """Prove that the ladder rules settle for fixed facts, from every step.

    The target step depends on the facts alone (never on the status), so one witness per
    target covers every fact: for each, walk the graph from home and from every step the
    way the rules would (every candidate edge, whatever its guards), and report a walk
    that comes back to a status it left.
    """
    pos = {home: 0, **{code: i for i, code in enumerate(codes, start=1)}}
    clear_path = set()
    for code in codes:
        clear_path |= _clear_reach(wf, code, ladder.clear)
    clear_path.discard(home)

    def moves(here: int, target: int) -> list[int]:
        p = pos.get(here)
        triggers: list[str] = []
        if target == 0 and here in clear_path:
            triggers = list(ladder.clear)
        elif p is not None and target > p:
            triggers = [ladder.escalate]
        elif p is not None and 0 < target < p:
            down = ladder.down_trigger(p)
            triggers = [] if down is None else [down]
        if p is not None and p == len(codes) and target >= p and ladder.climb[-1].cancel:
            return []  # the account leaves the ladder for good
        for t in triggers:
            dests = [d for _, d, _ in wf.table.candidates(here, t)]
            if dests:
                return dests
        return []

    for target, facts in ladder.witnesses():
        for start in [home, *codes]:
            todo: list[tuple[int, tuple[int, ...]]] = [(start, (start,))]
            while todo:
                here, seen = todo.pop()
                for nxt in moves(here, target):
                    if nxt in seen:
                        loop = " -> ".join(names[c] for c in (*seen, nxt))
                        problems.append(
                            Violation(
                                "no-fixed-point",
                                f"with {facts} (step {target}) an account in "
                                f"{names[start]!r} never settles: {loop}",
                            )
                        )
                        return
                    if len(seen) <= 2 * len(codes) + 2:
                        todo.append((nxt, (*seen, nxt)))


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
    if hold.restore is not None:
        trigger(hold.restore, "credit_hold.restore")
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
    if hold.releases and code is not None and trigger_known(wf, hold.release):
        _check_way_back(hold, wf, code, problems)


def _check_hold_type(p: AutomationPolicy, hold: CreditHold, problems: list[Violation]) -> None:
    """A credit hold placed as a hold: the type exists, and the automation may place it."""
    wf, p_actor, p_reason = p.workflow, p.actor, p.reason
    htype = wf.hold_types.get(hold.hold) if hold.hold is not None else None
    if htype is None:
        known = ", ".join(repr(n) for n in wf.hold_types) or "none"
        problems.append(
            Violation(
                "unknown-hold-type",
                f"credit_hold.hold names hold type {hold.hold!r}, which the workflow "
                f"{wf.name!r} does not declare (declared: {known})",
            )
        )
        return
    if hold.inactive_after_days is not None:
        problems.append(
            Violation(
                "hold-inactive",
                "credit_hold.inactive_after_days moves the account out of the credit-hold "
                "status, and credit_hold.hold keeps it in its status: use one or the other",
            )
        )
    if htype.permission is not None and not p_actor.can(htype.permission):
        problems.append(
            Violation(
                "hold-permission",
                f"the policy's actor {p_actor.id!r} lacks {htype.permission!r}, needed to "
                f"place and release {htype.name!r} holds",
            )
        )
    if htype.reasons is not None and p_reason not in htype.reasons:
        problems.append(
            Violation(
                "hold-reason",
                f"hold type {htype.name!r} accepts the reasons "
                f"{', '.join(sorted(htype.reasons))}; the policy's reason is {p_reason!r}",
            )
        )


def trigger_known(wf: Workflow, name: str) -> bool:
    return name in set(wf.triggers)


def released_statuses(wf: Workflow, hold: CreditHold, code: int) -> set[int]:
    """Where the release trigger takes an account on hold (any of its edges)."""
    return {d for _, d, _ in wf.table.candidates(code, hold.release)} - {code}


def _check_way_back(hold: CreditHold, wf: Workflow, code: int, problems: list[Violation]) -> None:
    names = {s.code: s.name for s in wf.catalog}
    for here in sorted(released_statuses(wf, hold, code)):
        back = [
            t
            for t in (hold.restore, hold.place if hold.past_due_days is not None else None)
            if t is not None and any(d == code for _, d, _ in wf.table.candidates(here, t))
        ]
        if not back:
            via = (
                f"restore trigger {hold.restore!r}"
                if hold.restore is not None
                else "no restore trigger is set, and placement"
            )
            problems.append(
                Violation(
                    "no-way-back",
                    f"a temporary release leaves the hold for {names[here]!r}, and {via} "
                    f"has no transition from there back to {hold.status!r}; the hold would "
                    "never return after the window (set credit_hold.restore to a trigger "
                    "that leads back)",
                )
            )
