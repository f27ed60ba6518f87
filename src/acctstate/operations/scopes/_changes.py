"""One planned change set over an entity tree, and carrying it out (private).

Plan first (the change asked for and every cascaded change, each checked by its own
workflow), then run every change's effects through the hooks, then commit them all.
A refusal anywhere, or a failing hook, leaves every entity exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from acctstate.core._workflow_fire import record
from acctstate.operations.holds._place import commit_hold
from acctstate.values.effects import Effect, Hooks, dispatch, handled
from acctstate.values.errors import AcctStateError, EffectFailed, InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.values.holds import Hold

if TYPE_CHECKING:
    from acctstate.operations.scopes._model import Entity
    from acctstate.operations.scopes._scopes import Scopes

__all__ = ["ChangeSet", "ChangeSetFailed", "Step", "carry_out"]

_RECORD = Hooks()  # no system: dispatching through it runs nothing


@attrs.frozen
class Step:
    """One change of a change set: which entity, what change, and what caused it.

    Attributes:
        entity_id: the account, site or subscription changed.
        scope: its level.
        change: the change, an ordinary ``StatusChange`` of the entity's own workflow
            (a status change, or a hold placed or released).
        cause: the index in the change set of the step that caused it (``None`` for the
            change asked for).
        rule: the label of the cascade rule that carried it (``None`` for the change asked
            for).
        holds: the holds standing after it, for a hold change.
    """

    entity_id: str
    scope: str
    change: StatusChange
    cause: int | None = None
    rule: str | None = None
    holds: tuple[Hold, ...] | None = None

    def __str__(self) -> str:
        c = self.change
        if c.source is c.dest or c.source == c.dest:
            note = c.note
            cause = c.cause
            if note and cause is not None:  # the change set names the cause on its own line
                note = note.removesuffix(str(cause)).rstrip(": ")
            what = f"{c.trigger} ({note})" if note else c.trigger
        else:
            what = f"{c.trigger}: {c.source.name} -> {c.dest.name}"
        return f"{self.scope} {self.entity_id}: {what}"


@attrs.frozen
class ChangeSet:
    """Every change one call makes on an entity tree, in the order they are carried out.

    Attributes:
        steps: the changes; the first is the one asked for, each later one names its
            cause.
        spared: ``(entity id, rule label)`` for each child a rule spared.
    """

    steps: tuple[Step, ...]
    spared: tuple[tuple[str, str], ...] = ()

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def changes(self) -> tuple[StatusChange, ...]:
        """The changes, in order."""
        return tuple(s.change for s in self.steps)

    @property
    def effects(self) -> tuple[Effect, ...]:
        """Every change's effects, in order."""
        return tuple(e for s in self.steps for e in s.change.effects)

    def cause_of(self, step: Step) -> Step | None:
        """The step that caused ``step`` (``None`` for the change asked for)."""
        return None if step.cause is None else self.steps[step.cause]

    def for_entity(self, entity_id: str) -> tuple[Step, ...]:
        """The steps changing ``entity_id``."""
        return tuple(s for s in self.steps if s.entity_id == entity_id)

    def __str__(self) -> str:
        lines = []
        for i, s in enumerate(self.steps):
            why = "" if s.cause is None else f"  <- step {s.cause} ({s.rule})"
            lines.append(f"{i}. {s}{why}")
        lines.extend(f"   spared: {eid} ({rule})" for eid, rule in self.spared)
        return "\n".join(lines)


class ChangeSetFailed(AcctStateError):
    """A hook raised while a change set's effects ran; no entity changed.

    Attributes:
        done: the steps whose effects all ran before the failure (compensate or keep them).
        failed: the step whose effect failed.
        error: the [`EffectFailed`][acctstate.errors.EffectFailed] for that step (also
            ``__cause__``): what ran of it, what failed, what did not run.
    """

    def __init__(self, done: tuple[Step, ...], failed: Step, error: EffectFailed) -> None:
        self.done = done
        self.failed = failed
        self.error = error
        ran = ", ".join(f"{s.scope} {s.entity_id!r}" for s in done) or "none"
        super().__init__(
            f"the change set failed at {failed.scope} {failed.entity_id!r} ({error}); "
            f"no entity changed; steps whose effects ran: {ran}"
        )


def carry_out(scopes: Scopes, tree: Entity, changes: ChangeSet, hooks: Hooks | None) -> None:
    """Run the change set's effects through the hooks, step by step, then commit all.

    Raises:
        ChangeSetFailed: a hook raised; nothing was committed.
    """
    # Called right after planning, nothing in between: every change still fits its entity.
    where = {e.id: e for e in tree.walk()}
    runs: list[Hooks | None] = []
    for step in changes:  # every hook is looked up before the first one runs
        run = hooks if hooks is not None else scopes.workflow(step.scope).hooks
        if run is not None and step.change.effects:
            if not isinstance(run, Hooks):
                raise InvalidArgument("hooks", run, "an acctstate.Hooks")
            handled(step.change, run)  # a system lacking a method is refused here
        runs.append(run)
    done: list[Step] = []
    for step, run in zip(changes, runs, strict=True):
        if run is not None and step.change.effects:
            try:
                dispatch(step.change, run)
            except EffectFailed as exc:
                raise ChangeSetFailed(tuple(done), step, exc) from exc
        done.append(step)
    for step in changes:
        account: Any = where[step.entity_id].account
        if step.holds is None:
            record(scopes.workflow(step.scope).status_attr, account, step.change)
        else:  # its effects ran above: record it with hooks that run nothing
            commit_hold(scopes.workflow(step.scope), account, step.change, step.holds, _RECORD)


ChangeSetFailed.__module__ = "acctstate.scopes"  # the path users import it from
