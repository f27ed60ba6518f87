"""The batch planner: decides the status part once per status from the workflow's compiled
table, plans edges with guards or effect rules, and accounts with standing holds, per
account through ``Workflow.plan``, and plans the field updates; accounts that share a
verdict share one `Plan`."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterable, Iterator, MutableSet
from decimal import Decimal
from typing import Any

from acctstate.core._workflow_fire import refuse_elsewhere
from acctstate.core.workflow import Workflow
from acctstate.operations.batch._changes import (
    BatchChange,
    ChangeStatus,
    Fields,
    FieldUpdate,
    FireTrigger,
)
from acctstate.operations.batch._plan import (
    ACTION_CHANGE,
    ACTION_REFUSED,
    ACTION_UNCHANGED,
    Plan,
)
from acctstate.values.account import account_id_of
from acctstate.values.actors import Actor
from acctstate.values.effects import (
    Effect,
    derive_flag_effects,
)
from acctstate.values.errors import (
    AcctStateError,
    AmbiguousMove,
    HistoryConflict,
    IllegalTransition,
    InvalidArgument,
    MissingFact,
    PermissionDenied,
    ReasonRequired,
    UnknownStatus,
    UnknownTrigger,
)
from acctstate.values.graph import Edge
from acctstate.values.guards import GuardContext
from acctstate.values.history import OPEN, History, StatusChange
from acctstate.values.status import Status

__all__ = ["Planner"]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector off for one batch run, then restore it.

    A batch allocates a few acyclic objects per account (plans, changes, outcomes);
    every full collection during the run would walk all of them again, so the cost per
    account would grow with the size of the batch. Reference counting still frees what
    the run drops; the collector's state is restored afterwards, as it was.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class _Group:
    """The verdict of the status part for every account in one status."""

    __slots__ = ("done", "fast", "plan", "slow_trigger", "source", "timed", "trigger")

    def __init__(
        self,
        source: Status | None,
        plan: Plan | None,
        *,
        trigger: str | None = None,
        timed: bool = False,
        slow_trigger: str | None = None,
    ) -> None:
        self.source = source
        self.plan = plan
        self.trigger = trigger
        self.timed = timed
        self.slow_trigger = slow_trigger
        self.done: Plan | None = None
        # The plan every account of this status gets unless its history says otherwise.
        self.fast = (
            plan if plan is not None and slow_trigger is None and source is not None else None
        )


class Planner:
    """Plans one batch (changes, time, actor, reason) for any account."""

    __slots__ = (
        "_at_iso",
        "_attr",
        "_by_code",
        "_defaults",
        "_fast",
        "_groups",
        "_target",
        "_trigger",
        "actor",
        "at",
        "changes",
        "fields",
        "ledger",
        "note",
        "only_from",
        "reason",
        "recorded",
        "status_part",
        "workflow",
    )

    def __init__(
        self,
        workflow: Workflow,
        changes: tuple[BatchChange, ...],
        at: dt.datetime,
        actor: Actor | None,
        reason: str | None,
        note: str | None,
        ledger: MutableSet[str],
    ) -> None:
        self.workflow = workflow
        self.changes = changes
        self.at = at
        self.actor = actor
        self.reason = reason
        self.note = note
        self.ledger = ledger
        self.recorded = workflow.clock.now()
        self._at_iso = at.astimezone(dt.UTC).isoformat()
        self._attr = workflow.status_attr
        self._by_code = {s.code: s for s in workflow.catalog}
        # What a field change reads when an account gives no time zone or currency.
        self._defaults = {
            "timezone": workflow.default_timezone,
            "currency": workflow.default_currency,
        }
        self._groups: dict[Any, _Group] = {}
        # status code -> the plan its accounts get on the common path (``_Group.fast``).
        self._fast: dict[Any, Plan] = {}
        self.status_part = next((c for c in changes if c.moves_status), None)
        self.fields = tuple(c for c in changes if not c.moves_status)
        self._trigger: str | None = None
        self._target: Status | None = None
        self.only_from: frozenset[int] | None = None
        part = self.status_part
        if isinstance(part, FireTrigger):
            if part.trigger not in workflow.triggers:
                raise UnknownTrigger(part.trigger, known=workflow.triggers)
            self._trigger = part.trigger
        elif isinstance(part, ChangeStatus):
            self._target = workflow.catalog[part.to]
            if part.only_from is not None:
                self.only_from = frozenset(workflow.catalog[s].code for s in part.only_from)

    def copy(self, ledger: MutableSet[str] | None = None) -> Planner:
        """The same plan, recorded now, sharing the per-status verdicts."""
        other = Planner.__new__(Planner)
        for name in Planner.__slots__:
            setattr(other, name, getattr(self, name))
        other.recorded = self.workflow.clock.now()
        if ledger is not None:
            other.ledger = ledger
        return other

    # -- per status -----------------------------------------------------------------

    def _group(self, code: Any) -> _Group:
        source = self._by_code.get(code) if type(code) is int else None
        if source is None:
            unknown = str(UnknownStatus(code, known=self.workflow.catalog.names))
            group = _Group(None, Plan(ACTION_REFUSED, None, why=unknown))
        elif self.status_part is None:
            group = _Group(source, None)
        else:
            group = self._decide(source)
        self._groups[code] = group
        if group.fast is not None:
            self._fast[code] = group.fast
        return group

    def _decide(self, source: Status) -> _Group:
        wf = self.workflow
        table = wf.table
        allowed = table.allowed.get(source.code, ())
        trigger = self._trigger
        target = self._target
        if target is not None:
            if self.only_from is not None and source.code not in self.only_from:
                why = f"status {source.name!r} is not concerned by this change"
                return _Group(source, Plan(ACTION_UNCHANGED, source, why=why))
            if source.code == target.code:
                why = f"already in status {target.name!r}"
                return _Group(source, Plan(ACTION_UNCHANGED, source, why=why))
            leading = sorted({e.trigger for e in wf.edges_from(source) if e.dest == target})
            if not leading:

                def illegal(account_id: str) -> str:
                    return str(
                        IllegalTransition(
                            account_id=account_id,
                            status=source,
                            trigger="",
                            target=target,
                            allowed=allowed,
                        )
                    )

                return _Group(source, Plan(ACTION_REFUSED, source, why=illegal))
            if len(leading) > 1:

                def ambiguous(account_id: str) -> str:
                    return str(
                        AmbiguousMove(
                            account_id=account_id, status=source, target=target, candidates=leading
                        )
                    )

                return _Group(source, Plan(ACTION_REFUSED, source, why=ambiguous))
            trigger = leading[0]
        assert trigger is not None
        candidates = table.candidates(source.code, trigger)
        if not candidates:

            def no_edge(account_id: str) -> str:
                return str(
                    IllegalTransition(
                        account_id=account_id, status=source, trigger=trigger, allowed=allowed
                    )
                )

            return _Group(source, Plan(ACTION_REFUSED, source, why=no_edge), trigger=trigger)
        actor = self.actor
        denied: Edge | None = None
        for _, _, edge in candidates:
            permission = edge.permission
            if permission is not None and (actor is None or not actor.can(permission)):
                denied = denied or edge
                continue
            if edge.guards or edge.effects:
                # Guards and effect rules look at each account: plan those one by one.
                return _Group(source, None, trigger=trigger, slow_trigger=trigger)
            if edge.reasons is not None and self.reason not in edge.reasons:
                why = str(ReasonRequired(trigger=trigger, reason=self.reason, allowed=edge.reasons))
                return _Group(
                    source, Plan(ACTION_REFUSED, source, why=why), trigger=trigger, timed=True
                )
            kinds = derive_flag_effects(source, edge.dest)
            plan = Plan(ACTION_CHANGE, source, edge=edge, kinds=kinds)
            return _Group(source, plan, trigger=trigger, timed=True)
        assert denied is not None and denied.permission is not None
        permission = denied.permission

        def no_permission(account_id: str) -> str:
            return str(
                PermissionDenied(
                    account_id=account_id,
                    status=source,
                    trigger=trigger,
                    permission=permission,
                    actor=actor,
                )
            )

        return _Group(
            source, Plan(ACTION_REFUSED, source, why=no_permission), trigger=trigger, timed=True
        )

    # -- per account ----------------------------------------------------------------

    def plan_all(self, accounts: Iterable[Any]) -> list[Plan]:
        """`plan` for many accounts, with the common case inlined.

        The common case (a status change decided by the table, no field changes, a
        history that ends before ``at`` in the account's status) costs a few attribute
        reads per account; every other account goes through `plan`.
        """
        if self.fields or self.status_part is None:
            return [self.plan(a) for a in accounts]
        rows = accounts if isinstance(accounts, (list, tuple)) else list(accounts)
        out: list[Plan] = []
        try:
            self._plan_common(rows, out)
        except AttributeError:
            # A host object without ``history`` or ``status_since``: go on from that
            # account with the loop that reads them with defaults.
            self._plan_each(rows, out)
        return out

    def _plan_common(self, rows: list[Any] | tuple[Any, ...], out: list[Plan]) -> None:
        # This loop runs once per account, so it reads attributes directly (an
        # AttributeError hands over to ``_plan_each``) and the list behind History.
        append = out.append
        fasts = self._fast
        attr = self._attr
        at = self.at
        slow = self.plan
        for a in rows:
            fast = fasts.get(getattr(a, attr))
            i = a.id
            if fast is None or i is None or i.__class__ is bool or a.holds:
                # A standing hold may refuse the change or shape its effects.
                append(slow(a))
                continue
            history = a.history
            if type(history) is History:
                changes = history._changes
                if changes:
                    last = changes[-1]
                    # A history ending elsewhere, or anything at or after ``at`` (an
                    # earlier run of this batch, a conflict), needs a closer look.
                    if last.dest is not fast.source or last.at >= at:
                        append(slow(a))
                        continue
            elif history is not None:
                append(slow(a))
                continue
            since = a.status_since
            if since is not None and (
                since.__class__ is not dt.datetime or since.tzinfo is None or since >= at
            ):
                append(slow(a))  # which also names a status_since that is not an instant
                continue
            append(fast)

    def _plan_each(self, rows: list[Any] | tuple[Any, ...], out: list[Plan]) -> None:
        """The common-case loop for any host object, from account ``len(out)`` on."""
        append = out.append
        fasts = self._fast
        attr = self._attr
        at = self.at
        slow = self.plan
        for a in rows[len(out) :]:
            fast = fasts.get(getattr(a, attr, None))
            i = getattr(a, "id", None)
            if fast is None or i is None or i.__class__ is bool or getattr(a, "holds", None):
                append(slow(a))
                continue
            history = getattr(a, "history", None)
            latest = getattr(a, "status_since", None)
            if type(history) is History:
                changes = history._changes
                if changes:
                    last = changes[-1]
                    if last.dest is not fast.source:
                        append(slow(a))
                        continue
                    if latest is None or last.at > latest:
                        latest = last.at
            elif history is not None:
                append(slow(a))
                continue
            if latest is not None and (
                latest.__class__ is not dt.datetime or latest.tzinfo is None or latest >= at
            ):
                append(slow(a))  # which also names a status_since that is not an instant
                continue
            append(fast)

    def plan(self, account: Any) -> Plan:
        """What the batch does to ``account`` now (nothing is changed)."""
        try:
            code = getattr(account, self._attr)
        except AttributeError:
            code = None
        group = self._groups.get(code)
        if group is None:
            group = self._group(code)
        source = group.source
        if source is None:
            assert group.plan is not None
            return group.plan
        try:
            # An account without a usable id cannot key its effects or be reported.
            account_id_of(account)
            status_plan = None if self.status_part is None else self._status(account, group)
            if not self.fields:
                assert status_plan is not None
                return status_plan
            return self._fields(account, source, status_plan)
        except Exception as exc:
            # A host object or a guard that raises is that account's problem only.
            why = f"planning failed: {type(exc).__name__}: {exc}"
            return Plan(ACTION_REFUSED, source, why=why, error=exc)

    def _already(self, history: History, group: _Group) -> bool:
        at = self.at
        target = self._target
        for i in range(len(history) - 1, -1, -1):
            entry = history[i]
            if entry.at < at:
                return False
            if entry.at == at and entry.trigger != OPEN:
                if target is not None:
                    if entry.dest.code == target.code:
                        return True
                elif entry.trigger == self._trigger:
                    return True
        return False

    def _status(self, account: Any, group: _Group) -> Plan:
        history = getattr(account, "history", None)
        at = self.at
        source = group.source
        assert source is not None
        latest = getattr(account, "status_since", None)
        if latest is not None and (not isinstance(latest, dt.datetime) or latest.tzinfo is None):
            bad = InvalidArgument(
                "status_since", latest, "a timezone-aware datetime (e.g. datetime(..., tzinfo=UTC))"
            )
            return Plan(ACTION_REFUSED, source, why=str(bad), refusal=bad)
        if isinstance(history, History) and history:
            last = history[-1]
            if last.at >= at and self._already(history, group):
                if group.done is None:
                    group.done = Plan(ACTION_UNCHANGED, source, why="already applied")
                return group.done
            if group.timed or group.slow_trigger is not None:
                if last.dest.code != source.code:
                    why = str(
                        InvalidArgument(
                            "account",
                            getattr(account, "id", None),
                            f"an account whose status ({source.name!r}) matches the end of its "
                            f"history ({last.dest.name!r}); the status was changed outside the "
                            "workflow",
                        )
                    )
                    return Plan(ACTION_REFUSED, source, why=why)
                if latest is None or last.at > latest:
                    latest = last.at
        trigger = group.slow_trigger
        if trigger is None and group.timed and getattr(account, "holds", None):
            # Standing holds: a hold blocking changes refuses a person's change, and the
            # effects follow the change in effective capability; Workflow.plan decides.
            trigger = group.trigger
        if trigger is not None:
            try:
                change = self.workflow.plan(
                    account,
                    trigger,
                    at=at,
                    reason=self.reason,
                    note=self.note,
                    actor=self.actor,
                )
            except AcctStateError as exc:
                return Plan(ACTION_REFUSED, source, why=str(exc), refusal=exc)
            target = self._target
            if target is not None and change.dest != target:
                # As Workflow.move_to: the trigger's guards now lead elsewhere (end_trial
                # to active, asked for canceled): refused, never a move to another status.
                ctx = GuardContext(account, at, self.actor, {})
                elsewhere = refuse_elsewhere(self.workflow, account, source, target, trigger, ctx)
                return Plan(ACTION_REFUSED, source, why=str(elsewhere), refusal=elsewhere)
            return Plan(ACTION_CHANGE, source, change=change)
        plan = group.plan
        assert plan is not None
        if group.timed and latest is not None and at < latest:
            why = str(
                HistoryConflict(account_id=getattr(account, "id", None), at=at, latest=latest)
            )
            return Plan(ACTION_REFUSED, source, why=why)
        return plan

    def _fields(self, account: Any, source: Status, status_plan: Plan | None) -> Plan:
        account_id = account_id_of(account)
        current = Fields(account, self._defaults)
        overlay = current.overlay
        refusal: AcctStateError | None = None
        refusals: list[str] = []
        unchanged: list[str] = []
        updates: list[FieldUpdate] = []
        effects: list[Effect] = []
        money: list[tuple[str, str, Decimal]] = []
        keys: list[str] = []
        if status_plan is not None and status_plan.action != ACTION_CHANGE:
            said = status_plan.why_for(account_id) or ""
            (refusals if status_plan.action == ACTION_REFUSED else unchanged).append(said)
            refusal = status_plan.refusal
        for part in self.fields:
            key = ""
            if part.ledgered:
                key = f"{account_id}/{part.key}/{self._at_iso}"
                if key in self.ledger:
                    unchanged.append(f"{part.describe()}: already applied")
                    continue
            try:
                action, why, update, effect, delta = part.evaluate(account, source, current)
                # The currency of a balance update: the account's, else the default.
                currency = "" if delta is None else str(current.fact("currency"))
            except MissingFact as exc:
                # As Workflow.fire refuses it: this account is refused, the others go on.
                refusals.append(f"{part.describe()}: {exc}")
                refusal = refusal or exc
                continue
            if action == ACTION_REFUSED:
                refusals.append(f"{part.describe()}: {why}")
                continue
            if action == ACTION_UNCHANGED:
                unchanged.append(str(why))
                continue
            if update is not None:
                updates.append(update)
                overlay[update.field] = update.new
            if effect is not None:
                effects.append(effect.keyed(key or f"{account_id}/{part.key}/{self._at_iso}"))
            if delta is not None:
                money.append((part.kind, currency, delta))
            if key:
                keys.append(key)
        if refusals:
            return Plan(ACTION_REFUSED, source, why="; ".join(refusals), refusal=refusal)
        moving = status_plan is not None and status_plan.action == ACTION_CHANGE
        if not (moving or updates or effects or keys):
            return Plan(ACTION_UNCHANGED, source, why="; ".join(unchanged))
        return Plan(
            ACTION_CHANGE,
            source,
            edge=status_plan.edge if moving and status_plan is not None else None,
            kinds=status_plan.kinds if moving and status_plan is not None else (),
            change=status_plan.change if moving and status_plan is not None else None,
            updates=tuple(updates),
            effects=tuple(effects),
            money_lines=tuple(money),
            ledger_keys=tuple(keys),
        )

    def build_change(self, account_id: str, plan: Plan) -> StatusChange:
        """The ``StatusChange`` of a shared (table-decided) plan for one account."""
        edge = plan.edge
        assert edge is not None and plan.source is not None
        trigger = edge.trigger
        # Same keys as Workflow.plan (derived from the change), so retries stay idempotent.
        return StatusChange.planned(
            account_id,
            plan.source,
            edge.dest,
            trigger,
            self.at,
            self.recorded,
            self.reason,
            self.note,
            self.actor,
            plan.kinds,
        )
