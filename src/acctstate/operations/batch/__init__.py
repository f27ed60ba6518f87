"""Batch work: select accounts, preview a change, apply it with one outcome each.

1. [`select`][acctstate.batch.select] filters any iterable of accounts by a
   [`Selection`][acctstate.batch.Selection] and counts them: selected, started (used at least once),
   depleted (funds below the product's availability threshold) and per status.
2. [`preview`][acctstate.batch.preview] says, for every selected account, what a change would do
   (the transition, the field updates, the effects and the money) or why it is refused.
   It changes nothing; its [`Preview.confirmation`][acctstate.batch.Preview.confirmation] is the
   text of the confirmation dialog: the filters, the changes and the totals.
3. [`apply`][acctstate.batch.apply] carries the change out and returns a
   [`BatchReport`][acctstate.batch.BatchReport] with one
   [`BatchOutcome`][acctstate.batch.BatchOutcome] per account. One account's refusal or failure
   never stops the others.

The changes ([`FireTrigger`][acctstate.batch.FireTrigger],
[`ChangeStatus`][acctstate.batch.ChangeStatus],
[`SetActivationDate`][acctstate.batch.SetActivationDate],
[`SetExpirationDate`][acctstate.batch.SetExpirationDate],
[`SetAvailabilityPeriod`][acctstate.batch.SetAvailabilityPeriod],
[`SetOpeningBalance`][acctstate.batch.SetOpeningBalance],
[`ChargeAccount`][acctstate.batch.ChargeAccount], [`RefundPayment`][acctstate.batch.RefundPayment])
are validated frozen values. The work is split over private modules (``_select``, ``_changes``,
``_plan``, ``_planner``, ``_preview``, ``_apply``, ``_report``); every public name is re-exported
here, so import from here.

Status changes are decided per status from the workflow's compiled table, so a batch
over many accounts in a few statuses costs little more than the table lookups; edges
with guards or effect rules, and accounts with standing holds (a hold may refuse the
change or shape its effects), fall back to ``Workflow.plan`` per account.
"""

from acctstate.operations.batch._apply import BatchOutcome, OutcomeKind
from acctstate.operations.batch._changes import (
    BatchChange,
    ChangeStatus,
    ChargeAccount,
    FieldUpdate,
    FireTrigger,
    RefundPayment,
    SetActivationDate,
    SetAvailabilityPeriod,
    SetExpirationDate,
    SetOpeningBalance,
    activate_inactive,
)
from acctstate.operations.batch._preview import Action, PlannedChange, Preview, preview
from acctstate.operations.batch._report import BatchReport, Mode, apply
from acctstate.operations.batch._select import (
    DateRange,
    Predicate,
    Selected,
    Selection,
    SelectionCounts,
    select,
)

__all__ = [
    "Action",
    "BatchChange",
    "BatchOutcome",
    "BatchReport",
    "ChangeStatus",
    "ChargeAccount",
    "DateRange",
    "FieldUpdate",
    "FireTrigger",
    "Mode",
    "OutcomeKind",
    "PlannedChange",
    "Predicate",
    "Preview",
    "RefundPayment",
    "Selected",
    "Selection",
    "SelectionCounts",
    "SetActivationDate",
    "SetAvailabilityPeriod",
    "SetExpirationDate",
    "SetOpeningBalance",
    "activate_inactive",
    "apply",
    "preview",
    "select",
]
