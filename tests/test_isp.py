"""The reference ISP workflow follows seed 004 (and prospect = 30)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import acctstate
from acctstate import Backend, Workflow
from acctstate.presets import isp

DAY = dt.timedelta(days=1)
SEED_004_CODES = {
    -99,
    -13,
    -12,
    -11,
    -4,
    -3,
    -2,
    -1,
    0,
    1,
    2,
    3,
    10,
    11,
    12,
    13,
    21,
    22,
    31,
    32,
    41,
    51,
    61,
    99,
    10031,
    10032,
    10033,
    10034,
    21001,
    21002,
    21003,
    21004,
}


def test_catalog_has_every_seed_code_plus_prospect(wf: Workflow) -> None:
    """All 32 codes of seed 004 are present, plus prospect = 30, and nothing else."""
    assert len(SEED_004_CODES) == 32
    assert set(wf.catalog.codes) == SEED_004_CODES | {30}
    assert wf.catalog[30].name == "prospect" and wf.catalog[30].backend is Backend.PROSPECT


def test_negative_codes_are_deprovisioned(wf: Workflow) -> None:
    """Seed 004's convention: a negative code means the account is not provisioned."""
    for status in wf.catalog:
        if status.code < 0:
            assert not status.provisioned, status


def test_flags_follow_the_descriptions(wf: Workflow) -> None:
    """Spot checks of billing/provisioning flags against the seed's descriptions."""
    c = wf.catalog
    assert c["active"].provisioned and c["active"].billable
    assert c["active_trial"].provisioned and not c["active_trial"].billable  # 41
    assert not c["temporary_ban"].provisioned and c["temporary_ban"].billable  # 51
    assert c["active_non_billable"].provisioned and not c["active_non_billable"].billable
    assert c["cancelation_pending"].provisioned and not c["cancelation_pending"].billable
    for name in ("active_dunning_1", "active_dunning_2", "active_dunning_3"):
        assert c[name].provisioned and c[name].billable  # "still provisioned and invoiced"
    for name in ("suspended_dunning_1", "suspended_dunning_2", "suspended_dunning_3"):
        assert not c[name].provisioned and not c[name].billable  # "no new invoices"
    assert c["archived"].terminal and c["prospect"].one_way
    assert [s.name for s in wf.initial] == ["prospect"]


def test_dunning_walks_one_step_at_a_time(wf: Workflow, t0: dt.datetime) -> None:
    """escalate_dunning walks 1 -> 10 -> 11 -> 12 -> 13 -> -11 -> -12 -> -13, then stops."""
    acct = wf.open("A-1", "active", at=t0, imported=True)
    seen = []
    for n in range(7):
        seen.append(wf.fire(acct, "escalate_dunning", at=t0 + n * DAY).dest.code)
    assert seen == [10, 11, 12, 13, -11, -12, -13]
    with pytest.raises(acctstate.IllegalTransition):
        wf.fire(acct, "escalate_dunning", at=t0 + 8 * DAY)


def test_payment_returns_to_active(wf: Workflow, t0: dt.datetime) -> None:
    """Active dunning settles straight to active; suspended dunning goes through 22."""
    acct = wf.open("A-1", "active_dunning_2", at=t0, imported=True, balance=Decimal("9.99"))
    with pytest.raises(acctstate.GuardRefused, match="still owed"):
        wf.fire(acct, "settle", at=t0)
    acct.balance = Decimal("0")
    assert wf.fire(acct, "settle", at=t0).dest.name == "active"
    sus = wf.open("B-1", "suspended_dunning_2", at=t0, imported=True, balance=Decimal("50"))
    with pytest.raises(acctstate.GuardRefused, match="no payment method"):
        wf.fire(sus, "reinstate_back", at=t0)
    sus.payment_method = "visa"
    assert wf.fire(sus, "reinstate_back", at=t0).dest.code == 22
    with pytest.raises(acctstate.GuardRefused):
        wf.fire(sus, "complete_reinstatement", at=t0)
    sus.balance = Decimal("0")
    assert wf.fire(sus, "complete_reinstatement", at=t0).dest.name == "active"


@pytest.mark.parametrize("closed", ["canceled", "terminated", "suspended", "contract_expired"])
def test_closed_accounts_archive_after_180_days(wf: Workflow, t0: dt.datetime, closed: str) -> None:
    """Seed 004: a closed account is archived 180 days after it was closed, not before."""
    acct = wf.open("A-1", closed, at=t0, imported=True)
    assert not wf.may(acct, "archive", at=t0 + 179 * DAY)
    assert wf.may(acct, "archive", at=t0 + 180 * DAY)
    wf.fire(acct, "archive", at=t0 + 180 * DAY)
    assert wf.allowed_triggers(acct, at=t0 + 999 * DAY) == ()


def test_period_end_cancelation(wf: Workflow, t0: dt.datetime) -> None:
    """Cancelation pending completes only once the pre-paid period has ended."""
    acct = wf.open("A-1", "active", at=t0, imported=True, period_end=t0 + 10 * DAY)
    wf.fire(acct, "request_cancelation", at=t0)
    with pytest.raises(acctstate.GuardRefused, match="the period runs until"):
        wf.fire(acct, "complete_cancelation", at=t0 + 9 * DAY)
    assert wf.fire(acct, "complete_cancelation", at=t0 + 10 * DAY).dest.code == -2


def test_prospect_is_never_reentered(wf: Workflow) -> None:
    """No transition of the reference workflow leads into prospect."""
    assert not [e for e in wf.transitions if e.dest.name == "prospect"]


def test_effects_follow_flags(wf: Workflow, t0: dt.datetime) -> None:
    """Suspending stops billing and deprovisions; lifting a ban provisions again."""
    acct = wf.open("A-1", "active", at=t0, imported=True)
    kinds = [e.kind for e in wf.plan(acct, "suspend", at=t0).effects]
    assert {"stop_billing", "deprovision"} <= set(kinds)
    banned = wf.open("B-1", "temporary_ban", at=t0, imported=True)
    kinds = [e.kind for e in wf.plan(banned, "lift_ban", at=t0).effects]
    assert "provision" in kinds and "start_billing" not in kinds


def test_every_transition_says_why(wf: Workflow) -> None:
    """Each transition of the reference workflow carries its reason (for the docs table)."""
    assert all(e.description for e in wf.transitions)


def test_preset_returns_equal_fresh_workflows() -> None:
    """workflow() builds an equal, independent workflow each time."""
    a, b = isp.workflow(), isp.workflow()
    assert a == b and a is not b
