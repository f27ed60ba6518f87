"""Planning a change and every change it cascades to, over an entity tree (private).

Nothing changes here: each entity's change is planned by its own workflow (guards,
permissions, reasons, time, effects), the cascade rules say which children follow,
and the result is one [`ChangeSet`][acctstate.scopes.ChangeSet]. A refusal anywhere
refuses the whole set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from acctstate.core._workflow_fire import plan_change
from acctstate.operations.holds._place import plan_place as plan_hold
from acctstate.operations.holds._place import plan_release as plan_unhold
from acctstate.operations.scopes._changes import ChangeSet, Step
from acctstate.operations.scopes._model import Cascade, Entity, ScopeConflict, UnknownEntity
from acctstate.values.actors import Actor
from acctstate.values.errors import AcctStateError, InvalidArgument
from acctstate.values.history import Cause, StatusChange
from acctstate.values.holds import RELEASE_HOLD, Hold
from acctstate.values.status import Status

if TYPE_CHECKING:
    from acctstate.operations.scopes._scopes import Scopes

__all__ = ["InScope", "plan_fire", "plan_place", "plan_release", "spare_ids"]


@attrs.frozen
class InScope:
    """Where a change stands in the tree, handed to guards as the event data ``scope``.

    Attributes:
        scopes: the declared levels and rules.
        entity: the entity being changed, with everything below it.
    """

    scopes: Any
    entity: Entity


def spare_ids(where: Mapping[str, Entity], spare: Iterable[str] | None) -> frozenset[str] | None:
    """The ids an operator spares (``None``: the rules' own exemptions decide)."""
    if spare is None:
        return None
    if isinstance(spare, str):
        spare = (spare,)
    ids = frozenset(str(s) for s in spare)
    for s in sorted(ids - where.keys()):
        raise UnknownEntity(s, known=where)
    return ids


def _find(where: Mapping[str, Entity], entity_id: object) -> Entity:
    found = where.get(str(entity_id))
    if found is None:
        raise UnknownEntity(entity_id, known=where)
    return found


def _refused(entity_id: str, what: str, exc: AcctStateError) -> ScopeConflict:
    return ScopeConflict(entity_id, [f"{what}: {exc}"], cause=exc)


def _cause(step: Step, rule: str) -> Cause:
    """The cause a change cascaded from ``step`` by ``rule`` records (its note says it too)."""
    return Cause(step.scope, step.entity_id, step.change.trigger, rule)


def _caused(change: StatusChange, cause: Cause) -> StatusChange:
    return attrs.evolve(change, cause=cause)


class _Planner:
    def __init__(
        self,
        scopes: Scopes,
        tree: Entity,
        where: dict[str, Entity],
        at: dt.datetime,
        actor: Actor | None,
        spare: frozenset[str] | None,
        data: Mapping[str, Any],
    ) -> None:
        self.scopes = scopes
        self.tree = tree
        self.at = at
        self.actor = actor
        self.spare = spare
        self.data = data
        self.where = where
        self.steps: list[Step] = []
        self.after: dict[str, Status] = {}
        self.spared: list[tuple[str, str]] = []

    def status(self, e: Entity) -> Status:
        found = self.after.get(e.id)
        return found if found is not None else self.scopes.status_of(e)

    def spares(self, e: Entity, label: str, exempt: Any) -> bool:
        if self.spare is not None:
            hit = e.id in self.spare
        else:
            hit = exempt is not None and bool(exempt(e.account, self.at))
        if hit:
            self.spared.append((e.id, label))
        return hit

    def add(self, step: Step) -> int:
        self.steps.append(step)
        if step.holds is None:
            self.after[step.entity_id] = step.change.dest
        return len(self.steps) - 1

    def cascade_status(self, root: str) -> None:
        queue = [0]
        while queue:
            i = queue.pop(0)
            step = self.steps[i]
            e = self.where[step.entity_id]
            for rule in self.scopes.cascades:
                if rule.scope == e.scope and step.change.dest.name in rule.entering:
                    queue.extend(self.follow(root, i, e, rule))

    def follow(self, root: str, i: int, e: Entity, rule: Cascade) -> list[int]:
        assert rule.among is not None
        if rule.target in self.scopes.levels_below(rule.scope):
            targets = e.below(rule.target)
        else:  # a roll-up: when every entity of the level below the ancestor agrees
            up = next((a for a in self.tree.path_to(e.id) if a.scope == rule.target), None)
            if up is None or not all(
                self.status(m).name in rule.entering for m in up.below(rule.scope)
            ):
                return []
            targets = (up,)
        made = []
        cause = _cause(self.steps[i], rule.label)
        for t in targets:
            if t.id in self.after or self.status(t).name not in rule.among:
                continue
            if not rule.strict and self.spares(t, rule.label, rule.exempt):
                continue
            wf = self.scopes.workflow(t.scope)
            try:
                change = plan_change(
                    wf,
                    t.account,
                    rule.fire,
                    self.at,
                    rule.reason,
                    str(cause),
                    self.actor,
                    {"scope": InScope(self.scopes, t)},
                    through_engine=False,
                    cause=cause,
                )
            except AcctStateError as exc:
                raise _refused(
                    root, f"the cascade {rule.label!r} cannot {rule.fire} {t.scope} {t.id!r}", exc
                ) from exc
            made.append(self.add(Step(t.id, t.scope, change, i, rule.label)))
        return made

    def cascade_hold(
        self,
        root: Entity,
        i: int,
        e: Entity,
        hold: Hold,
        origin: str,
        until: dt.datetime | None,
    ) -> None:
        for rule in self.scopes.hold_cascades:
            assert rule.types is not None
            if rule.scope != e.scope or hold.type not in rule.types:
                continue
            for t in e.below(rule.target):
                if any(s.entity_id == t.id for s in self.steps) or self.spares(
                    t, rule.label, rule.exempt
                ):
                    continue
                wf = self.scopes.workflow(t.scope)
                cause = _cause(self.steps[i], rule.label)
                try:
                    change, after = plan_hold(
                        wf,
                        t.account,
                        hold.type,
                        at=self.at,
                        reason=hold.reason,
                        note=str(cause),
                        actor=self.actor,
                        until=until,
                        hold_id=origin,
                        data=self.data,
                    )
                except AcctStateError as exc:
                    what = f"the {hold.type} hold cannot stand on {t.scope} {t.id!r}"
                    raise _refused(root.id, what, exc) from exc
                j = self.add(Step(t.id, t.scope, _caused(change, cause), i, rule.label, after))
                self.cascade_hold(root, j, t, after[-1], origin, until)

    def done(self) -> ChangeSet:
        return ChangeSet(tuple(self.steps), tuple(self.spared))


def plan_fire(
    scopes: Scopes,
    tree: Entity,
    entity_id: str,
    trigger: str,
    at: dt.datetime,
    reason: str | None,
    note: str | None,
    actor: Actor | None,
    spare: Iterable[str] | None,
    data: dict[str, Any],
) -> ChangeSet:
    """The change set firing ``trigger`` on ``entity_id`` makes; nothing changes."""
    if "scope" in data:
        raise InvalidArgument("scope", data["scope"], "no event data named 'scope' (it is given)")
    where = scopes.check_tree(tree)
    e = _find(where, entity_id)
    p = _Planner(scopes, tree, where, at, actor, spare_ids(where, spare), data)
    wf = scopes.workflow(e.scope)
    change = wf.plan(
        e.account,
        trigger,
        at=at,
        reason=reason,
        note=note,
        actor=actor,
        scope=InScope(scopes, e),
        **data,
    )
    p.add(Step(e.id, e.scope, change))
    p.cascade_status(e.id)
    # Only what this change set would introduce: a tree loaded in an inconsistent state
    # must still accept the changes that repair it.
    standing = {key for key, _ in scopes.conflicting(tree)}
    problems = [text for key, text in scopes.conflicting(tree, p.after) if key not in standing]
    if problems:
        raise ScopeConflict(e.id, problems)
    return p.done()


def plan_place(
    scopes: Scopes,
    tree: Entity,
    entity_id: str,
    hold_type: str,
    at: dt.datetime,
    reason: str | None,
    note: str | None,
    actor: Actor | None,
    until: dt.datetime | None,
    hold_id: str | None,
    spare: Iterable[str] | None,
    data: dict[str, Any],
) -> ChangeSet:
    """The change set placing a hold on ``entity_id`` (and its inherited copies) makes."""
    where = scopes.check_tree(tree)
    e = _find(where, entity_id)
    p = _Planner(scopes, tree, where, at, actor, spare_ids(where, spare), data)
    wf = scopes.workflow(e.scope)
    change, after = plan_hold(
        wf,
        e.account,
        hold_type,
        at=at,
        reason=reason,
        note=note,
        actor=actor,
        until=until,
        hold_id=hold_id,
        data=data,
    )
    p.add(Step(e.id, e.scope, change, holds=after))
    hold = after[-1]
    p.cascade_hold(e, 0, e, hold, f"{e.id}/{hold.id}", until)
    return p.done()


def plan_release(
    scopes: Scopes,
    tree: Entity,
    entity_id: str,
    hold: Hold | str,
    at: dt.datetime,
    reason: str | None,
    note: str | None,
    actor: Actor | None,
    data: dict[str, Any],
) -> ChangeSet:
    """The change set releasing a hold on ``entity_id`` and every copy it left below."""
    e = _find(scopes.check_tree(tree), entity_id)
    wf = scopes.workflow(e.scope)
    change, after = plan_unhold(
        wf, e.account, hold, at=at, reason=reason, note=note, actor=actor, data=data
    )
    steps = [Step(e.id, e.scope, change, holds=after)]
    hid = hold.id if isinstance(hold, Hold) else str(hold)
    # A hold placed here left copies below named "<here>/<id>"; an inherited hold keeps
    # its id all the way down.
    copied = hid if "/" in hid else f"{e.id}/{hid}"
    cause = Cause(e.scope, e.id, RELEASE_HOLD, "inherited")
    for t in e.walk():
        if t is e or not any(h.id == copied for h in getattr(t.account, "holds", ()) or ()):
            continue
        twf = scopes.workflow(t.scope)
        try:
            c, a = plan_unhold(
                twf,
                t.account,
                copied,
                at=at,
                reason=reason,
                note=str(cause),
                actor=actor,
                data=data,
            )
        except AcctStateError as exc:
            what = f"the inherited hold {copied!r} cannot be released on {t.scope} {t.id!r}"
            raise _refused(e.id, what, exc) from exc
        steps.append(Step(t.id, t.scope, _caused(c, cause), 0, "inherited", a))
    return ChangeSet(tuple(steps))
