"""EngageIP-style statuses: four back-end statuses and operator-defined status types.

Every account status type maps onto one of the back-end statuses Active, Cancelled,
Suspended and Prospect, and behaves like it:

* ``prospect``: nothing is provisioned or billed; once left it is never re-entered;
* ``active``: provisioned and billed;
* ``suspended``: still provisioned (the switch keeps the configuration) but recurring
  charges stop; usage is still billed (as EngageIP 9.3.6 and earlier do);
* ``cancelled``: neither provisioned nor billed, and it can be enabled again.

The default workflow adds two status types of the kind operators create
(``suspended_past_due``, ``cancelled_non_payment``), a ``cancelation_pending`` status for
"cancel at period end", and a terminal ``deleted`` status: EngageIP has no final
status, but every workflow needs an end, so a cancelled account may be deleted.

Status changes take effect now or at a chosen instant (``at=``); future-dated changes
are kept and applied by [`acctstate.schedule`][acctstate.schedule]. Cancelling carries a
[`RefundRule`][acctstate.refunds.RefundRule], so the cancel options are event data:
``refund="prorated" | "full" | "none" | "as_of"`` (with ``refund_as_of=``).

>>> wf = workflow()
>>> [s.name for s in wf.catalog.by_backend("suspended")]
['suspended', 'suspended_past_due']
"""

from __future__ import annotations

from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.money.refunds import RefundRule
from acctstate.values.graph import Transition
from acctstate.values.guards import period_ended
from acctstate.values.status import Backend, Status

__all__ = ["CANCEL_REASONS", "statuses", "status_type", "transitions", "workflow"]

CANCEL_REASONS = frozenset({"customer_request", "moved", "non_payment", "other"})
"""A reason must be chosen from a defined list before cancelling."""


def status_type(
    code: int, name: str, backend: Backend | str, *, image_url: str | None = None, **fields: Any
) -> Status:
    """An EngageIP account status type: a name on one of the four back-end statuses.

    It behaves exactly as the back-end status of the same class in this preset (a
    suspended type stays provisioned and bills usage, ...), unless ``fields`` say
    otherwise.

    Args:
        code: its numeric code.
        name: its snake_case name.
        backend: ``"prospect"``, ``"active"``, ``"suspended"`` or ``"closed"`` (Cancelled).
        image_url: the image posted on accounts in this status.
        **fields: other [`Status`][acctstate.status.Status] fields (``label``,
            ``show_in_statistics`` ...).

    Raises:
        InvalidArgument: a back-end class EngageIP does not have (``pending``).

    >>> status_type(7, "suspended_fraud", "suspended").provisioned
    True
    """
    base = {s.backend: s for s in _base_statuses()}
    bk = Backend(backend) if not isinstance(backend, Backend) else backend
    if bk not in base:
        from acctstate.values.errors import InvalidArgument

        raise InvalidArgument("backend", bk.value, "prospect, active, suspended or closed")
    return Status.custom(code, name, like=base[bk], icon=image_url, **fields)


def _base_statuses() -> list[Status]:
    return [
        Status.custom(
            30,
            "prospect",
            backend="prospect",
            description="Not yet ready to bill or provision; never re-entered once left.",
        ),
        Status.custom(
            1, "active", backend="active", description="Provisioned and billed (the default)."
        ),
        Status.custom(
            5,
            "suspended",
            backend="suspended",
            provisioned=True,
            billable=False,
            usage_billable=True,
            description="Still provisioned, recurring charges stop; usage is still billed.",
        ),
        Status.custom(
            -2,
            "cancelled",
            backend="closed",
            description="Neither provisioned nor billed until enabled again.",
        ),
    ]


def statuses() -> list[Status]:
    """The back-end statuses, two example status types, ``cancelation_pending`` and ``deleted``."""
    return [
        *_base_statuses(),
        status_type(
            6,
            "suspended_past_due",
            "suspended",
            description="Past due: service suspended until the balance is updated (VoIP).",
        ),
        status_type(
            -5,
            "cancelled_non_payment",
            "closed",
            label="Cancelled (non-payment)",
            description="Cancelled because the account was not paid.",
        ),
        Status.custom(
            2,
            "cancelation_pending",
            backend="active",
            billable=False,
            usage_billable=True,
            description="Cancel at period end: in service until the paid period elapses.",
        ),
        Status.custom(
            -99,
            "deleted",
            backend="closed",
            terminal=True,
            description="Removed for good (EngageIP has no final status; every workflow needs an end).",
        ),
    ]


def transitions() -> list[Transition]:
    """The transitions, each with the EngageIP rule it implements."""
    T = Transition
    many = Transition.many
    refund_now = RefundRule()
    cancel_options = {
        "reasons": CANCEL_REASONS,
        "effects": [refund_now],
    }
    in_service = ["active", "suspended", "suspended_past_due", "cancelation_pending"]
    cancelled = ["cancelled", "cancelled_non_payment"]
    out: list[Transition] = [
        T("activate", "prospect", "active", description="the prospect becomes a customer"),
        T(
            "cancel",
            "prospect",
            "cancelled",
            reasons=CANCEL_REASONS,
            description="a prospect that never converts",
        ),
        *many(
            "cancel",
            in_service,
            "cancelled",
            description="cancel immediately (prorated, full or no refund, or as of a date)",
            **cancel_options,
        ),
        T(
            "cancel_non_payment",
            "suspended_past_due",
            "cancelled_non_payment",
            effects=[refund_now],
            description="a past-due account is cancelled",
        ),
        T(
            "request_cancelation",
            "active",
            "cancelation_pending",
            reasons=CANCEL_REASONS,
            description="'Period End': cancelled once the service period has elapsed",
        ),
        T(
            "complete_cancelation",
            "cancelation_pending",
            "cancelled",
            guards=[period_ended()],
            description="'Period End': the service period has elapsed",
        ),
        T("suspend", "active", "suspended", description="suspend the account"),
        T(
            "suspend_past_due",
            "active",
            "suspended_past_due",
            description="suspend a past-due VoIP account, keeping its switch configuration",
        ),
        *many(
            "enable",
            ["suspended", "suspended_past_due", *cancelled, "cancelation_pending"],
            "active",
            description="enable the account again (cancelled accounts included)",
        ),
        *many("delete", cancelled, "deleted", description="remove a cancelled account for good"),
    ]
    return out


def workflow() -> Workflow:
    """The EngageIP workflow (a new, validated ``Workflow``).

    Operators add their own status types with
    [`status_type`][acctstate.presets.engageip.status_type] and ``Workflow.extend`` (see
    ``docs/custom-statuses.md``).

    >>> workflow().initial[0].name
    'prospect'
    """
    return Workflow(
        statuses=statuses(), transitions=transitions(), initial=["prospect"], name="engageip"
    )
