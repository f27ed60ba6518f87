"""What a simulation did, as plain data: [`SimulationResult`][acctstate.simulation.SimulationResult]
and its views (daily series, monthly counts, rows for a CSV, a text summary)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from acctstate.values.account import Account
from acctstate.values.errors import InvalidArgument

__all__ = ["SimulationResult"]


@attrs.frozen(eq=False)
class SimulationResult:
    """What a simulation did, as plain data.

    Attributes:
        workflow: the workflow's name.
        start: the instant the simulation started.
        days: how many days it ran.
        seed: the random seed.
        statuses: every status name, in catalog order.
        daily: ``date -> {status name: count}`` at the end of each simulated day
            (every status listed, zeros included).
        transitions: ``(from, to) -> count`` of every change made.
        triggers: ``trigger -> count`` of every change made.
        money: ``Decimal`` totals: ``invoiced``, ``paid``, ``charged`` (reinstatement
            bills), ``refunded`` and ``outstanding`` (owed at the end).
        cancellations: how often each cancel option was chosen.
        accounts: the accounts as they ended, histories included.
        problems: changes the simulation wanted but the workflow refused (empty when
            the model and the workflow agree).
    """

    workflow: str
    start: dt.datetime
    days: int
    seed: int
    statuses: tuple[str, ...]
    daily: Mapping[dt.date, Mapping[str, int]]
    transitions: Mapping[tuple[str, str], int]
    triggers: Mapping[str, int]
    money: Mapping[str, Decimal]
    cancellations: Mapping[str, int]
    accounts: tuple[Account, ...] = attrs.field(repr=False)
    problems: tuple[str, ...] = ()

    @property
    def end(self) -> dt.date:
        """The last simulated day."""
        return max(self.daily)

    @property
    def changes(self) -> int:
        """How many status changes were made."""
        return sum(self.transitions.values())

    def final(self) -> dict[str, int]:
        """The counts per status at the end (every status, zeros included)."""
        return dict(self.daily[self.end])

    def seen(self) -> tuple[str, ...]:
        """The statuses that held an account on at least one day, in catalog order."""
        return tuple(s for s in self.statuses if any(day[s] for day in self.daily.values()))

    def series(self, status: str) -> list[int]:
        """The daily counts of one status, first day first.

        Raises:
            InvalidArgument: not a status of the workflow.
        """
        if status not in self.statuses:
            raise InvalidArgument("status", status, f"a status of workflow {self.workflow!r}")
        return [self.daily[d][status] for d in sorted(self.daily)]

    def monthly(self) -> dict[str, dict[str, int]]:
        """``"YYYY-MM" -> counts`` on the last simulated day of each month."""
        out: dict[str, dict[str, int]] = {}
        for day in sorted(self.daily):
            out[f"{day:%Y-%m}"] = dict(self.daily[day])
        return out

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per day: ``date`` (ISO) and the count of every status seen (for CSV)."""
        seen = self.seen()
        return [
            {"date": day.isoformat(), **{s: self.daily[day][s] for s in seen}}
            for day in sorted(self.daily)
        ]

    def summary(self) -> str:
        """A text table: accounts per status at the start and the end, and the money."""
        first = self.daily[min(self.daily)]
        last = self.daily[self.end]
        seen = self.seen()
        width = max([len(s) for s in seen] + [len("status")])
        lines = [
            f"{'status':<{width}}  {min(self.daily).isoformat():>10}  {self.end.isoformat():>10}",
            f"{'-' * width}  {'-' * 10}  {'-' * 10}",
        ]
        lines += [f"{s:<{width}}  {first[s]:>10}  {last[s]:>10}" for s in seen]
        lines.append(f"{'total':<{width}}  {sum(first.values()):>10}  {sum(last.values()):>10}")
        lines.append("")
        lines += [f"{k:<{width}}  {v:>22}" for k, v in self.money.items()]
        return "\n".join(lines)
