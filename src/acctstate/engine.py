"""The only module that imports ``transitions``, and the compiled table for bulk work.

One ``transitions.Machine`` is built per workflow, with ``auto_transitions`` off and no
model attached. A trigger is fired on a short-lived carrier that holds the source status
and which edges' guards passed; no ``transitions`` object ever leaves this module.

The :class:`CompiledTable` answers the same question from a plain dict, for planning and
bulk sweeps; a property test proves the two agree.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from transitions import Machine, MachineError

from acctstate.graph import Edge

__all__ = ["CompiledTable", "Engine"]


class _Carrier:
    """What ``transitions`` sees as the model for one firing."""

    __slots__ = ("passed", "state")

    def __init__(self, state: str, passed: Collection[int]) -> None:
        self.state = state
        self.passed = passed


class _Passed:
    """Condition callable: did edge ``index``'s guards pass for this firing?"""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, event: Any) -> bool:
        return self.index in event.model.passed


class Engine:
    """The workflow's ``transitions`` machine.

    Args:
        codes: every status code of the catalog.
        edges: the resolved edges; an edge's index is its position here.
    """

    __slots__ = ("_events", "_machine")

    def __init__(self, codes: Sequence[int], edges: Sequence[Edge]) -> None:
        machine = Machine(
            model=None,
            states=[str(c) for c in codes],
            initial=None,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for i, e in enumerate(edges):
            machine.add_transition(
                e.trigger, str(e.source.code), str(e.dest.code), conditions=[_Passed(i)]
            )
        self._machine = machine
        self._events = machine.events

    def fire(self, source: int, trigger: str, passed: Collection[int]) -> int | None:
        """Fire ``trigger`` from ``source`` given the indices of edges whose guards passed.

        Returns the destination code, or ``None`` when no edge applies (unknown trigger,
        no edge from ``source``, or no passing guard).
        """
        event = self._events.get(trigger)
        if event is None:
            return None
        carrier = _Carrier(str(source), passed)
        try:
            moved = event.trigger(carrier)
        except MachineError:
            return None
        return int(carrier.state) if moved else None

    @property
    def triggers(self) -> frozenset[str]:
        """Every trigger the machine knows."""
        return frozenset(self._events)


class CompiledTable:
    """``(source code, trigger) -> candidate edges`` as a plain dict.

    Each candidate is ``(edge index, destination code, edge)`` in declaration order;
    the first whose guards pass is taken, exactly as ``transitions`` does.
    """

    __slots__ = ("_rows", "allowed")

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

    def candidates(self, source: int, trigger: str) -> tuple[tuple[int, int, Edge], ...]:
        """The candidate edges for ``trigger`` from ``source`` (empty when none)."""
        return self._rows.get((source, trigger), ())

    def fire(self, source: int, trigger: str, passed: Collection[int]) -> int | None:
        """The destination code, as :meth:`Engine.fire` would answer."""
        for index, dest, _ in self._rows.get((source, trigger), ()):
            if index in passed:
                return dest
        return None

    def __len__(self) -> int:
        return len(self._rows)

    def keys(self) -> list[tuple[int, str]]:
        """Every ``(source code, trigger)`` with at least one edge."""
        return list(self._rows)
