"""The product presets, rule by rule (seeds 000-003), each also run through the
testing kit's stateful test (dogfooding)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from acctstate.actors import Actor
from acctstate.errors import (
    DefinitionError,
    GuardRefused,
    IllegalTransition,
    PermissionDenied,
    ReasonRequired,
)
from acctstate.graph import Transition
from acctstate.presets import account_class, engageip, portabilling, sonar
from acctstate.refunds import Period
from acctstate.status import Backend
from acctstate.testing import workflow_state_machine

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

# -- dogfooding: every preset passes the kit's stateful test ------------------------------

TestEngageipMachine = workflow_state_machine(engageip.workflow()).TestCase
TestPortabillingMachine = workflow_state_machine(portabilling.workflow()).TestCase
TestPortabillingAvailabilityMachine = workflow_state_machine(
    portabilling.workflow(availability_days=30)
).TestCase
TestAccountClassMachine = workflow_state_machine(account_class.workflow()).TestCase
TestSonarMachine = workflow_state_machine(sonar.workflow()).TestCase


def kinds(change: object) -> list[str]:
    """The effect kinds of a change, in order."""
    return [e.kind for e in change.effects]  # type: ignore[attr-defined]


# -- EngageIP (seed 000) ------------------------------------------------------------------

ENGAGEIP = engageip.workflow()


def test_engageip_maps_every_status_onto_four_backend_statuses() -> None:
    """Every status is of class prospect, active, suspended or closed (Cancelled)."""
    used = {s.backend for s in ENGAGEIP.catalog}
    assert used == {Backend.PROSPECT, Backend.ACTIVE, Backend.SUSPENDED, Backend.CLOSED}


def test_engageip_status_types_behave_like_their_backend_status() -> None:
    """A status type on the suspended class stays provisioned and bills usage like
    ``suspended``; a type on a class EngageIP lacks is refused."""
    fraud = engageip.status_type(7, "suspended_fraud", "suspended", image_url="/img/fraud.png")
    base = ENGAGEIP.catalog["suspended"]
    assert (fraud.provisioned, fraud.billable, fraud.usage_billable) == (True, False, True)
    assert (fraud.provisioned, fraud.usage_billable) == (base.provisioned, base.usage_billable)
    assert fraud.icon == "/img/fraud.png"
    with pytest.raises(Exception, match="prospect, active, suspended or closed"):
        engageip.status_type(8, "installing", "pending")


def test_engageip_prospect_is_never_re_entered() -> None:
    """Prospect is one-way, nothing leads to it, and an extension leading back to it
    is refused."""
    assert ENGAGEIP.catalog["prospect"].one_way
    assert not [e for e in ENGAGEIP.transitions if e.dest.name == "prospect"]
    with pytest.raises(DefinitionError, match="one-way status 'prospect'"):
        ENGAGEIP.extend(transitions=[Transition("requalify", "cancelled", "prospect")])


def test_engageip_suspended_is_provisioned_not_billed_but_usage_billed() -> None:
    """Suspending stops recurring billing only: no de-provisioning, usage still billed."""
    acct = ENGAGEIP.open("E-1", "active", at=T0, imported=True)
    change = ENGAGEIP.fire(acct, "suspend", at=T0 + DAY)
    assert kinds(change) == ["stop_billing"]
    assert kinds(ENGAGEIP.fire(acct, "enable", at=T0 + 2 * DAY)) == ["start_billing"]


def test_engageip_cancelled_can_be_enabled_again() -> None:
    """A cancelled account is enabled again, re-provisioned and billed."""
    acct = ENGAGEIP.open("E-1", "active", at=T0, imported=True)
    ENGAGEIP.fire(acct, "cancel", at=T0 + DAY, reason="moved")
    change = ENGAGEIP.fire(acct, "enable", at=T0 + 2 * DAY)
    assert change.dest.name == "active"
    assert kinds(change) == ["provision", "start_billing", "start_usage_billing"]


def test_engageip_cancel_needs_a_reason_from_the_list() -> None:
    """Cancelling without a reason (or with one not on the list) is refused and
    changes nothing."""
    acct = ENGAGEIP.open("E-1", "active", at=T0, imported=True)
    with pytest.raises(ReasonRequired, match="a reason is required for 'cancel'"):
        ENGAGEIP.fire(acct, "cancel", at=T0 + DAY)
    with pytest.raises(ReasonRequired, match="unknown reason 'bored'"):
        ENGAGEIP.fire(acct, "cancel", at=T0 + DAY, reason="bored")
    assert (acct.status, acct.status_since, len(acct.history)) == (1, T0, 1)


@pytest.mark.parametrize(
    ("refund", "expected"),
    [("full", [Decimal("31.00")]), ("prorated", [Decimal("22.00")]), ("none", [])],
)
def test_engageip_cancel_now_with_full_prorated_or_no_refund(
    refund: str, expected: list[Decimal]
) -> None:
    """Seed 000's immediate cancel options are event data on one ``cancel``: a full,
    prorated or no refund of the paid period."""
    jan = Period(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    acct = ENGAGEIP.open("E-1", "active", at=T0, imported=True)
    at = dt.datetime(2026, 1, 10, 15, 0, tzinfo=dt.UTC)
    change = ENGAGEIP.fire(
        acct, "cancel", at=at, reason="customer_request", refund=refund, paid=Decimal("31.00"),
        period=jan,
    )  # fmt: skip
    assert [e.amount for e in change.effects if e.kind == "refund"] == expected  # type: ignore[attr-defined]


def test_engageip_cancel_at_period_end_keeps_service_until_then() -> None:
    """'Period End': the account stays provisioned in cancelation_pending (no recurring
    billing) and is cancelled only once the paid period has ended."""
    acct = ENGAGEIP.open("E-1", "active", at=T0, imported=True)
    end = T0 + 20 * DAY
    change = ENGAGEIP.fire(acct, "request_cancelation", at=T0 + DAY, reason="moved")
    assert kinds(change) == ["stop_billing"]
    with pytest.raises(GuardRefused, match="the period runs until"):
        ENGAGEIP.fire(acct, "complete_cancelation", at=T0 + 2 * DAY, period_end=end)
    assert (
        ENGAGEIP.fire(acct, "complete_cancelation", at=end, period_end=end).dest.name == "cancelled"
    )


def test_engageip_change_on_a_specific_date_is_recorded_with_that_date() -> None:
    """A change takes effect at the instant given (``at=``), which the history keeps."""
    acct = ENGAGEIP.open("E-1", "active", at=T0, imported=True)
    on = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    ENGAGEIP.fire(acct, "cancel", at=on, reason="moved")
    assert acct.history[-1].at == on and acct.status_since == on


def test_engageip_deleted_is_the_only_end() -> None:
    """Only ``deleted`` is terminal, reached from the cancelled statuses."""
    assert [s.name for s in ENGAGEIP.catalog if s.terminal] == ["deleted"]
    assert {e.source.name for e in ENGAGEIP.transitions if e.dest.name == "deleted"} == {
        "cancelled",
        "cancelled_non_payment",
    }


# -- PortaBilling (seed 001) --------------------------------------------------------------

PORTA = portabilling.workflow(availability_days=30)


def test_portabilling_inactive_accounts_are_activated_now_or_on_their_date() -> None:
    """``activate`` works at once; ``activate_on_date`` waits for the activation date,
    which falls on the customer's billing time zone's midnight."""
    ny = ZoneInfo("America/New_York")
    start = dt.datetime(2026, 3, 1, tzinfo=ny)
    acct = PORTA.open("P-1", "inactive", at=T0, activated_at=start, timezone="America/New_York")
    just_before = dt.datetime(2026, 3, 1, 4, 59, tzinfo=dt.UTC)
    with pytest.raises(GuardRefused, match="the period runs until 2026-03-01T00:00:00-05:00"):
        PORTA.fire(acct, "activate_on_date", at=just_before)
    assert PORTA.fire(acct, "activate_on_date", at=start).dest.name == "active"
    other = PORTA.open("P-2", "inactive", at=T0)
    assert PORTA.fire(other, "activate", at=T0).dest.name == "active"


def test_portabilling_blocked_keeps_subscriptions_but_no_service() -> None:
    """Blocking de-provisions and stops usage billing; subscriptions still bill;
    unblocking restores service."""
    acct = PORTA.open("P-1", "active", at=T0, imported=True)
    assert kinds(PORTA.fire(acct, "block", at=T0 + DAY)) == ["stop_usage_billing", "deprovision"]
    assert PORTA.catalog["blocked"].billable
    assert kinds(PORTA.fire(acct, "unblock", at=T0 + 2 * DAY)) == [
        "provision",
        "start_usage_billing",
    ]


def test_portabilling_terminated_is_final() -> None:
    """Terminated is terminal: every trigger is refused there and nothing changes."""
    acct = PORTA.open("P-1", "active", at=T0, imported=True)
    PORTA.fire(acct, "terminate", at=T0 + DAY)
    for trigger in PORTA.triggers:
        with pytest.raises(IllegalTransition, match="in status 'terminated'"):
            PORTA.fire(acct, trigger, at=T0 + 2 * DAY)
    assert len(acct.history) == 2


def test_portabilling_accounts_expire_and_can_be_activated_with_a_new_date() -> None:
    """``expire`` waits for the expiration date; an expired account is activated
    again only with an expiration date still ahead."""
    end = T0 + 10 * DAY
    acct = PORTA.open("P-1", "active", at=T0, imported=True, expires_at=end)
    with pytest.raises(GuardRefused, match="none of"):
        PORTA.fire(acct, "expire", at=end - DAY)
    PORTA.fire(acct, "expire", at=end)
    with pytest.raises(GuardRefused, match="and it must not be"):
        PORTA.fire(acct, "reactivate", at=end + DAY)
    later = end + 365 * DAY
    assert PORTA.fire(acct, "reactivate", at=end + DAY, expires_at=later).dest.name == "active"


def test_portabilling_availability_period_after_first_use() -> None:
    """With an availability period, an account expires that many days after its
    first use, even before its expiration date."""
    acct = PORTA.open("P-1", "active", at=T0, imported=True, first_used_at=T0)
    with pytest.raises(GuardRefused, match="29 days; 30 required"):
        PORTA.fire(acct, "expire", at=T0 + 29 * DAY)
    assert PORTA.fire(acct, "expire", at=T0 + 30 * DAY).dest.name == "expired"
    without = portabilling.workflow()
    other = without.open("P-2", "active", at=T0, imported=True, first_used_at=T0)
    with pytest.raises(GuardRefused):
        without.fire(other, "expire", at=T0 + 30 * DAY)


def test_portabilling_depleted_accounts_recharge() -> None:
    """Funds below the threshold deplete an account; funds at or above it bring it back
    (the issue "Correct at every seam" made "depleted" mean "less than the threshold",
    as the batch counts always did)."""
    wf = portabilling.workflow(threshold=Decimal("0.50"))
    acct = wf.open("P-1", "active", at=T0, imported=True, funds=Decimal("0.75"))
    with pytest.raises(GuardRefused, match=r"funds 0\.75 left"):
        wf.fire(acct, "deplete", at=T0 + DAY)
    assert wf.fire(acct, "deplete", at=T0 + DAY, funds=Decimal("0.49")).dest.name == "depleted"
    with pytest.raises(GuardRefused):
        wf.fire(acct, "recharge", at=T0 + 2 * DAY, funds=Decimal("0.40"))
    assert wf.fire(acct, "recharge", at=T0 + 2 * DAY, funds=Decimal("10")).dest.name == "active"


# -- account classes (seed 002) -----------------------------------------------------------

CLERK = Actor("u-7", permissions={account_class.EDIT_STATUS})
AC = account_class.workflow(past_due_days=30, min_past_due=Decimal("10.00"), inactive_after_days=60)


def test_account_class_has_the_seven_statuses() -> None:
    """Inactive, Prospect, Active, Bad Debt, Credit Hold, Internal and External
    Collections, plus the temporary lift."""
    names = set(AC.catalog.names)
    assert names == {
        "inactive",
        "prospect",
        "active",
        "bad_debt",
        "credit_hold",
        "internal_collections",
        "external_collections",
        "credit_hold_lifted",
    }
    assert [s.name for s in AC.catalog if s.terminal] == ["bad_debt"]


def test_account_class_manual_changes_need_edit_account_status() -> None:
    """Every manual transition requires the permission; without it nothing changes."""
    manual = [e for e in AC.transitions if not e.trigger.startswith(("auto_", "end_temporary"))]
    assert {e.permission for e in manual} == {account_class.EDIT_STATUS}
    acct = AC.open("C-1", "prospect", at=T0)
    with pytest.raises(PermissionDenied, match="no actor was given"):
        AC.fire(acct, "activate", at=T0 + DAY)
    with pytest.raises(PermissionDenied, match="actor 'u-8' lacks it"):
        AC.fire(acct, "activate", at=T0 + DAY, actor=Actor("u-8"))
    assert (acct.status, len(acct.history)) == (30, 1)
    change = AC.fire(acct, "activate", at=T0 + DAY, actor=CLERK, note="signed")
    assert (change.actor, change.note) == (CLERK, "signed")


def test_account_class_auto_credit_hold_needs_days_and_amount() -> None:
    """Automatic credit hold needs an invoice past due for the class's days and at
    least its minimum amount owed (the issue "Correct at every seam" made the minimum
    inclusive, as the policy's ``CreditHold.min_past_due`` always was)."""
    due = T0 - 31 * DAY
    acct = AC.open("C-1", "active", at=T0, imported=True, oldest_unpaid_at=due)
    with pytest.raises(GuardRefused, match=r"at least 10\.00 required"):
        AC.fire(acct, "auto_credit_hold", at=T0, balance=Decimal("9.99"))
    recent = AC.open("C-2", "active", at=T0, imported=True, oldest_unpaid_at=T0 - 5 * DAY)
    with pytest.raises(GuardRefused, match="in status for 5 days; 30 required"):
        AC.fire(recent, "auto_credit_hold", at=T0, balance=Decimal("50"))
    change = AC.fire(acct, "auto_credit_hold", at=T0, balance=Decimal("10.01"))
    assert change.dest.name == "credit_hold" and "deprovision" in kinds(change)


def test_account_class_auto_inactive_after_days_on_hold() -> None:
    """An account on credit hold becomes inactive after the class's days."""
    acct = AC.open("C-1", "credit_hold", at=T0, imported=True)
    with pytest.raises(GuardRefused, match="59 days; 60 required"):
        AC.fire(acct, "auto_inactivate", at=T0 + 59 * DAY)
    assert AC.fire(acct, "auto_inactivate", at=T0 + 60 * DAY).dest.name == "inactive"


def test_account_class_auto_hold_removal_on_payment() -> None:
    """The hold is removed automatically once the past-due balance is paid."""
    acct = AC.open("C-1", "credit_hold", at=T0, imported=True, balance=Decimal("20"))
    with pytest.raises(GuardRefused, match="balance 20 is still owed"):
        AC.fire(acct, "auto_remove_credit_hold", at=T0 + DAY)
    change = AC.fire(acct, "auto_remove_credit_hold", at=T0 + DAY, balance=Decimal("0"))
    assert change.dest.name == "active"


def test_account_class_temporary_hold_removal_between_two_dates() -> None:
    """A hold lifted temporarily restores service and returns after the end date."""
    acct = AC.open("C-1", "credit_hold", at=T0, imported=True, balance=Decimal("20"))
    lifted = AC.fire(acct, "lift_credit_hold_temporarily", at=T0 + DAY, actor=CLERK)
    assert "provision" in kinds(lifted)
    ends = T0 + 8 * DAY
    with pytest.raises(GuardRefused, match="the period runs until"):
        AC.fire(acct, "end_temporary_lift", at=T0 + 2 * DAY, lift_ends_at=ends)
    assert AC.fire(acct, "end_temporary_lift", at=ends, lift_ends_at=ends).dest.name == (
        "credit_hold"
    )


def test_account_class_collections_end_in_bad_debt() -> None:
    """Credit hold -> internal -> external collections -> bad debt, which is final."""
    acct = AC.open("C-1", "credit_hold", at=T0, imported=True)
    for i, trigger in enumerate(
        ["send_to_internal_collections", "send_to_external_collections", "write_off"], 1
    ):
        AC.fire(acct, trigger, at=T0 + i * DAY, actor=CLERK)
    assert AC.catalog[acct.status].name == "bad_debt"
    with pytest.raises(IllegalTransition):
        AC.fire(acct, "activate", at=T0 + 9 * DAY, actor=CLERK)


# -- Sonar (seed 003) ---------------------------------------------------------------------

SONAR = sonar.workflow()


def test_sonar_defaults_and_the_activates_flag() -> None:
    """Lead, Active and Inactive exist; only Active activates; every status has an
    icon and a colour of its own."""
    assert {"lead", "active", "inactive"} <= set(SONAR.catalog.names)
    assert [s.name for s in SONAR.catalog if s.activates] == ["active"]
    colors = [s.color for s in SONAR.catalog]
    assert None not in colors and len(set(colors)) == len(colors)
    assert all(s.icon for s in SONAR.catalog)


def test_sonar_lead_is_not_billed_and_never_re_entered() -> None:
    """A lead is neither provisioned nor billed, and it is one-way."""
    lead = SONAR.catalog["lead"]
    assert (lead.provisioned, lead.billable, lead.one_way) == (False, False, True)


def test_sonar_installation_can_fail_and_be_rescheduled() -> None:
    """Pending Install -> Failed Install -> Pending Install -> Active."""
    acct = SONAR.open("S-1", "lead", at=T0)
    for i, trigger in enumerate(
        ["schedule_install", "fail_install", "reschedule_install", "activate"], 1
    ):
        change = SONAR.fire(acct, trigger, at=T0 + i * DAY)
    assert change.dest.name == "active"
    assert kinds(change) == ["provision", "start_billing", "start_usage_billing"]


def test_sonar_vacation_pauses_service_and_billing() -> None:
    """Vacation de-provisions and stops billing; coming back restores both."""
    acct = SONAR.open("S-1", "active", at=T0, imported=True)
    assert kinds(SONAR.fire(acct, "start_vacation", at=T0 + DAY)) == [
        "stop_billing",
        "stop_usage_billing",
        "deprovision",
    ]
    assert SONAR.fire(acct, "end_vacation", at=T0 + 20 * DAY).dest.name == "active"


def test_sonar_win_back_and_no_win_back_terminations() -> None:
    """A win-back termination can be won back; a no-win-back one is final."""
    acct = SONAR.open("S-1", "active", at=T0, imported=True)
    SONAR.fire(acct, "terminate_winback", at=T0 + DAY)
    assert SONAR.fire(acct, "win_back", at=T0 + 2 * DAY).dest.name == "active"
    SONAR.fire(acct, "terminate", at=T0 + 3 * DAY)
    assert SONAR.catalog[acct.status].terminal
    with pytest.raises(IllegalTransition):
        SONAR.fire(acct, "win_back", at=T0 + 4 * DAY)


def test_sonar_collections_are_settled_or_terminated() -> None:
    """Collections ends when the debt is settled (inactive) or the account is
    terminated for good."""
    acct = SONAR.open("S-1", "active", at=T0, imported=True, balance=Decimal("80"))
    SONAR.fire(acct, "send_to_collections", at=T0 + DAY)
    with pytest.raises(GuardRefused, match="balance 80 is still owed"):
        SONAR.fire(acct, "settle", at=T0 + 2 * DAY)
    assert SONAR.fire(acct, "settle", at=T0 + 2 * DAY, balance=Decimal(0)).dest.name == "inactive"
