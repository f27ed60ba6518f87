"""The reference ISP workflow: every code of the status-code table, plus ``prospect`` = 30.

The table's convention: a negative code means the account is de-provisioned. Accounts
are archived once they have been closed (canceled, terminated, suspended, contract
expired) for 180 days.

Three groups of codes have defective descriptions in the seed (they repeat those of
other codes); their meaning is derived from their names instead:

* ``99 permanent``: the seed repeats the text of -99. The code is positive, so the
  account is provisioned; "permanent" is read as a permanent (house, staff, partner)
  account: fully provisioned and billed, exempt from dunning and from the archive rule.
* ``10031..10034`` service orders: the steps of the installation service order
  (received, accepted, in progress, complete). Nothing is provisioned or billed until
  the order completes; completion provisions the line, billing starts on activation.
* ``21001..21004`` moves: the steps of moving an active customer to a new address
  (move file opened, quote entered, booked and billed, booked and collected). Service
  continues at the old address throughout, so they are provisioned and billed.

>>> wf = workflow()
>>> len(wf.catalog), wf.catalog[30].name, wf.catalog[-99].terminal
(33, 'prospect', True)
"""

from __future__ import annotations

import itertools

from acctstate.core.workflow import Workflow
from acctstate.operations.money.refunds import BackBill, ForwardBill, RefundRule
from acctstate.values.graph import Transition
from acctstate.values.guards import (
    days_in_status,
    has_payment_method,
    not_,
    nothing_past_due,
    period_ended,
)
from acctstate.world.presets._isp_statuses import statuses

__all__ = ["ARCHIVE_AFTER_DAYS", "statuses", "transitions", "workflow"]

ARCHIVE_AFTER_DAYS = 180
"""A closed account is archived after this many days."""

_IN_SERVICE = ["active", "active_non_billable", "permanent"]
_DUNNING_ACTIVE = [
    "active_dunning_pending",
    "active_dunning_1",
    "active_dunning_2",
    "active_dunning_3",
]
_DUNNING_SUSPENDED = ["suspended_dunning_1", "suspended_dunning_2", "suspended_dunning_3"]
_ONBOARDING = [
    "prospect",
    "registered_pending_activation",
    "installation_pending",
    "service_order_received",
    "service_order_accepted",
    "service_order_in_progress",
    "service_order_complete",
]
_CLOSED = ["canceled", "terminated", "suspended", "contract_expired"]
_MOVES = ["move_opened", "move_quote_entered", "move_booked_billed", "move_booked_collected"]


