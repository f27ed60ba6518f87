"""The automation's steps of one stored account when holds are involved (both stores).

The hold changes come first (time-bound holds ended, a credit hold placed or released as
a hold), each planned by [`acctstate.holds`][acctstate.holds] against the account as it
will be by then; then the status steps, planned by the workflow with the holds standing
after them. The same steps, in the same order, as the per-account sweep carried out by
``apply`` on an object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.automation._holds import (
    HoldAction,
    hold_actions,
    hold_mode,
    plan_hold_action,
)
from acctstate.operations.automation._rules import Compiled, plan_one
from acctstate.values.history import History, StatusChange
from acctstate.values.holds import Hold
from acctstate.world.store._automation import Hop, Policies, Tally, plan_hops
from acctstate.world.store._codec import normalised
from acctstate.world.store._facts import AccountView
from acctstate.world.store._holds import utc_hold
from acctstate.world.store._types import StoredAccount

__all__ = ["Step", "decide", "hold_hops", "plan_steps"]

Step = tuple[StatusChange, tuple[Hold, ...] | None]
"""One planned step and, for a hold change, the standing holds after it."""


def decide(
    policies: Policies,
    view: AccountView,
    holds: Sequence[Hold],
    now: dt.datetime,
    tally: Tally,
) -> tuple[Compiled, list[HoldAction], list[Hop]] | None:
    """What the automation does to one stored account (every store's nightly run
    asks this): its policy, its hold actions and its status hops, or ``None`` when
    nothing changes. A rule refused by guards is counted in ``tally``."""
    c = policies.pick(view)
    if c is None:
        return None
    planned = plan_one(c, view, now)
    mode = hold_mode(c.policy)
    actions = hold_actions(c.policy, view, now) if holds or mode is not None else []
    hops, blocked = planned if planned is not None else ([], [])
    if blocked:
        tally.blocked += 1
    if not hops and not actions:
        return None
    return c, actions, hops


def hold_hops(stored: StoredAccount, actions: Sequence[HoldAction]) -> list[Hop]:
    """The hold actions as report entries ``(rule, trigger, status, status)``."""
    return [(rule, trigger, stored.status, stored.status) for rule, trigger, _, _ in actions]


def plan_steps(
    workflow: Workflow,
    c: Compiled,
    stored: StoredAccount,
    facts: Mapping[str, Any] | None,
    history: History | None,
    holds: Sequence[Hold],
    actions: Sequence[HoldAction],
    hops: Sequence[Hop],
    now: dt.datetime,
) -> list[Step]:
    """Every step of the account: its hold changes, then its status steps.

    It also raises every error of [`place_hold`][acctstate.holds.place_hold],
    [`release_hold`][acctstate.holds.release_hold] and
    [`acctstate.workflow.Workflow.plan`][acctstate.workflow.Workflow.plan].
    """
    steps: list[Step] = []
    standing = tuple(holds)
    for action in actions:
        view = AccountView(stored, facts, history, {}, standing)
        change, after = plan_hold_action(workflow, c.policy, view, action, now)
        change = normalised(change)
        standing = tuple(utc_hold(h) for h in after)
        steps.append((change, standing))
        stored = StoredAccount(stored.id, stored.status, stored.status_since, stored.version + 1)
        if history is not None:
            history = History([*history, change])
    if hops:
        changes = plan_hops(workflow, c, stored, facts, history, hops, now, standing)
        steps.extend((change, None) for change in changes)
    return steps
