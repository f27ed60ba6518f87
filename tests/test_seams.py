"""Regression tests for the issue "Correct at every seam": one meaning per fact (the
minimum past-due amount, depleted), automatic triggers kept to automation, temporary
credit-hold removal that ends, and errors that stay acctstate errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from acctstate.actors import Actor
from acctstate.automation import (
    AutomationPolicy,
    CreditHold,
    HoldRelease,
    PolicyError,
    apply,
    sweep,
)
from acctstate.batch import select
from acctstate.errors import GuardRefused, InvalidArgument
from acctstate.presets import account_class, portabilling

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CLERK = Actor("u-7", permissions={account_class.EDIT_STATUS})


# -- minimum past-due amount: "at least", one threshold --------------------------------


def test_min_past_due_is_at_least_for_preset_guard_and_policy() -> None:
    """With the minimum 10.00 and exactly 10.00 owed, the preset's guard and the
    policy's rule agree: the hold is placed (it used to be refused forever)."""
    policy = account_class.policy(past_due_days=30, min_past_due=Decimal("10.00"))
    wf = policy.workflow
    acct = wf.open(
        "C-1",
        "active",
        at=T0,
        imported=True,
        balance=Decimal("10.00"),
        oldest_unpaid_at=T0 - 31 * DAY,
    )
    plan = sweep([acct], policy, now=T0 + DAY)
    assert [(c.rule, c.dest.name) for c in plan.plans[0].changes] == [
        ("credit_hold", "credit_hold")
    ]
    assert not plan.plans[0].blocked
    apply(plan)
    assert wf.catalog[acct.status].name == "credit_hold"


def test_min_past_due_below_the_minimum_is_not_held() -> None:
    """9.99 owed against a 10.00 minimum: neither path places the hold."""
    policy = account_class.policy(min_past_due=Decimal("10.00"))
    acct = policy.workflow.open(
        "C-1", "active", at=T0, imported=True, balance=Decimal("9.99"),
        oldest_unpaid_at=T0 - 40 * DAY,
    )  # fmt: skip
    assert sweep([acct], policy, now=T0 + DAY).plans == ()
    with pytest.raises(GuardRefused, match=r"at least 10\.00 required"):
        policy.workflow.fire(acct, "auto_credit_hold", at=T0 + DAY)


def test_preset_policy_triggers_are_the_presets() -> None:
    """The ready policy names the preset's automatic triggers, so nothing is wired by
    hand, and its thresholds are the workflow's."""
    p = account_class.policy(past_due_days=10, min_past_due=Decimal("5"), inactive_after_days=20)
    hold = p.credit_hold
    assert hold is not None
    assert (hold.place, hold.remove, hold.deactivate, hold.release, hold.restore) == (
        "auto_credit_hold",
        "auto_remove_credit_hold",
        "auto_inactivate",
        "auto_lift_credit_hold",
        "auto_end_temporary_lift",
    )
    assert p.workflow == account_class.workflow(
        past_due_days=10, min_past_due=Decimal("5"), inactive_after_days=20
    )


# -- automatic triggers are automation's -------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "status", "data"),
    [
        ("auto_remove_credit_hold", "credit_hold", {"balance": Decimal("0")}),
        ("auto_inactivate", "credit_hold", {}),
        ("auto_credit_hold", "active", {"balance": Decimal("50")}),
    ],
)
def test_automatic_triggers_refused_to_a_person(
    trigger: str, status: str, data: dict[str, Decimal]
) -> None:
    """A person, even one holding edit_account_status, cannot fire an automatic
    trigger; the refusal says why and nothing changes."""
    wf = account_class.workflow()
    acct = wf.open("C-1", status, at=T0 - 200 * DAY, imported=True, oldest_unpaid_at=T0 - 100 * DAY)
    before = (acct.status, len(acct.history))
    with pytest.raises(GuardRefused, match="actor 'u-7' is a person; only a system actor"):
        wf.fire(acct, trigger, at=T0, actor=CLERK, **data)
    assert (acct.status, len(acct.history)) == before
    system = Actor.system("nightly")
    assert wf.fire(acct, trigger, at=T0, actor=system, **data).trigger == trigger


