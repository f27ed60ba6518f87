"""Field-service billing with account classes.

Statuses Inactive, Prospect, Active, Bad Debt, Credit Hold, Internal and External
Collections. A person changes a status only with the "Edit Account Status"
permission (``edit_account_status``); the account class's automation (a system
actor) has its own triggers, guarded by the class's settings:

* ``auto_credit_hold``: one invoice past due for at least ``past_due_days`` and at
  least ``min_past_due`` owed (owing exactly the minimum is enough);
* ``auto_inactivate``: on credit hold for ``inactive_after_days``;
* ``auto_remove_credit_hold``: the past-due balance has been paid;
* ``auto_lift_credit_hold`` / ``auto_end_temporary_lift``: a temporary removal's window
  starts / is over with the balance still owed.

Automatic triggers are refused to a person (an [`Actor`][acctstate.actors.Actor] that is not
a system actor), whatever their permissions: only the account class's automation, or
the host's own code passing no actor, fires them.

Whether automation runs at all, and when (the daily run time, daily auto-apply of
payments), is the account class's policy: [`policy`][acctstate.presets.account_class.policy]
builds a ready [`AutomationPolicy`][acctstate.automation.AutomationPolicy] whose triggers are
this preset's, with the thresholds given once.

Temporary credit hold removal lifts a hold between two dates: each window is a
[`HoldRelease`][acctstate.automation.HoldRelease] (the account, its start and its end) given to
the policy. On the first run inside the window the account moves to ``credit_hold_lifted``
(serviced again); on the first run after the window it returns to ``credit_hold``,
unless it was paid meanwhile, in which case the hold is removed. A host that stores the
end on its own objects may also fire ``end_temporary_lift``, which reads ``lift_ends_at``.

Bad debt is terminal: the debt is written off, and a returning customer gets a new
account. The product's condition for collections ("no active services for any site")
is host data the preset cannot see; add it as a guard of your own.

>>> wf = workflow()
>>> wf.catalog["bad_debt"].terminal, sorted({e.permission for e in wf.transitions} - {None})
(True, ['edit_account_status'])
>>> p = policy(past_due_days=30, min_past_due=Decimal("10.00"), inactive_after_days=60)
>>> p.credit_hold.min_past_due, p.credit_hold.place, p.workflow.name
(Decimal('10.00'), 'auto_credit_hold', 'account_class')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from acctstate.core.workflow import Workflow
from acctstate.operations.automation._hold import CreditHold, HoldRelease
from acctstate.operations.automation._policy import AutomationPolicy
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.graph import Transition
from acctstate.values.guards import (
    balance_past_due,
    balance_settled,
    by_system,
    days_in_status,
    not_,
    period_ended,
)
from acctstate.values.status import Status

__all__ = ["EDIT_STATUS", "policy", "statuses", "transitions", "workflow"]

EDIT_STATUS = "edit_account_status"
"""The permission "Edit Account Status", needed for every manual change."""


def statuses() -> list[Status]:
    """The seven statuses of field-service billing, plus ``credit_hold_lifted``."""
    return [
        Status.custom(
            30,
            "prospect",
            backend="prospect",
            description="A prospective customer not yet converted.",
        ),
        Status.custom(1, "active", backend="active", description="In use, receiving services."),
        Status.custom(
            0,
            "inactive",
            backend="closed",
            description="Not in use and not receiving services; calendar days grey.",
        ),
        Status.custom(
            -1,
            "credit_hold",
            backend="suspended",
            description="Services temporarily suspended for a past-due balance.",
        ),
        Status.custom(
            2,
            "credit_hold_lifted",
            backend="active",
            label="Credit hold lifted (temporary)",
            description="A credit hold temporarily removed between two dates.",
        ),
        Status.custom(
            -11,
            "internal_collections",
            backend="suspended",
            description="Collected by an internal collection group.",
        ),
        Status.custom(
            -12,
            "external_collections",
            backend="suspended",
            description="Handed to an external collection agency.",
        ),
        Status.custom(
            -99,
            "bad_debt",
            backend="closed",
            terminal=True,
            description="Outstanding balance unlikely to be collected; written off.",
        ),
    ]


def transitions(
    *,
    past_due_days: int = 30,
    min_past_due: Decimal = Decimal("0.00"),
    inactive_after_days: int = 60,
    invoices: bool = False,
) -> list[Transition]:
    """The transitions: manual ones need ``edit_account_status``; ``auto_*`` ones are
    for the account class's automation.

    Args:
        past_due_days: "Auto Credit Hold Past Due Days".
        min_past_due: "Auto Credit Hold Minimum Past Due Amount" (at least this is owed).
        inactive_after_days: "Auto Inactive Account/Site Days" on credit hold.
        invoices: the accounts carry invoices (or the past-due scalars): placing,
            removing and returning a credit hold is decided by the policy's credit-hold
            rule from the past-due facts (see ``acctstate.invoices``), so those
            automatic triggers are guarded by ``by_system`` only, not by ``balance``
            and ``oldest_unpaid_at``.
    """
    T = Transition
    many = Transition.many
    auto = by_system()
    paid = [auto] if invoices else [auto, balance_settled()]
    owed = [auto] if invoices else [auto, not_(balance_settled())]
    placed = (
        [auto]
        if invoices
        else [
            auto,
            days_in_status(past_due_days, attr="oldest_unpaid_at"),
            balance_past_due(at_least=min_past_due),
        ]
    )

    def manual(trigger: str, sources: list[str], dest: str, why: str) -> list[Transition]:
        return many(trigger, sources, dest, permission=EDIT_STATUS, description=why)

    return [
        *manual("activate", ["prospect", "inactive"], "active", "set the status to Active"),
        *manual("inactivate", ["prospect", "active"], "inactive", "set the status to Inactive"),
        *manual("place_credit_hold", ["active"], "credit_hold", "place a credit hold"),
        *manual("remove_credit_hold", ["credit_hold"], "active", "remove a credit hold"),
        *manual(
            "lift_credit_hold_temporarily",
            ["credit_hold"],
            "credit_hold_lifted",
            "temporary credit hold removal between a start and an end date",
        ),
        *manual(
            "send_to_internal_collections",
            ["credit_hold", "inactive"],
            "internal_collections",
            "Internal Collections",
        ),
        *manual(
            "send_to_external_collections",
            ["credit_hold", "inactive", "internal_collections"],
            "external_collections",
            "External Collections",
        ),
        *manual(
            "recover",
            ["internal_collections", "external_collections"],
            "active",
            "the collected account is serviced again",
        ),
        *manual(
            "write_off",
            ["credit_hold", "inactive", "internal_collections", "external_collections"],
            "bad_debt",
            "Bad Debt",
        ),
        T(
            "auto_credit_hold",
            "active",
            "credit_hold",
            guards=placed,
            description="auto credit hold placement (past-due days and minimum amount)",
        ),
        T(
            "auto_inactivate",
            "credit_hold",
            "inactive",
            guards=[auto, days_in_status(inactive_after_days)],
            description="auto inactive after N days on credit hold",
        ),
        *many(
            "auto_remove_credit_hold",
            ["credit_hold", "credit_hold_lifted"],
            "active",
            guards=paid,
            description="auto credit hold removal once the past-due balance is paid",
        ),
        T(
            "auto_lift_credit_hold",
            "credit_hold",
            "credit_hold_lifted",
            guards=[auto],
            description="temporary credit hold removal: the window has started",
        ),
        T(
            "auto_end_temporary_lift",
            "credit_hold_lifted",
            "credit_hold",
            guards=owed,
            description="the temporary removal's window is over and the balance is still owed",
        ),
        T(
            "end_temporary_lift",
            "credit_hold_lifted",
            "credit_hold",
            guards=[auto, period_ended(attr="lift_ends_at")],
            description="the temporary removal's end date (lift_ends_at) has passed",
        ),
    ]


def workflow(
    *,
    past_due_days: int = 30,
    min_past_due: Decimal = Decimal("0.00"),
    inactive_after_days: int = 60,
    invoices: bool = False,
) -> Workflow:
    """The account-class workflow (a new, validated ``Workflow``).

    Args:
        past_due_days: days one invoice must be past due before auto credit hold.
        min_past_due: auto credit hold needs at least this owed.
        inactive_after_days: days on credit hold before auto inactive.
        invoices: the accounts carry invoices (see
            [`transitions`][acctstate.presets.account_class.transitions]).
    """
    return Workflow(
        statuses=statuses(),
        transitions=transitions(
            past_due_days=past_due_days,
            min_past_due=min_past_due,
            inactive_after_days=inactive_after_days,
            invoices=invoices,
        ),
        initial=["prospect"],
        name="account_class",
    )


def policy(
    *,
    past_due_days: int | None = 30,
    min_past_due: Decimal = Decimal("0.00"),
    inactive_after_days: int | None = 60,
    auto_remove: bool = True,
    releases: Iterable[HoldRelease] = (),
    account_class: str | None = None,
    enabled: bool = True,
    run_at: dt.time = dt.time(2, 0),
    timezone: str = "UTC",
    actor: Actor = SYSTEM,
    reason: str | None = None,
    auto_apply: bool = False,
    invoices: bool | None = None,
) -> AutomationPolicy:
    """The account class's automation, ready to sweep: its thresholds given once, for
    both the workflow's guards and the policy's rules, and its triggers this preset's.

    Args:
        past_due_days: "Auto Credit Hold Past Due Days" (``None``: placement off).
        min_past_due: "Auto Credit Hold Minimum Past Due Amount" (at least this owed).
        inactive_after_days: "Auto Inactive Account/Site Days" (``None``: never).
        auto_remove: "Auto Credit Hold Removal" once the past-due balance is paid.
        releases: temporary credit hold removals, each with its start and end.
        account_class: the class the policy is for (``None``: every account).
        enabled: "Enable Automatic Status Update".
        run_at: the daily run time ...
        timezone: ... in this time zone.
        actor: the system actor automated changes are recorded as.
        reason: the reason code passed with every automated change.
        auto_apply: "Run Daily Auto Apply": unapplied payments and credits go to the
            oldest open invoice balances first, before the rules are evaluated.
        invoices: the accounts carry invoices (default: when ``auto_apply`` is on);
            the workflow's automatic credit-hold triggers then leave the past-due
            conditions to the policy's rule.

    Returns:
        A policy whose ``workflow`` is [`workflow`][acctstate.presets.account_class.workflow]
        built with the same thresholds:
        fire and sweep through ``policy(...).workflow``.

    Raises:
        InvalidArgument: a setting of the wrong type or out of range.
    """
    wf = workflow(
        past_due_days=30 if past_due_days is None else past_due_days,
        min_past_due=min_past_due,
        inactive_after_days=60 if inactive_after_days is None else inactive_after_days,
        invoices=auto_apply if invoices is None else invoices,
    )
    hold = CreditHold(
        past_due_days=past_due_days,
        min_past_due=min_past_due,
        inactive_after_days=inactive_after_days,
        auto_remove=auto_remove,
        releases=releases,
        status="credit_hold",
        place="auto_credit_hold",
        remove="auto_remove_credit_hold",
        deactivate="auto_inactivate",
        release="auto_lift_credit_hold",
        restore="auto_end_temporary_lift",
    )
    return AutomationPolicy(
        wf,
        account_class=account_class,
        enabled=enabled,
        credit_hold=hold,
        auto_apply=auto_apply,
        run_at=run_at,
        timezone=timezone,
        actor=actor,
        reason=reason,
    )
