"""Automation: policies per account class, dunning ladders, credit hold, archiving, and
the sweep that plans and applies them — per account, or column-wise for a whole book.

A policy evaluates rules; the result is carried out as ordinary transitions of the
workflow (``Workflow.fire`` with a system actor), so guards, effects, history and the
graph's invariants apply exactly as for a manual change.

>>> from acctstate.presets import isp
>>> policy = AutomationPolicy(isp.workflow(), ladder=reference_ladder(), archive="archive")
>>> policy.enabled, len(policy.ladder.steps), policy.archive_after_days
(True, 7, 180)
"""

from acctstate.operations.automation._book import columns_from_accounts
from acctstate.operations.automation._columns import ColumnarSweep, sweep_columns
from acctstate.operations.automation._columns_holds import HoldDecisions, hold_columns
from acctstate.operations.automation._hold import CreditHold, HoldRelease
from acctstate.operations.automation._ladder import (
    DunningLadder,
    LadderCancellation,
    LadderStep,
    ladder_conditions,
    reference_ladder,
    register_ladder_condition,
)
from acctstate.operations.automation._policy import RULES, AutomationPolicy, PolicyError
from acctstate.operations.automation._sweep import (
    AccountPlan,
    Applied,
    ApplyOutcome,
    Blocked,
    PlannedChange,
    PlanOutdated,
    SweepError,
    SweepPlan,
    apply,
    sweep,
)

__all__ = [
    "RULES",
    "AccountPlan",
    "Applied",
    "ApplyOutcome",
    "AutomationPolicy",
    "Blocked",
    "ColumnarSweep",
    "CreditHold",
    "DunningLadder",
    "HoldDecisions",
    "HoldRelease",
    "LadderCancellation",
    "LadderStep",
    "PlanOutdated",
    "PlannedChange",
    "PolicyError",
    "SweepError",
    "SweepPlan",
    "apply",
    "columns_from_accounts",
    "hold_columns",
    "ladder_conditions",
    "reference_ladder",
    "register_ladder_condition",
    "sweep",
    "sweep_columns",
]