# -- temporary credit-hold removal ------------------------------------------------------


def test_temporary_removal_ends_and_the_hold_returns_unless_paid() -> None:
    """The release carries its window: lifted on the first run inside it, back on hold
    on the first run after it; paid meanwhile, the hold is removed instead."""
    start, end = T0 + DAY, T0 + 8 * DAY
    policy = account_class.policy(
        past_due_days=30, releases=[HoldRelease("C-1", start, end), HoldRelease("C-2", start, end)]
    )
    wf = policy.workflow
    owed = wf.open("C-1", "credit_hold", at=T0, imported=True, balance=Decimal("20"))
    paid = wf.open("C-2", "credit_hold", at=T0, imported=True, balance=Decimal("20"))
    apply(sweep([owed, paid], policy, now=start))
    assert {wf.catalog[a.status].name for a in (owed, paid)} == {"credit_hold_lifted"}
    assert sweep([owed, paid], policy, now=end - DAY).plans == ()
    paid.balance = Decimal("0")
    plan = sweep([owed, paid], policy, now=end)
    assert {p.account_id: [(c.rule, c.dest.name) for c in p.changes] for p in plan.plans} == {
        "C-1": [("credit_hold_return", "credit_hold")],
        "C-2": [("credit_hold_removal", "active")],
    }
    apply(plan)
    assert (wf.catalog[owed.status].name, wf.catalog[paid.status].name) == (
        "credit_hold",
        "active",
    )


def test_release_without_a_way_back_is_refused_when_built() -> None:
    """A release into a status no trigger leads back from is refused with the reason."""
    wf = account_class.workflow()
    window = [HoldRelease("C-1", T0, T0 + DAY)]
    with pytest.raises(PolicyError, match="hold would never return") as e:
        AutomationPolicy(
            wf,
            credit_hold=CreditHold(
                releases=window,
                place="auto_credit_hold",
                remove="auto_remove_credit_hold",
                deactivate="auto_inactivate",
                release="auto_lift_credit_hold",
            ),
        )
    assert e.value.rules == {"no-way-back"}


def test_account_class_policy_and_manual_lift_agree() -> None:
    """An account lifted by hand with no registered window returns to the hold on the
    next run: a temporary removal without an end does not exist."""
    policy = account_class.policy()
    wf = policy.workflow
    acct = wf.open("C-1", "credit_hold", at=T0, imported=True, balance=Decimal("20"))
    wf.fire(acct, "lift_credit_hold_temporarily", at=T0 + DAY, actor=CLERK)
    plan = sweep([acct], policy, now=T0 + 2 * DAY)
    assert [c.rule for c in plan.plans[0].changes] == ["credit_hold_return"]


# -- depleted: one definition, one threshold -------------------------------------------


def test_depleted_means_the_same_to_the_guard_and_to_select() -> None:
    """Funds exactly at the availability threshold: PortaBilling's deplete guard and the
    batch counts agree (not depleted); below it, both say depleted."""
    wf = portabilling.workflow(threshold=Decimal("0.50"))
    at = wf.open("P-1", "active", at=T0, imported=True, funds=Decimal("0.50"))
    below = wf.open("P-2", "active", at=T0, imported=True, funds=Decimal("0.49"))
    assert [wf.may(a, "deplete", at=T0 + DAY) for a in (at, below)] == [False, True]
    assert select(wf, [at]).counts.depleted == 0
    assert select(wf, [below]).counts.depleted == 1
    assert select(wf, [at, below]).threshold == Decimal("0.50")


def test_select_refuses_a_second_threshold() -> None:
    """The threshold is set once, on the workflow: another one given to select() is
    refused, naming the workflow's."""
    wf = portabilling.workflow(threshold=Decimal("0.50"))
    acct = wf.open("P-1", "active", at=T0, imported=True, funds=Decimal("0.40"))
    with pytest.raises(InvalidArgument, match=r"availability threshold \(0\.50\)"):
        select(wf, [acct], threshold=Decimal("0.30"))
    assert select(wf, [acct], threshold=Decimal("0.50")).counts.depleted == 1
