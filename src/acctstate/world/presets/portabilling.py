"""PortaBilling-style accounts: prepaid and postpaid telecom accounts.

* ``inactive``: created (often in a batch) but not yet in use;
* ``active``: in service;
* ``blocked``: no services, though the customer keeps self-care access; maintenance
  charges stop, subscription fees still apply (billable, usage not billed);
* ``depleted``: a debit account whose funds fell to the product's availability
  threshold; PortaBilling counts these, the preset makes it a status so that a recharge
  brings the account back;
* ``expired``: past its expiration date (or its availability period after first
  use); an expired account can be activated again with a new expiration date;
* ``terminated``: final; no further operation is possible.

Dates are instants on the account (``activated_at``, ``expires_at``,
``first_used_at``); the calendar day they fall on is the customer's billing time
zone's ([`acctstate.clock.local_date`][acctstate.clock.local_date]). An account is depleted when
its funds are zero or less, or less than the availability threshold (the
``funds_depleted`` guard, [`acctstate.guards.depleted`][acctstate.guards.depleted]); funds exactly
at the threshold are not depleted. The threshold is set once, on the workflow: a batch
[`select`][acctstate.batch.select] over it counts depleted accounts with the same threshold.

>>> wf = workflow(availability_days=30)
>>> wf.catalog["terminated"].terminal, wf.initial[0].name
(True, 'inactive')
>>> from acctstate.account import Account
>>> from acctstate.batch import select
>>> wf = workflow(threshold=Decimal("0.50"))
>>> at_threshold = Account(id="A", status=1, funds=Decimal("0.50"))
>>> wf.may(at_threshold, "deplete"), select(wf, [at_threshold]).counts.depleted
(False, 0)
"""

from __future__ import annotations

from decimal import Decimal

from acctstate.core.workflow import Workflow
from acctstate.values.graph import Transition
from acctstate.values.guards import any_of, days_in_status, funds_depleted, not_, period_ended
from acctstate.values.status import Status

__all__ = ["DEFAULT_THRESHOLD", "statuses", "transitions", "workflow"]

DEFAULT_THRESHOLD = Decimal("0.00")
"""The service availability threshold when the product sets none."""


def statuses() -> list[Status]:
    """The six statuses of the preset."""
    return [
        Status.custom(
            0,
            "inactive",
            backend="pending",
            description="Created, not yet activated (e.g. a batch of prepaid cards).",
        ),
        Status.custom(1, "active", backend="active", description="In service."),
        Status.custom(
            -1,
            "blocked",
            backend="suspended",
            billable=True,
            usage_billable=False,
            description="No services; self-care still works; subscription fees still apply.",
        ),
        Status.custom(
            -5,
            "depleted",
            backend="suspended",
            description="Funds used up (zero, or less than the availability threshold).",
        ),
        Status.custom(
            -4,
            "expired",
            backend="closed",
            description="Past its expiration date; may be activated with a new date.",
        ),
        Status.custom(
            -3,
            "terminated",
            backend="closed",
            terminal=True,
            description="No services, access cannot be restored, no further operations.",
        ),
    ]


def transitions(
    *, availability_days: int | None = None, threshold: Decimal = DEFAULT_THRESHOLD
) -> list[Transition]:
    """The transitions.

    Args:
        availability_days: the "availability period after first usage, days";
            ``None`` when the product sets none.
        threshold: the availability threshold: funds less than this (or zero) are
            depleted.
    """
    T = Transition
    many = Transition.many
    depleted = funds_depleted(threshold=threshold)
    past_expiry = period_ended(attr="expires_at")
    expiry = (
        past_expiry
        if availability_days is None
        else any_of(past_expiry, days_in_status(availability_days, attr="first_used_at"))
    )
    return [
        T(
            "activate",
            "inactive",
            "active",
            description="'activate all accounts with the Inactive status' (immediately)",
        ),
        T(
            "activate_on_date",
            "inactive",
            "active",
            guards=[period_ended(attr="activated_at")],
            description="the activation date has come",
        ),
        T(
            "block",
            "active",
            "blocked",
            description="blocked: no service, subscription fees still apply",
        ),
        T("unblock", "blocked", "active", description="unblocked: in service again"),
        T(
            "deplete",
            "active",
            "depleted",
            guards=[depleted],
            description="depleted: funds zero or less than the availability threshold",
        ),
        T(
            "recharge",
            "depleted",
            "active",
            guards=[not_(depleted)],
            description="funds at or above the threshold again",
        ),
        *many(
            "expire",
            ["active", "blocked", "depleted"],
            "expired",
            guards=[expiry],
            description="past the expiration date or the availability period",
        ),
        T(
            "reactivate",
            "expired",
            "active",
            guards=[not_(past_expiry)],
            description="activate an expired account with a new expiration date",
        ),
        *many(
            "terminate",
            ["inactive", "active", "blocked", "depleted", "expired"],
            "terminated",
            description="terminated, final",
        ),
    ]


def workflow(
    *, availability_days: int | None = None, threshold: Decimal = DEFAULT_THRESHOLD
) -> Workflow:
    """The PortaBilling workflow (a new, validated ``Workflow``).

    Args:
        availability_days: days an account stays usable after first use (``None``:
            only the expiration date ends it).
        threshold: the product's service availability threshold.
    """
    return Workflow(
        statuses=statuses(),
        transitions=transitions(availability_days=availability_days, threshold=threshold),
        initial=["inactive"],
        name="portabilling",
    )
