"""What a batch does to one account: a `Plan` (see [`acctstate.batch`][acctstate.batch]).

The status part of a batch is decided once per status from the workflow's compiled
table (see ``_planner``); only edges with guards or effect rules are planned per account
through ``Workflow.plan``. Accounts that share a status share one `Plan` object,
which keeps a preview of many accounts small and fast.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from acctstate.operations.batch._changes import FieldUpdate
from acctstate.values.effects import (
    Deprovision,
    Effect,
    Provision,
    StartBilling,
    StartUsageBilling,
    StopBilling,
    StopUsageBilling,
)
from acctstate.values.errors import AcctStateError
from acctstate.values.graph import Edge
from acctstate.values.history import StatusChange
from acctstate.values.status import Status

if TYPE_CHECKING:
    from acctstate.operations.batch._planner import Planner

__all__ = ["ACTION_CHANGE", "ACTION_REFUSED", "ACTION_UNCHANGED", "Plan"]

ACTION_CHANGE = "change"
ACTION_UNCHANGED = "unchanged"
ACTION_REFUSED = "refused"

Why = str | Callable[[str], str] | None


class Plan:
    """What a batch does to one account (shared by accounts with the same verdict)."""

    __slots__ = (
        "action",
        "change",
        "edge",
        "effects",
        "error",
        "kinds",
        "ledger_keys",
        "money_lines",
        "refusal",
        "source",
        "updates",
        "why",
    )

    def __init__(
        self,
        action: str,
        source: Status | None,
        *,
        why: Why = None,
        edge: Edge | None = None,
        kinds: tuple[type[Effect], ...] = (),
        change: StatusChange | None = None,
        updates: tuple[FieldUpdate, ...] = (),
        effects: tuple[Effect, ...] = (),
        money_lines: tuple[tuple[str, str, Decimal], ...] = (),
        ledger_keys: tuple[str, ...] = (),
        error: BaseException | None = None,
        refusal: AcctStateError | None = None,
    ) -> None:
        self.action = action
        self.source = source
        self.why = why
        self.edge = edge
        self.kinds = kinds
        self.change = change
        self.updates = updates
        self.effects = effects
        self.money_lines = money_lines
        self.ledger_keys = ledger_keys
        self.error = error
        # The typed error that refused this one account (MissingFact, GuardRefused, ...).
        self.refusal = refusal

    @property
    def dest(self) -> Status | None:
        """The status it moves to, if it moves."""
        if self.edge is not None:
            return self.edge.dest
        return None if self.change is None else self.change.dest

    @property
    def trigger(self) -> str | None:
        """The trigger it fires, if any."""
        if self.edge is not None:
            return self.edge.trigger
        return None if self.change is None else self.change.trigger

    def why_for(self, account_id: str) -> str | None:
        """The reason (refused / unchanged) worded for this account."""
        why = self.why
        return why(account_id) if callable(why) else why

    def status_change(self, account_id: str, planner: Planner) -> StatusChange | None:
        """The account's ``StatusChange``, exactly as ``Workflow.plan`` would make it."""
        if self.change is not None:
            return self.change
        if self.edge is None:
            return None
        return planner.build_change(account_id, self)

    def effects_for(self, account_id: str, change: StatusChange | None) -> tuple[Effect, ...]:
        """Balance effects first, then the status change's."""
        return self.effects if change is None else self.effects + change.effects

    def effect_kinds(self) -> list[str]:
        """The kind of every effect (without building the keyed effects)."""
        out = [e.kind for e in self.effects]
        if self.change is not None:
            out.extend(e.kind for e in self.change.effects)
        else:
            out.extend(_KIND_NAMES[k] for k in self.kinds)
        return out

    def money(self) -> list[tuple[str, str, Decimal]]:
        """``(kind, currency, amount)`` of every money effect and balance update."""
        effects = self.effects + (self.change.effects if self.change is not None else ())
        out = [
            (e.kind, str(getattr(e, "currency", "")), e.amount)  # type: ignore[attr-defined]
            for e in effects
            if isinstance(getattr(e, "amount", None), Decimal)
        ]
        out.extend(self.money_lines)
        return out

    def signature(self) -> tuple[Any, ...]:
        """What must be equal for two plans of one account to do the same thing."""
        change = self.change
        status: tuple[Any, ...] = ()
        if change is not None:
            status = (change.dest.code, change.trigger, change.effects)
        elif self.edge is not None:
            status = (self.edge.dest.code, self.edge.trigger, self.kinds)
        return (
            self.action,
            None if self.source is None else self.source.code,
            status,
            tuple((u.field, u.new) for u in self.updates),
            self.effects,
            self.ledger_keys,
        )

    def describe(self, account_id: str) -> str:
        """One line: what it does, or why not."""
        if self.action != ACTION_CHANGE:
            return f"{self.action} ({self.why_for(account_id)})"
        parts = []
        if self.dest is not None and self.source is not None:
            parts.append(f"{self.source.name} -> {self.dest.name}")
        parts.extend(str(u) for u in self.updates)
        parts.extend(f"{e.kind}" for e in self.effects)
        return "change (" + "; ".join(parts) + ")"


_KIND_NAMES: dict[type[Effect], str] = {
    k: str(attrs.fields_dict(k)["kind"].default)
    for k in (
        StartBilling,
        StopBilling,
        StartUsageBilling,
        StopUsageBilling,
        Provision,
        Deprovision,
    )
}
