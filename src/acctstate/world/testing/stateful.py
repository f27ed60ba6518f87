"""A ready stateful test for any workflow:
[`workflow_state_machine`][acctstate.testing.workflow_state_machine].

The machine opens one account in a drawn status and fires drawn triggers at it, with
drawn times, event data, actors, reasons and sometimes failing hooks. After every step
it checks the rules that make a workflow safe to run:

* the status is in the catalog and matches the end of the history;
* a terminal status is never left; a one-way status is never entered again once left;
* a refused or failed call changes nothing (status, ``status_since``, history);
* the history only grows, its old entries never change, and it stays in time order;
* ``plan`` agrees with ``fire`` (same outcome, same change, same effects);
* the compiled table (``wf.table``) agrees with the ``transitions`` engine;
* ``explain`` / ``may`` / ``allowed_triggers`` agree with what ``plan`` does;
* hooks run exactly the planned effects, in order;
* for a workflow with hold types, placements and releases are drawn between the status
  changes: effective capability = the status's flags minus the union of standing holds,
  effects follow it, and nothing starts billing while another hold blocks it.

A host application runs it against its own workflow in one line::

    TestMyWorkflow = workflow_state_machine(my_workflow).TestCase
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from acctstate.core.workflow import Workflow
from acctstate.values.account import Account
from acctstate.values.actors import Actor
from acctstate.values.effects import Effect, Hooks
from acctstate.values.errors import (
    AcctStateError,
    AmbiguousMove,
    EffectFailed,
    GuardRefused,
    HistoryConflict,
    IllegalTransition,
    InvalidArgument,
    ReasonRequired,
    UnknownTrigger,
)
from acctstate.values.guards import GuardContext
from acctstate.values.history import StatusChange
from acctstate.values.status import Status
from acctstate.world.testing._stateful_holds import HoldSteps, hold_actors
from acctstate.world.testing.strategies import (
    EPOCH,
    accounts,
    actors,
    event_data,
    offsets,
    reasons_of,
)

__all__ = ["FlakyHooks", "WorkflowInvariantError", "workflow_state_machine"]


class WorkflowInvariantError(AssertionError):
    """A workflow broke one of the rules the stateful test checks (names the rule)."""


def _fail(rule: str, detail: str) -> WorkflowInvariantError:
    return WorkflowInvariantError(f"[{rule}] {detail}")


class FlakyHooks:
    """Hooks for every system that record what they ran, and fail when told to.

    (Unlike [`acctstate.effects.RecordingHooks`][acctstate.effects.RecordingHooks], they are not
    idempotent: the stateful test wants to see every effect a firing runs, and a failure on demand.)

    Attributes:
        ran: the effects run, in order.
        fail_at: the index of the effect whose hook raises (``None``: never).
    """

    def __init__(self, *, fail_at: int | None = None) -> None:
        self.ran: list[Effect] = []
        self.fail_at = fail_at

    def _run(self, effect: Effect, change: StatusChange) -> None:
        if self.fail_at is not None and len(self.ran) >= self.fail_at:
            raise RuntimeError(f"hook for {effect.kind} failed on purpose")
        self.ran.append(effect)

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = _run

    def hooks(self) -> Hooks:
        """A [`Hooks`][acctstate.effects.Hooks] routing every system here."""
        return Hooks(billing=self, provisioning=self, refunds=self, notices=self)


_Snapshot = tuple[int, dt.datetime | None, int, tuple[StatusChange, ...]]
_Outcome = tuple[str, Any]


def _instant(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC)


def _snapshot(account: Account) -> _Snapshot:
    return (account.status, account.status_since, len(account.history), tuple(account.history))


def _outcome(call: Any) -> tuple[_Outcome, BaseException | None]:
    """Run ``call``; an acctstate error is an outcome, anything else propagates."""
    try:
        return ("ok", call()), None
    except AcctStateError as exc:
        return ("error", (type(exc), str(exc))), exc


def _same_change(a: StatusChange, b: StatusChange) -> bool:
    keep = ("account_id", "source", "dest", "trigger", "at", "reason", "note", "actor", "effects")
    return all(getattr(a, k) == getattr(b, k) for k in keep)


def _shift(data: Mapping[str, Any], by: dt.timedelta) -> dict[str, Any]:
    return {k: v + by if isinstance(v, dt.datetime) else v for k, v in data.items()}


class _Strategies:
    """Strategies and lookups built once per workflow (building them per step was slow)."""

    def __init__(self, wf: Workflow, pool: tuple[Status, ...] | None) -> None:
        self.account = accounts(wf, statuses=pool)
        self.every: tuple[str, ...] = (*wf.triggers, "no_such_trigger")
        self.reasons: dict[tuple[str, int], tuple[str | None, ...]] = {}
        for e in wf.transitions:
            key = (e.trigger, e.source.code)
            if e.reasons and key not in self.reasons:
                found = reasons_of(wf, e.trigger, e.source)
                self.reasons[key] = (None, *found, "no_such_reason")
        self.after = offsets()
        self.forward = offsets(past=False)
        # instants in event data are drawn around EPOCH and shifted to the step's time
        self.data = event_data(wf, around=EPOCH)
        self.actor = actors(wf)
        self.fail_at = st.one_of(st.none(), st.integers(0, 3))
        self.target = st.sampled_from(tuple(wf.catalog))


class _Base(HoldSteps, RuleBasedStateMachine):
    """Shared machinery; [`workflow_state_machine`][acctstate.testing.workflow_state_machine] binds
    a workflow to it."""

    wf: Workflow
    start_statuses: tuple[Status, ...] | None
    kit: _Strategies
    invariant_error = WorkflowInvariantError
    flaky_hooks = FlakyHooks

    def __init__(self) -> None:
        super().__init__()
        self.account: Account | None = None
        self.now: dt.datetime = EPOCH
        self.left_one_way: set[int] = set()

    # -- helpers ---------------------------------------------------------------------

    @property
    def acct(self) -> Account:
        assert self.account is not None, "no account opened"
        return self.account

    def _passed(
        self, trigger: str, at: dt.datetime, actor: Actor | None, data: Mapping[str, Any]
    ) -> list[int]:
        """Indices of the candidate edges whose permission and guards pass (our own
        evaluation, independent of the workflow's)."""
        ctx = GuardContext(self.acct, at, actor, data)
        passed = []
        for index, _, edge in self.wf.table.candidates(self.acct.status, trigger):
            if edge.permission is not None and (actor is None or not actor.can(edge.permission)):
                continue
            if all(g(ctx) is None for g in edge.guards):
                passed.append(index)
        return passed

    def _check_unchanged(self, before: _Snapshot, what: str, exc: BaseException) -> None:
        if _snapshot(self.acct) != before:
            raise _fail(
                "refusal-changes-nothing",
                f"{what} raised {type(exc).__name__} ({exc}) but changed the account",
            )

    def _check_committed(self, before: _Snapshot, change: StatusChange) -> None:
        acct = self.acct
        code, _, length, entries = before
        source = self.wf.catalog[code]
        if change.source != source:
            raise _fail("change-source", f"{change!r} does not start from {source.name!r}")
        if acct.status != change.dest.code:
            raise _fail("commit", f"status is {acct.status} after {change!r}")
        if acct.status_since != change.at:
            raise _fail("commit", f"status_since is {acct.status_since} after {change!r}")
        if tuple(acct.history)[:length] != entries:
            raise _fail("history-append-only", f"old history entries changed by {change!r}")
        if len(acct.history) != length + 1 or acct.history[-1] != change:
            raise _fail("history-append-only", f"{change!r} was not appended exactly once")
        if source.terminal and change.dest != source:
            raise _fail("terminal-exit", f"left terminal status {source.name!r}: {change!r}")
        if change.dest.code in self.left_one_way:
            raise _fail("one-way", f"re-entered one-way status {change.dest.name!r}: {change!r}")
        if source.one_way and change.dest != source:
            self.left_one_way.add(source.code)
        self.now = max(self.now, change.at)

    # -- steps -----------------------------------------------------------------------

    def _open(self, account: Account) -> None:
        self.account = account
        since = self.acct.status_since
        assert since is not None
        self.now = since

    def _fire(
        self,
        pick: int,
        from_allowed: bool,
        after: dt.timedelta,
        data: Mapping[str, Any],
        actor: Actor | None,
        reason_pick: int,
        fail_at: int | None,
    ) -> None:
        wf, acct, kit = self.wf, self.acct, self.kit
        status = wf.catalog[acct.status]
        allowed = wf.table.allowed.get(status.code, ())
        pool = allowed if from_allowed and allowed else kit.every
        trigger = pool[pick % len(pool)]
        at = self.now + after
        kwargs = _shift(data, at - EPOCH)
        reasons = kit.reasons.get((trigger, status.code), ())
        reason = reasons[reason_pick % len(reasons)] if reasons else None
        recorder = FlakyHooks(fail_at=fail_at)

        before = _snapshot(acct)
        planned, plan_exc = _outcome(
            lambda: wf.plan(acct, trigger, at=at, reason=reason, actor=actor, **kwargs)
        )
        if plan_exc is not None:
            self._check_unchanged(before, "plan", plan_exc)
        elif _snapshot(acct) != before:
            raise _fail("plan-is-pure", f"plan({trigger!r}) changed the account")
        # explain / may / allowed_triggers agree with plan; like plan, they raise for
        # unknown triggers and for times before the latest change, so those are skipped
        # (compared as instants: two datetimes in one zone compare by wall time)
        latest = max(before[1] or at, acct.history[-1].at, key=_instant)
        if _instant(at) >= _instant(latest) and (
            isinstance(plan_exc, ReasonRequired)
            or not isinstance(plan_exc, UnknownTrigger | HistoryConflict | InvalidArgument)
        ):
            self._check_explain(status, trigger, at, actor, kwargs, plan_exc)

        passed = self._passed(trigger, at, actor, kwargs)
        fired, fire_exc = _outcome(
            lambda: wf.fire(
                acct,
                trigger,
                at=at,
                reason=reason,
                actor=actor,
                hooks=recorder.hooks(),
                **kwargs,
            )
        )

        # plan and fire agree (fire may also fail in a hook, which plan never runs)
        if isinstance(fire_exc, EffectFailed):
            if planned[0] != "ok" or not _same_change(planned[1], fire_exc.change):
                raise _fail("plan-agrees-with-fire", f"fire failed in a hook but plan {planned}")
            if list(fire_exc.ran) != recorder.ran:
                raise _fail("effects", "EffectFailed.ran differs from the hooks that ran")
        elif planned[0] != fired[0] or (planned[0] == "error" and planned[1] != fired[1]):
            raise _fail("plan-agrees-with-fire", f"{trigger!r}: plan {planned}, fire {fired}")
        elif planned[0] == "ok" and not _same_change(planned[1], fired[1]):
            raise _fail("plan-agrees-with-fire", f"plan {planned[1]!r} != fire {fired[1]!r}")

        # the compiled table agrees with the engine (fire goes through the engine)
        table_dest = wf.table.fire(status.code, trigger, passed)
        if fire_exc is None:
            if table_dest != fired[1].dest.code:
                raise _fail(
                    "table-agrees-with-engine",
                    f"{trigger!r} from {status.name!r}: engine -> {fired[1].dest.name!r}, "
                    f"table -> {table_dest}",
                )
        elif (
            isinstance(fire_exc, GuardRefused | IllegalTransition)
            and table_dest is not None
            and not self._held_back(actor)  # a hold blocking changes refused it
        ):
            raise _fail(
                "table-agrees-with-engine",
                f"{trigger!r} from {status.name!r}: engine refused "
                f"({type(fire_exc).__name__}), table -> {table_dest}",
            )

        if fire_exc is not None:
            self._check_unchanged(before, "fire", fire_exc)
            return
        change: StatusChange = fired[1]
        hooks = recorder.hooks()
        routed = [e for e in change.effects if hooks.handler(e) is not None]
        if recorder.ran != routed:
            raise _fail("effects", f"hooks ran {recorder.ran}, planned {routed}")
        self._check_committed(before, change)

    def _check_explain(
        self,
        status: Status,
        trigger: str,
        at: dt.datetime,
        actor: Actor | None,
        kwargs: Mapping[str, Any],
        plan_exc: BaseException | None,
    ) -> None:
        wf, acct = self.wf, self.acct
        why = wf.explain(acct, trigger, at=at, actor=actor, **kwargs)
        expect = plan_exc is None or isinstance(plan_exc, ReasonRequired)
        if why.allowed != expect:
            raise _fail(
                "explain-agrees-with-plan",
                f"explain({trigger!r}) from {status.name!r} says {why}, plan raised {plan_exc!r}",
            )
        if why.legal != (not isinstance(plan_exc, IllegalTransition)):
            raise _fail("explain-agrees-with-plan", f"explain legal={why.legal}, plan {plan_exc!r}")
        listed = trigger in wf.allowed_triggers(acct, at=at, actor=actor, **kwargs)
        if listed != expect:
            raise _fail(
                "allowed-triggers",
                f"allowed_triggers lists {trigger!r}: {listed}; plan raised {plan_exc!r}",
            )

    def _move_to(
        self,
        target: Status,
        after: dt.timedelta,
        data: Mapping[str, Any],
        actor: Actor | None,
        reason_pick: int,
    ) -> None:
        wf, acct = self.wf, self.acct
        at = self.now + after
        kwargs = _shift(data, at - EPOCH)
        before = _snapshot(acct)
        source = wf.catalog[acct.status]
        leading = sorted(
            {e.trigger for e in wf.transitions if e.source == source and e.dest == target}
        )
        reason = None
        if len(leading) == 1:
            found = reasons_of(wf, leading[0], source)
            if found:
                reason = found[reason_pick % len(found)]
        try:
            change = wf.move_to(acct, target, at=at, reason=reason, actor=actor, **kwargs)
        except AmbiguousMove as exc:
            if len(leading) < 2:
                raise _fail("move-to", f"AmbiguousMove with {leading}") from exc
            self._check_unchanged(before, "move_to", exc)
            return
        except IllegalTransition as exc:
            if leading:
                raise _fail("move-to", f"IllegalTransition although {leading} lead there") from exc
            self._check_unchanged(before, "move_to", exc)
            return
        except AcctStateError as exc:
            self._check_unchanged(before, "move_to", exc)
            return
        if change.dest != target or change.trigger not in leading:
            raise _fail("move-to", f"move_to({target.name!r}) made {change!r}")
        self._check_committed(before, change)

    # -- after every step ------------------------------------------------------------

    @invariant()
    def status_in_catalog(self) -> None:
        if self.account is None:
            return
        if self.acct.status not in self.wf.catalog:
            raise _fail("status-in-catalog", f"status {self.acct.status} is not in the catalog")

    @invariant()
    def history_in_order(self) -> None:
        if self.account is None:
            return
        entries = list(self.acct.history)
        if not entries or entries[-1].dest.code != self.acct.status:
            raise _fail("history-ends-in-status", "the history does not end in the status")
        for a, b in itertools.pairwise(entries):
            if _instant(b.at) < _instant(a.at):
                raise _fail("history-in-order", f"{b!r} is before {a!r}")
            if b.source != a.dest:
                raise _fail("history-chained", f"{b!r} does not start where {a!r} ended")


def workflow_state_machine(
    wf: Workflow,
    *,
    start: tuple[Status | int | str, ...] | None = None,
) -> type[RuleBasedStateMachine]:
    """A hypothesis ``RuleBasedStateMachine`` that checks ``wf`` after every step.

    Args:
        wf: the workflow under test (a preset, an extension, one loaded from a file).
        start: the statuses the account may start in (default: any status, as if
            imported, so every status is exercised).

    Returns:
        A machine class; its ``TestCase`` attribute is a ``unittest.TestCase`` that
        pytest collects. Tune it with ``Machine.TestCase.settings = settings(...)``.

    Raises:
        InvalidArgument: ``wf`` is not a ``Workflow``.

    >>> from acctstate.presets import isp
    >>> Machine = workflow_state_machine(isp.workflow())
    >>> Machine.__name__
    'IspWorkflowMachine'
    """
    if not isinstance(wf, Workflow):
        raise InvalidArgument("wf", wf, "an acctstate.Workflow")
    pool = None if start is None else tuple(wf.catalog[s] for s in start)
    title = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", wf.name) if p)
    name = f"{title or 'Custom'}WorkflowMachine"
    kit = _Strategies(wf, pool)
    picks = st.integers(0, 2**16)

    class Machine(_Base):
        @initialize(account=kit.account)
        def open_account(self, account: Account) -> None:
            self._open(account)

        @rule(
            pick=picks,
            from_allowed=st.booleans(),
            after=kit.after,
            data=kit.data,
            actor=kit.actor,
            reason_pick=picks,
            fail_at=kit.fail_at,
        )
        def fire(
            self,
            pick: int,
            from_allowed: bool,
            after: dt.timedelta,
            data: dict[str, Any],
            actor: Actor | None,
            reason_pick: int,
            fail_at: int | None,
        ) -> None:
            self._fire(pick, not from_allowed, after, data, actor, reason_pick, fail_at)

        @rule(
            dest=kit.target,
            after=kit.forward,
            data=kit.data,
            actor=kit.actor,
            reason_pick=picks,
        )
        def move_to(
            self,
            dest: Status,
            after: dt.timedelta,
            data: dict[str, Any],
            actor: Actor | None,
            reason_pick: int,
        ) -> None:
            self._move_to(dest, after, data, actor, reason_pick)

    made: type[_Base] = Machine
    if wf.hold_types:
        holders = hold_actors(wf)
        until = st.none() | st.integers(0, 72)

        class HeldMachine(Machine):
            @rule(pick=picks, after=kit.after, actor=holders, until=until, fail_at=kit.fail_at)
            def place_hold(
                self,
                pick: int,
                after: dt.timedelta,
                actor: Actor | None,
                until: int | None,
                fail_at: int | None,
            ) -> None:
                self._place(pick, after, actor, until, fail_at)

            @rule(pick=picks, after=kit.forward, actor=holders, fail_at=kit.fail_at)
            def release_hold(
                self, pick: int, after: dt.timedelta, actor: Actor | None, fail_at: int | None
            ) -> None:
                self._release(pick, after, actor, fail_at)

            @invariant()
            def holds_are_a_union(self) -> None:
                self._check_union()

        made = HeldMachine

    made.wf = wf
    made.start_statuses = pool
    made.kit = kit
    made.__name__ = made.__qualname__ = name
    return made
