"""The automation's hold rules, per account: time-bound holds end, and a credit hold
placed as a hold is placed once past due and released once paid.

They are decided before the status rules and carried out first, each as an ordinary
hold change ([`acctstate.holds`][acctstate.holds]) made by the policy's actor: a
placement's effects follow the change in effective capability, and the status changes
planned after them see the holds as they will then stand. The column-wise form
(``_columns_holds``) decides the same, row for row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.automation._policy import AutomationPolicy
from acctstate.operations.automation._rules import _UNSET, _past_due, in_default_zone
from acctstate.operations.holds._place import auto_hold_id, plan_place, plan_release
from acctstate.values.account import account_id_of
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.values.holds import PLACE_HOLD, RELEASE_HOLD, Hold
from acctstate.values.invoices import dunning_facts

__all__ = ["HoldAction", "hold_actions", "hold_mode", "plan_hold_action"]

HoldAction = tuple[str, str, str, str]
"""One planned hold change: ``(rule, trigger, hold id, hold type)``; the trigger is
``"place_hold"`` or ``"release_hold"``."""

EXPIRED = "expired"
"""The reason recorded when the automation releases a hold whose ``until`` has passed."""


def hold_mode(policy: AutomationPolicy) -> str | None:
    """The hold type the policy places as its credit hold, or ``None``."""
    hold = policy.credit_hold
    return None if hold is None else hold.hold


def hold_actions(policy: AutomationPolicy, account: Any, now: dt.datetime) -> list[HoldAction]:
    """The hold changes the automation makes to ``account`` at ``now``, in order.

    First every standing hold whose ``until`` has passed is released (in placement
    order); then, when the policy places its credit hold as a hold of type ``T``: the
    standing ``T`` holds are released once nothing is owed (``auto_remove``) or while a
    temporary release covers ``now`` (something still owed), and when none stands a new
    one is placed once the account is past due as the credit-hold rule says.

    Raises:
        InvalidArgument: the account's ``holds`` are not ``Hold`` values.
    """
    standing = getattr(account, "holds", None) or ()
    if not isinstance(standing, tuple | list) or not all(isinstance(h, Hold) for h in standing):
        raise InvalidArgument(
            "holds", getattr(account, "id", None), "a tuple of acctstate Hold values"
        )
    out: list[HoldAction] = []
    left: list[Hold] = []
    for h in standing:
        if h.expired(now):
            out.append(("hold_expiry", RELEASE_HOLD, h.id, h.type))
        else:
            left.append(h)
    credit = policy.credit_hold
    if credit is None or credit.hold is None:
        return out
    account = in_default_zone(policy.workflow, account)  # days in its billing zone
    mine = [h for h in left if h.type == credit.hold]
    if mine:
        # What is owed, as the status rules read it (invoices, else the balance).
        owed = dunning_facts(account, now, auto_apply=policy.auto_apply)[1]
        if credit.auto_remove and owed <= 0:
            rule = "credit_hold_removal"
        elif owed > 0 and credit.released(account_id_of(account), now):
            rule = "credit_hold_release"
        else:
            return out
        out.extend((rule, RELEASE_HOLD, h.id, h.type) for h in mine)
    elif credit.past_due_days is not None and _past_due(credit, policy.auto_apply)(
        account, 0, _UNSET, now.astimezone(dt.UTC), [-1]
    ):
        out.append(("credit_hold", PLACE_HOLD, auto_hold_id(credit.hold, now), credit.hold))
    return out


def plan_hold_action(
    workflow: Workflow, policy: AutomationPolicy, account: Any, action: HoldAction, now: dt.datetime
) -> tuple[StatusChange, tuple[Hold, ...]]:
    """Plan one hold action against ``account`` as the policy's actor; nothing changes.

    Returns:
        The change to record and the standing holds after it.

    It also raises every error of [`place_hold`][acctstate.holds.place_hold] and
    [`release_hold`][acctstate.holds.release_hold].
    """
    rule, trigger, hold_id, hold_type = action
    note = f"automation: {rule}"
    if trigger == PLACE_HOLD:
        return plan_place(
            workflow,
            account,
            hold_type,
            at=now,
            reason=policy.reason,
            note=note,
            actor=policy.actor,
            hold_id=hold_id,
        )
    reason = EXPIRED if rule == "hold_expiry" else policy.reason
    return plan_release(
        workflow, account, hold_id, at=now, reason=reason, note=note, actor=policy.actor
    )
