"""Running a simulation: [`simulate`][acctstate.simulation.simulate] checks its arguments and the
workflow, opens the starting book and runs it day by day into a
[`SimulationResult`][acctstate.simulation.SimulationResult]."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal

from acctstate.core.workflow import Workflow
from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument
from acctstate.world.presets import isp
from acctstate.world.simulation._book import _DAY, _ONBOARDING, _SUSPENDED_DUNNING, _WEB
from acctstate.world.simulation._events import _Sim
from acctstate.world.simulation._result import SimulationResult
from acctstate.world.simulation._scenario import Scenario

__all__ = ["DEFAULT_START", "simulate"]

DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""Where a simulation starts unless told otherwise (midnight UTC, 1 January 2026)."""

_NEEDED_STATUSES = (
    *_ONBOARDING,
    "service_order_complete",
    "active_trial",
    "active",
    "cancelation_pending",
    "canceled",
    "terminated",
    "suspended",
    "contract_expired",
    "archived",
    "permanent",
    "active_non_billable",
    "reinstated_back_bill",
    "reinstated_forward_bill",
    *_SUSPENDED_DUNNING,
)
_NEEDED_TRIGGERS = (
    *_WEB,
    "request_installation",
    "start_trial",
    "activate",
    "end_trial",
    "cancel",
    "request_cancelation",
    "complete_cancelation",
    "escalate_dunning",
    "settle",
    "reinstate_back",
    "reinstate_forward",
    "complete_reinstatement",
    "terminate",
    "expire_contract",
    "archive",
)


def _check_workflow(wf: Workflow) -> None:
    names = set(wf.catalog.names)
    missing = [s for s in _NEEDED_STATUSES if s not in names]
    missing += [f"trigger {t}" for t in _NEEDED_TRIGGERS if t not in wf.triggers]
    if missing:
        raise InvalidArgument(
            "workflow",
            wf.name,
            "the reference ISP workflow or one extending it (it lacks "
            + ", ".join(missing[:6])
            + (", ..." if len(missing) > 6 else "")
            + ")",
        )


def simulate(
    workflow: Workflow | None = None,
    *,
    accounts: int = 1000,
    days: int = 180,
    seed: int = 0,
    start: dt.datetime = DEFAULT_START,
    scenario: Scenario | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> SimulationResult:
    """Run a simulated book of accounts for ``days`` days; deterministic for a ``seed``.

    Args:
        workflow: the reference ISP workflow (default) or a workflow extending it.
        accounts: the size of the book on the first day (sign-ups add to it).
        days: how many days to run.
        seed: the seed of the ``random.Random`` every decision is drawn from.
        start: the first day's midnight (timezone-aware).
        scenario: how customers behave (default: [`Scenario`][acctstate.simulation.Scenario] ()).
        progress: called as ``progress(days_done, days)`` after each day.

    Returns:
        A [`SimulationResult`][acctstate.simulation.SimulationResult].

    Raises:
        InvalidArgument: a negative book, fewer than one day, a naive ``start``, or a
            workflow without the statuses and triggers the simulation drives.
    """
    wf = isp.workflow() if workflow is None else workflow
    if not isinstance(wf, Workflow):
        raise InvalidArgument("workflow", wf, "a Workflow")
    _check_workflow(wf)
    if isinstance(accounts, bool) or not isinstance(accounts, int) or accounts < 0:
        raise InvalidArgument("accounts", accounts, "a non-negative int")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidArgument("days", days, "a whole number of days, at least 1")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgument("seed", seed, "an int")
    require_aware(start, "start")
    scenario = Scenario() if scenario is None else scenario
    if not isinstance(scenario, Scenario):
        raise InvalidArgument("scenario", scenario, "a Scenario")
    sim = _Sim(wf, scenario, random.Random(seed), start, days)
    sim.base = accounts
    sim.populate(accounts)
    daily: dict[dt.date, dict[str, int]] = {}
    for d in range(days):
        daily[(start + d * _DAY).date()] = sim.run_day(d)
        if progress is not None:
            progress(d + 1, days)
    money = dict(sim.money)
    money["outstanding"] = sum((a.balance for a in sim.accounts if a.balance > 0), Decimal("0.00"))
    return SimulationResult(
        workflow=wf.name,
        start=start,
        days=days,
        seed=seed,
        statuses=tuple(s.name for s in wf.catalog),
        daily=daily,
        transitions=dict(sorted(sim.transitions.items())),
        triggers=dict(sorted(sim.triggers.items())),
        money=money,
        cancellations=dict(sorted(sim.cancellations.items())),
        accounts=tuple(sim.accounts),
        problems=tuple(sim.problems),
    )
