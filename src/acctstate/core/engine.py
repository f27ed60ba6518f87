"""The only module that imports ``transitions``, and the compiled table for bulk work.

One ``transitions.Machine`` is built per workflow, with ``auto_transitions`` off and no
model attached. A trigger is fired on a short-lived carrier that holds the source status
and which edges' guards passed; no ``transitions`` object ever leaves this module.

The [`CompiledTable`][acctstate.engine.CompiledTable] answers the same question from a plain dict,
for planning and bulk sweeps; a property test proves the two agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from transitions import Event, EventData, Machine, MachineError, Transition

from acctstate.values.actors import Actor
from acctstate.values.graph import Edge
from acctstate.values.guards import GuardContext, Refusal

__all__ = ["CompiledTable", "Engine", "Outcome"]


class _LeanTransition(Transition):
    """A ``transitions`` edge for a machine with no callbacks and no state hooks.

    acctstate's machine registers conditions only (no prepare/before/after callbacks,
    no enter/exit callbacks, no final-state callbacks, no queue) and its conditions are
    callables taking the event: the condition checks and the state change are all that
    is left of ``Transition.execute``, without its logging and empty callback loops.
    """

    def execute(self, event_data: EventData) -> bool:
        for cond in self.conditions:
            if cond.func(event_data) != cond.target:  # type: ignore[operator]
                return False
        event_data.model.state = self.dest  # type: ignore[attr-defined]
        return True


class _LeanEvent(Event):
    """A ``transitions`` event for the same machine: the candidate transitions from the
    model's state tried in declaration order, the first whose conditions hold taken, as
    ``Event.trigger`` does, minus the queue, logging and empty machine callbacks."""

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        found = self.transitions.get(model.state)
        if found is None:
            raise MachineError(f"Can't trigger event {self.name} from state {model.state}!")
        event_data = EventData(None, self, self.machine, model, args, kwargs)
        for trans in found:
            event_data.transition = trans
            if trans.execute(event_data):
                return True
        return False


class _LeanMachine(Machine):
    """The machine with the lean event and transition classes: ``transitions``' own
    extension points for machines that turn features off."""

    event_cls = _LeanEvent
    transition_cls = _LeanTransition


def _check_lean(machine: Machine) -> None:
    """The lean classes skip callbacks: refuse a machine that has any."""
    hooks = (
        machine.before_state_change,
        machine.after_state_change,
        machine.prepare_event,
        machine.finalize_event,
        machine.on_exception,
        machine.on_final,
    )
    states = machine.states.values()
    edges = [t for ev in machine.events.values() for ts in ev.transitions.values() for t in ts]
    if (
        any(hooks)
        or machine.has_queue
        or any(s.on_enter or s.on_exit or s.final for s in states)
        or any(t.prepare or t.before or t.after for t in edges)
        or any(not callable(c.func) for t in edges for c in t.conditions)
    ):  # pragma: no cover - the Engine never adds them
        raise AssertionError("the lean transitions classes need a machine without callbacks")


class _Carrier:
    """What ``transitions`` sees as the model for one firing: the edges that passed are
    given in advance."""

    __slots__ = ("passed", "state")

    def __init__(self, state: str, passed: Collection[int]) -> None:
        self.state = state
        self.passed = passed

    def allows(self, index: int) -> bool:
        return index in self.passed


class _GuardedCarrier(GuardContext):
    """The model ``transitions`` fires on, and the context the guards see: one object
    per firing. The ``transitions`` conditions evaluate each candidate edge's permission
    and guards against it, gathering refusals only on a "no"."""

    __slots__ = ("denied", "edges", "refusals", "state", "taken")

    def __init__(
        self,
        state: str,
        edges: Sequence[Edge],
        account: Any,
        at: dt.datetime,
        actor: Actor | None,
        data: Mapping[str, Any],
    ) -> None:
        self.account = account
        self.at = at
        self.actor = actor
        self.data = data
        self.state = state
        self.edges = edges
        self.taken = -1

    def allows(self, index: int) -> bool:
        edge = self.edges[index]
        if edge.permission is not None:
            actor = self.actor
            if actor is None or not actor.can(edge.permission):
                if not hasattr(self, "denied"):
                    self.denied = edge
                return False
        ok = True
        for guard in edge.guards:
            refusal = guard(self)
            if refusal is not None:
                if not hasattr(self, "refusals"):
                    self.refusals: list[Refusal] = []
                self.refusals.append(refusal)
                ok = False
        if ok:
            self.taken = index
        return ok


class _Allows:
    """Condition callable: may edge ``index`` be taken for this firing?"""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, event: Any) -> bool:
        return event.model.allows(self.index)  # type: ignore[no-any-return]


Outcome = tuple[Edge | None, list[Refusal], Edge | None, GuardContext]
"""What [`Engine.run`][acctstate.engine.Engine.run] found: ``(edge taken, refusals, edge denied for
permission, the context the guards saw)``. A plain tuple: one is made per firing."""


class Engine:
    """The workflow's ``transitions`` machine.

    Args:
        codes: every status code of the catalog.
        edges: the resolved edges; an edge's index is its position here.
    """

    __slots__ = ("_codes", "_edges", "_events", "_machine", "_names")

    def __init__(self, codes: Sequence[int], edges: Sequence[Edge]) -> None:
        machine = _LeanMachine(
            model=None,
            states=[str(c) for c in codes],
            initial=None,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for i, e in enumerate(edges):
            machine.add_transition(
                e.trigger, str(e.source.code), str(e.dest.code), conditions=[_Allows(i)]
            )
        _check_lean(machine)
        self._machine = machine
        self._events = machine.events
        self._edges = tuple(edges)
        # transitions names states by str; keep both directions to avoid str()/int() per fire
        self._names = {c: str(c) for c in codes}
        self._codes = {str(c): c for c in codes}

    def fire(self, source: int, trigger: str, passed: Collection[int]) -> int | None:
        """Fire ``trigger`` from ``source`` given the indices of edges whose guards passed.

        Returns the destination code, or ``None`` when no edge applies (unknown trigger,
        no edge from ``source``, or no passing guard).
        """
        event = self._events.get(trigger)
        if event is None:
            return None
        name = self._names.get(source)
        if name is None:
            return None
        carrier = _Carrier(name, passed)
        try:
            moved = event.trigger(carrier)
        except MachineError:
            return None
        return self._codes[carrier.state] if moved else None

    def run(
        self,
        source: int,
        trigger: str,
        account: Any,
        at: dt.datetime,
        actor: Actor | None,
        data: Mapping[str, Any],
    ) -> Outcome:
        """Fire ``trigger`` from ``source``, the conditions evaluating each candidate
        edge's permission and guards in declaration order.

        The first edge whose guards all allow is taken; when none does, every refusal
        of every candidate is returned. The last item is the context the guards saw.
        """
        name = self._names.get(source)
        carrier = _GuardedCarrier(name or "", self._edges, account, at, actor, data)
        event = self._events.get(trigger)
        if event is None or name is None:
            return None, [], None, carrier
        try:
            moved = event.trigger(carrier)
        except MachineError:
            return None, [], None, carrier
        if not moved:
            return (
                None,
                getattr(carrier, "refusals", []),
                getattr(carrier, "denied", None),
                carrier,
            )
        return self._edges[carrier.taken], [], None, carrier

    @property
    def triggers(self) -> frozenset[str]:
        """Every trigger the machine knows."""
        return frozenset(self._events)


class CompiledTable:
    """``(source code, trigger) -> candidate edges`` as a plain dict.

    Each candidate is ``(edge index, destination code, edge)`` in declaration order;
    the first whose guards pass is taken, exactly as ``transitions`` does.
    """

    __slots__ = ("_by_trigger", "_rows", "allowed")

    def __init__(self, edges: Sequence[Edge]) -> None:
        rows: dict[tuple[int, str], list[tuple[int, int, Edge]]] = {}
        allowed: dict[int, list[str]] = {}
        for i, e in enumerate(edges):
            rows.setdefault((e.source.code, e.trigger), []).append((i, e.dest.code, e))
            names = allowed.setdefault(e.source.code, [])
            if e.trigger not in names:
                names.append(e.trigger)
        self._rows = {k: tuple(v) for k, v in rows.items()}
        self.allowed: dict[int, tuple[str, ...]] = {k: tuple(sorted(v)) for k, v in allowed.items()}
        by_trigger: dict[str, dict[int, tuple[tuple[int, int, Edge], ...]]] = {}
        for (source, trigger), found in self._rows.items():
            by_trigger.setdefault(trigger, {})[source] = found
        self._by_trigger = by_trigger

    def candidates(self, source: int, trigger: str) -> tuple[tuple[int, int, Edge], ...]:
        """The candidate edges for ``trigger`` from ``source`` (empty when none)."""
        return self._rows.get((source, trigger), ())

    def decide(
        self, source: int, trigger: str, ctx: GuardContext
    ) -> tuple[Edge | None, list[Refusal], Edge | None]:
        """Evaluate the candidate edges in declaration order, as the engine does.

        Returns ``(edge taken, refusals, first edge denied for a permission)``: the first
        edge whose permission and guards all allow is taken; when none is, every refusal
        of every candidate is listed.
        """
        refusals: list[Refusal] = []
        denied: Edge | None = None
        actor = ctx.actor
        for _, _, edge in self._rows.get((source, trigger), ()):
            if edge.permission is not None and (actor is None or not actor.can(edge.permission)):
                denied = denied or edge
                continue
            ok = True
            for g in edge.guards:
                refusal = g(ctx)
                if refusal is not None:
                    refusals.append(refusal)
                    ok = False
            if ok:
                return edge, [], None
        return None, refusals, denied

    def fire(self, source: int, trigger: str, passed: Collection[int]) -> int | None:
        """The destination code, as [`Engine.fire`][acctstate.engine.Engine.fire] would answer."""
        for index, dest, _ in self._rows.get((source, trigger), ()):
            if index in passed:
                return dest
        return None

    def __len__(self) -> int:
        return len(self._rows)

    def keys(self) -> list[tuple[int, str]]:
        """Every ``(source code, trigger)`` with at least one edge."""
        return list(self._rows)

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger with at least one edge, sorted."""
        return tuple(sorted(self._by_trigger))

    def by_trigger(self, trigger: str) -> dict[int, tuple[tuple[int, int, Edge], ...]]:
        """``source code -> candidate edges`` for one trigger (a copy; empty when unknown).

        Column-wise work fires one trigger over many rows at once, so it needs every
        source of a trigger together rather than one ``(source, trigger)`` at a time.
        """
        return dict(self._by_trigger.get(trigger, {}))

    def depth(self, trigger: str) -> int:
        """The largest number of candidate edges any source has for ``trigger``."""
        return max((len(c) for c in self._by_trigger.get(trigger, {}).values()), default=0)