def transitions() -> list[Transition]:
    """The transitions of the reference workflow, each with the reason it exists."""
    T = Transition
    many = Transition.many
    # Paid means nothing past due (the dunning ladder's own reading): an invoice not yet
    # due does not keep an account in dunning, nor out of a completed reinstatement.
    paid = nothing_past_due()
    card = has_payment_method()
    ladder = ["active", *_DUNNING_ACTIVE, *_DUNNING_SUSPENDED]
    # Money (acctstate.refunds): a cancellation refunds what the event asks for (the EngageIP-style cancellation
    # options; nothing unless asked), reinstatements bill forward or back (status codes 21 and 22).
    refund_now = RefundRule()
    refund_at_period_end = RefundRule(service_stops="period_end")
    forward_bill = ForwardBill()
    back_bill = BackBill()
    return [
        # -- sign-up and activation
        T(
            "register",
            "prospect",
            "registered_pending_activation",
            description="status code 32: the prospect registered via the web",
        ),
        T(
            "request_installation",
            "prospect",
            "installation_pending",
            description="status code 31: an acquired account requests active status",
        ),
        T(
            "confirm_registration",
            "registered_pending_activation",
            "installation_pending",
            description="status codes 32 -> 31: the activation e-mail was answered",
        ),
        T(
            "receive_service_order",
            "installation_pending",
            "service_order_received",
            description="status code 10031: the installation service order is received",
        ),
        T(
            "accept_service_order",
            "service_order_received",
            "service_order_accepted",
            description="status code 10032",
        ),
        T(
            "start_service_order",
            "service_order_accepted",
            "service_order_in_progress",
            description="status code 10033",
        ),
        T(
            "complete_service_order",
            "service_order_in_progress",
            "service_order_complete",
            description="status code 10034: installation done, line provisioned",
        ),
        T(
            "start_trial",
            "service_order_complete",
            "active_trial",
            description="status code 41: provisioned for service, not yet billable",
        ),
        T(
            "activate",
            "service_order_complete",
            "active",
            description="status code 1: fully provisioned and billed",
        ),
        T(
            "end_trial",
            "active_trial",
            "active",
            guards=[card],
            description="end of trial with a payment method on file: billing starts",
        ),
        T(
            "end_trial",
            "active_trial",
            "canceled",
            guards=[not_(card)],
            description="end of trial without a payment method: the account is canceled",
        ),
        *many(
            "cancel",
            _ONBOARDING,
            "canceled",
            effects=[refund_now],
            description="a prospect or onboarding account that does not convert",
        ),
        # -- dunning: one step at a time down the ladder (10 -> 11 -> 12 -> 13 -> -11 ...)
        *[
            T(
                "escalate_dunning",
                a,
                b,
                description="status codes 10..13, -11..-13: past due, one dunning step further",
            )
            for a, b in itertools.pairwise(ladder)
        ],
        *[
            T(
                "deescalate_dunning",
                b,
                a,
                description="a partial payment brings the account back under a step's "
                "threshold: one dunning step back (out of suspension, service is restored)",
            )
            for a, b in itertools.pairwise(ladder[1:])
        ],
        *many(
            "settle",
            _DUNNING_ACTIVE,
            "active",
            guards=[paid],
            description="004: payment returns an active-dunning account to active",
        ),
        *many(
            "reinstate_back",
            ["suspended", *_DUNNING_SUSPENDED],
            "reinstated_back_bill",
            guards=[card],
            effects=[back_bill],
            description="status code 22: a suspended account gave new payment info",
        ),
        T(
            "complete_reinstatement",
            "reinstated_back_bill",
            "active",
            guards=[paid],
            description="status code 22: back-billed and paid, restored to active",
        ),
        T(
            "reinstate_forward",
            "canceled",
            "reinstated_forward_bill",
            guards=[card],
            effects=[forward_bill],
            description="status code 21: a canceled account comes back, billed forward",
        ),
        T(
            "reinstate_forward",
            "contract_expired",
            "reinstated_forward_bill",
            guards=[card],
            effects=[forward_bill],
            description="renewal after contract expiry, billed forward like 21",
        ),
        T(
            "complete_reinstatement",
            "reinstated_forward_bill",
            "active",
            guards=[paid],
            description="status code 21: the forward bill is paid, then made active",
        ),
        T(
            "terminate",
            "suspended_dunning_3",
            "terminated",
            description="status code -3: dunning exhausted, terminated by the system",
        ),
        # -- suspension, temporary ban, inactivity
        *many(
            "suspend",
            ["active", *_DUNNING_ACTIVE],
            "suspended",
            description="status code -1: de-provisioned for non-payment",
        ),
        T(
            "ban",
            "active",
            "temporary_ban",
            description="status code 51: services disabled, still billable",
        ),
        T("lift_ban", "temporary_ban", "active", description="status codes 51 -> 1"),
        T("deactivate", "active", "inactive", description="status code 0"),
        T("reactivate", "inactive", "active", description="status codes 0 -> 1"),
        # -- cancellation and termination, now or at period end
        *many(
            "cancel",
            [*_IN_SERVICE, *_DUNNING_ACTIVE, "inactive", "temporary_ban"],
            "canceled",
            effects=[refund_now],
            description="status code -2: canceled now at the end user's request",
        ),
        T(
            "request_cancelation",
            "active",
            "cancelation_pending",
            effects=[refund_at_period_end],
            description="status code 2: canceled, provisioned until the pre-paid cycle ends",
        ),
        T(
            "complete_cancelation",
            "cancelation_pending",
            "canceled",
            guards=[period_ended()],
            description="status codes 2 -> -2: the pre-paid cycle has ended",
        ),
        T(
            "withdraw_cancelation",
            "cancelation_pending",
            "active",
            description="the customer changed their mind before period end",
        ),
        *many(
            "terminate",
            [*_IN_SERVICE, *_DUNNING_ACTIVE, "suspended", "inactive", "temporary_ban"],
            "terminated",
            description="status code -3: terminated now by the system or an administrator",
        ),
        T(
            "request_termination",
            "active",
            "termination_pending",
            description="status code 3: terminated, provisioned through the pre-paid cycle",
        ),
        T(
            "complete_termination",
            "termination_pending",
            "terminated",
            guards=[period_ended()],
            description="status codes 3 -> -3: the pre-paid cycle has ended",
        ),
        T(
            "withdraw_termination",
            "termination_pending",
            "active",
            description="the termination was withdrawn before period end",
        ),
        T(
            "expire_contract",
            "active",
            "contract_expired",
            description="status code -4: the fixed contract period expired",
        ),
        # -- moves (21001..21004)
        T("open_move", "active", "move_opened", description="21001: move file opened"),
        T("quote_move", "move_opened", "move_quote_entered", description="21002"),
        T("book_move", "move_quote_entered", "move_booked_billed", description="21003"),
        T("collect_move", "move_booked_billed", "move_booked_collected", description="21004"),
        T(
            "complete_move",
            "move_booked_collected",
            "active",
            description="the move is done; service at the new address",
        ),
        *many(
            "abandon_move",
            ["move_opened", "move_quote_entered"],
            "active",
            description="the customer does not move after all",
        ),
        # -- special accounts
        T("make_non_billable", "active", "active_non_billable", description="status code 61"),
        T("make_billable", "active_non_billable", "active", description="status codes 61 -> 1"),
        T("make_permanent", "active", "permanent", description="status code 99, see module doc"),
        T("revoke_permanent", "permanent", "active", description="status codes 99 -> 1"),
        # -- archiving: closed for 180 days
        *many(
            "archive",
            _CLOSED,
            "archived",
            guards=[days_in_status(ARCHIVE_AFTER_DAYS)],
            description="status code -99: closed for more than 180 days",
        ),
    ]


def workflow() -> Workflow:
    """The reference ISP workflow (a new, validated ``Workflow``).

    >>> wf = workflow()
    >>> wf.initial[0].name
    'prospect'
    """
    return Workflow(
        statuses=statuses(), transitions=transitions(), initial=["prospect"], name="isp"
    )
