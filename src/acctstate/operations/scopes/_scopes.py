"""[`Scopes`][acctstate.scopes.Scopes]: the levels of a customer, their workflows and the
cascade rules between them, checked when built (private)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.scopes._changes import ChangeSet, carry_out
from acctstate.operations.scopes._check import ancestors, checked
from acctstate.operations.scopes._diagram import tree_mermaid
from acctstate.operations.scopes._model import Cascade, Entity, HoldCascade, Scope
from acctstate.operations.scopes._plan import InScope, plan_fire, plan_place, plan_release
from acctstate.values.actors import Actor
from acctstate.values.effects import Hooks
from acctstate.values.errors import InvalidArgument
from acctstate.values.guards import Guard, GuardContext, guard
from acctstate.values.holds import Blocked, Hold, effective_capability, why_blocked
from acctstate.values.status import Status

__all__ = ["Scopes", "no_active_service"]


class Scopes:
    """The levels of a customer (account, site, subscription), each with its own workflow,
    and the cascade rules between them; checked when built, immutable after.

    Args:
        scopes: the levels, exactly one without a parent.
        cascades: [`Cascade`][acctstate.scopes.Cascade] and
            [`HoldCascade`][acctstate.scopes.HoldCascade] rules.

    Raises:
        DefinitionError: every broken rule at once: levels that do not form one tree, a
            cascade through a transition a level's workflow lacks, a strict cascade that
            leaves children behind, cascades in a circle, hold types a level lacks.

    >>> from acctstate.presets import isp
    >>> wf = isp.workflow()
    >>> scopes = Scopes(
    ...     [Scope("account", wf), Scope("site", wf, parent="account")],
    ...     cascades=[Cascade("account", "canceled", "site", "cancel", strict=True)],
    ... )
    >>> scopes
    <Scopes account > site, 1 rule>
    >>> Scopes([Scope("account", wf), Scope("site", wf, parent="account")],
    ...        cascades=[Cascade("account", "canceled", "site", "cancel"),
    ...                  Cascade("site", "canceled", "account", "cancel")])
    Traceback (most recent call last):
    ...
    acctstate.errors.DefinitionError: invalid workflow (1 problem):
      - [cascade-cycle] cascades go round in a circle: account canceled -> site canceled -> account canceled
    """

    __slots__ = ("_below", "_cascades", "_holds", "_levels", "_order")

    def __init__(
        self, scopes: Iterable[Scope], *, cascades: Iterable[Cascade | HoldCascade] = ()
    ) -> None:
        self._levels, self._cascades, self._holds = checked(scopes, cascades)
        depth = {n: len(ancestors(self._levels, n)) for n in self._levels}
        self._order = tuple(sorted(self._levels, key=lambda n: (depth[n], n)))
        self._below = {
            a: tuple(n for n in self._order if a in ancestors(self._levels, n))
            for a in self._levels
        }

    def __repr__(self) -> str:
        n = len(self._cascades) + len(self._holds)
        return f"<Scopes {' > '.join(self._order)}, {n} rule{'s' if n != 1 else ''}>"

    @property
    def names(self) -> tuple[str, ...]:
        """The levels, top down."""
        return self._order

    @property
    def cascades(self) -> tuple[Cascade, ...]:
        """The status cascades, their ``among`` resolved."""
        return self._cascades

    @property
    def hold_cascades(self) -> tuple[HoldCascade, ...]:
        """The hold cascades, their ``types`` resolved."""
        return self._holds

    def __getitem__(self, name: str) -> Scope:
        try:
            return self._levels[name]
        except KeyError:
            raise InvalidArgument("scope", name, f"one of {', '.join(self._order)}") from None

    def workflow(self, scope: str) -> Workflow:
        """The workflow of level ``scope``."""
        return self[scope].workflow

    def levels_below(self, scope: str) -> tuple[str, ...]:
        """Every level below ``scope``, nearest first."""
        self[scope]
        return self._below[scope]

    # -- the tree -----------------------------------------------------------------------

    def entity(self, scope: str, account: Any, *children: Entity) -> Entity:
        """An [`Entity`][acctstate.scopes.Entity] of level ``scope`` with ``children``
        (checked: each child's level has this one as its parent).

        Raises:
            InvalidArgument: an unknown level, or a child of the wrong level.
        """
        self[scope]
        for c in children:
            if self[c.scope].parent != scope:
                raise InvalidArgument(
                    "children", f"{c.scope} {c.id}", f"entities of a level below {scope!r}"
                )
        return Entity(scope, account, children)

    def check_tree(self, tree: Entity) -> dict[str, Entity]:
        """Refuse a tree whose levels do not follow the declared ones, or whose ids repeat.

        Returns:
            Every entity of the tree by id.

        Raises:
            InvalidArgument: naming the entity that does not fit.
        """
        seen: dict[str, Entity] = {}
        for e in tree.walk():
            self[e.scope]
            if e.id in seen:
                raise InvalidArgument("tree", e.id, "entities with distinct ids")
            seen[e.id] = e
            for c in e.children:
                if self[c.scope].parent != e.scope:
                    raise InvalidArgument(
                        "tree", f"{c.scope} {c.id}", f"entities of a level below {e.scope!r}"
                    )
        return seen

    def status_of(self, entity: Entity) -> Status:
        """The entity's status in its own level's workflow."""
        return self.workflow(entity.scope).status_of(entity.account)

    def statuses(self, tree: Entity) -> dict[str, str]:
        """Every entity's status name, by id, top down."""
        return {e.id: self.status_of(e).name for e in tree.walk()}

    def to_mermaid(self, tree: Entity, changes: ChangeSet | None = None) -> str:
        """The tree as a Mermaid flowchart, top down; with ``changes`` (a change set
        made on it), each changed entity shows ``before -> after`` and each spared child
        is marked."""
        return tree_mermaid(self, tree, changes)

    # -- aggregation --------------------------------------------------------------------

    def serving(self, entity: Entity) -> bool:
        """Whether the entity itself has service: a provisioned status, no hold blocking it."""
        held = getattr(entity.account, "holds", None) or ()
        return "service" in effective_capability(self.status_of(entity), held)

    def is_active(self, entity: Entity) -> bool:
        """Active for statistics: at the lowest level, serving; above it, any entity below
        is active (an account with no active subscription is not active)."""
        if not self.levels_below(entity.scope):
            return self.serving(entity)
        return any(self.is_active(c) for c in entity.children)

    def why_blocked(self, tree: Entity, entity_id: str, capability: str) -> Blocked:
        """Every reason ``capability`` is blocked on one entity of the tree (its status,
        its own holds and those it inherited from the levels above); the paragraph names the
        entity by its level (``Service on subscription 'SUB-2' is blocked ...``)."""
        e = tree.find(entity_id)
        held: tuple[Hold, ...] = tuple(getattr(e.account, "holds", None) or ())
        return why_blocked(e.id, self.status_of(e), held, capability, label=e.scope)

    # -- invariants ---------------------------------------------------------------------

    def conflicts(self, tree: Entity, planned: Mapping[str, Status] | None = None) -> list[str]:
        """Every entity standing in a status its parent's status forbids (through a strict
        cascade), one sentence each; ``planned`` overrides statuses by id."""
        return [text for _, text in self.conflicting(tree, planned)]

    def conflicting(
        self, tree: Entity, planned: Mapping[str, Status] | None = None
    ) -> list[tuple[tuple[str, str], str]]:
        """As [`conflicts`][acctstate.scopes.Scopes.conflicts], each sentence keyed by
        ``(child id, rule label)``."""
        after = planned or {}

        def status(e: Entity) -> Status:
            return after.get(e.id) or self.status_of(e)

        found = []
        for rule in self._cascades:
            if not rule.strict:
                continue
            assert rule.among is not None
            for e in tree.walk():
                if e.scope != rule.scope or status(e).name not in rule.entering:
                    continue
                for c in e.below(rule.target):
                    if status(c).name in rule.among:
                        text = (
                            f"{c.scope} {c.id!r} would stand in {status(c).name!r} while "
                            f"{e.scope} {e.id!r} is {status(e).name!r} ({rule.label})"
                        )
                        found.append(((c.id, rule.label), text))
        return found

    # -- changing -----------------------------------------------------------------------

    def _now(self, at: dt.datetime | None) -> dt.datetime:
        # One instant for the whole change set: the top level's clock when none is given.
        return self.workflow(self._order[0]).clock.now() if at is None else at

    def plan(
        self,
        tree: Entity,
        entity_id: str,
        trigger: str,
        *,
        at: dt.datetime | None = None,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        spare: Iterable[str] | None = None,
        **data: Any,
    ) -> ChangeSet:
        """The [`ChangeSet`][acctstate.scopes.ChangeSet] firing ``trigger`` on one entity
        would make, every cascaded change included; nothing changes.

        Args:
            tree: the entity tree (the customer).
            entity_id: the entity fired on.
            trigger: a trigger of that entity's own workflow.
            at: the effective time of every change in the set (default: now on the top
                level's workflow clock).
            spare: the children the cascades spare, named by the operator (``None``: the
                rules' own exemptions decide; ``()``: nobody is spared).
            **data: event data for the first change's guards (the ``scope`` key is given:
                where the entity stands in the tree).

        Raises:
            ScopeConflict: a cascaded change was refused (the cause says why), or a change
                would leave a child in a status its parent forbids.
            UnknownEntity: no such entity, or an unknown spared id.

        It also raises every error of [`Workflow.plan`][acctstate.workflow.Workflow.plan].
        """
        when = self._now(at)
        return plan_fire(self, tree, entity_id, trigger, when, reason, note, actor, spare, data)

    def fire(
        self,
        tree: Entity,
        entity_id: str,
        trigger: str,
        *,
        at: dt.datetime | None = None,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        spare: Iterable[str] | None = None,
        hooks: Hooks | None = None,
        **data: Any,
    ) -> ChangeSet:
        """Plan the change set, run every change's effects through the hooks, then commit
        them all; a refusal or a failing hook changes nothing.

        Raises:
            ChangeSetFailed: a hook raised; no entity changed.

        It also raises every error of [`plan`][acctstate.scopes.Scopes.plan].
        """
        changes = self.plan(
            tree,
            entity_id,
            trigger,
            at=self._now(at),
            reason=reason,
            note=note,
            actor=actor,
            spare=spare,
            **data,
        )
        carry_out(self, tree, changes, hooks)
        return changes

    def place_hold(
        self,
        tree: Entity,
        entity_id: str,
        hold_type: str,
        *,
        at: dt.datetime | None = None,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        until: dt.datetime | None = None,
        hold_id: str | None = None,
        spare: Iterable[str] | None = None,
        hooks: Hooks | None = None,
        **data: Any,
    ) -> ChangeSet:
        """Place a hold on one entity and, through the hold cascades, an inherited copy
        (id ``"<entity>/<hold>"``) on every entity below that is not spared.

        Raises:
            ScopeConflict: a copy was refused below (the cause says why); nothing changed.
            ChangeSetFailed: a hook raised; no entity changed.

        It also raises every error of [`place_hold`][acctstate.holds.place_hold].
        """
        when = self._now(at)
        changes = plan_place(
            self, tree, entity_id, hold_type, when, reason, note, actor, until, hold_id, spare, data
        )
        carry_out(self, tree, changes, hooks)
        return changes

    def release_hold(
        self,
        tree: Entity,
        entity_id: str,
        hold: Hold | str,
        *,
        at: dt.datetime | None = None,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        hooks: Hooks | None = None,
        **data: Any,
    ) -> ChangeSet:
        """Release a hold on one entity and every copy of it standing below (``data``:
        event data for the hold type's release guards, on every copy too).

        Raises:
            ScopeConflict: a copy's release was refused below (the cause says why);
                nothing changed.

        It raises every error of [`release_hold`][acctstate.holds.release_hold], and
        [`ChangeSetFailed`][acctstate.scopes.ChangeSetFailed] when a hook raised.
        """
        when = self._now(at)
        changes = plan_release(self, tree, entity_id, hold, when, reason, note, actor, data)
        carry_out(self, tree, changes, hooks)
        return changes


def _no_active_service(ctx: GuardContext) -> str | None:
    where = ctx.data.get("scope")
    if not isinstance(where, InScope):
        return "needs the customer's tree: fire it through Scopes.fire"
    for e in where.entity.walk():
        if e is not where.entity and where.scopes.serving(e):
            return f"{e.scope} {e.id!r} has active service"
    return None


def no_active_service() -> Guard:
    """A guard: no entity below the one changed (no site, no subscription) has service.

    "Collections only if no active services for any site" in the account-class products;
    it reads the tree, so the change must be fired through
    [`Scopes.fire`][acctstate.scopes.Scopes.fire].
    """
    return guard(
        "no_active_service",
        _no_active_service,
        description="no site or subscription below has active service",
    )
