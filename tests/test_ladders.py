"""Dunning ladders both ways: Kill Bill's overdue configurations replayed day by day,
stepping down on partial payments, first-match evaluation, a final step that cancels,
control tags, payment failure reasons and host conditions.

Expected states come from Kill Bill's published documentation and configuration files,
each checked against the text cited (not written from memory):

* The overdue tutorial, killbill/killbill-docs ``userguide/tutorials/overdue.adoc``
  (published as https://docs.killbill.io/latest/overdue.html). Scenario: notify after
  10 days unpaid (``WARNING``), block after 14 (``BLOCKED``), cancel the subscriptions
  after 21 (``CANCELLATION``, ``timeSinceEarliestUnpaidInvoiceEqualsOrExceeds`` 21 days,
  ``subscriptionCancellationPolicy`` ``END_OF_TERM``: "cancelled in such a way that we
  do not generate credit for the account (no proration)", i.e. at the end of the paid
  period: ``end_of_period`` here). Its notes: "The definition order of the states in
  the XML configuration file is important: You must have the first state at the
  bottom", so the most severe state is listed first. Its XML gives ``BLOCKED``
  ``blockChanges`` true but ``disableEntitlementAndChangesBlocked`` false although the
  scenario says the entitlements are blocked after 14 days; these tests follow the
  scenario (od2 de-provisions). ``WARNING`` blocks plan changes too
  (``blockChanges`` true). The same page lists the conditions
  (``numberOfUnpaidInvoicesEqualsOrExceeds``, ``totalUnpaidInvoiceBalanceEqualsOrExceeds``,
  ``timeSinceEarliestUnpaidInvoiceEqualsOrExceeds``, ``responseForLastFailedPaymentIn``,
  ``controlTagInclusion`` / ``controlTagExclusion``; several in one state must all
  hold) and ``subscriptionCancellationPolicy`` ``NONE`` / ``IMMEDIATE`` / ``END_OF_TERM``.
* First match: killbill/killbill
  ``overdue/src/main/java/org/killbill/billing/overdue/config/DefaultOverdueStateSet.java``,
  ``calculateOverdueState`` returns the first state, in the order listed, whose
  condition evaluates true, else the clear state. It is recomputed from scratch on
  every refresh, so a partial payment can land the account on a less severe state.
* Re-evaluation and ``OVERDUE_ENFORCEMENT_OFF``: killbill/killbill
  ``overdue/src/main/java/org/killbill/billing/overdue/listener/OverdueListener.java``
  refreshes the overdue state on every payment (``PaymentInfoInternalEvent``), failed
  payment and invoice adjustment; adding the control tag ``OVERDUE_ENFORCEMENT_OFF`` to
  an account schedules an overdue *clear*, and ``OverdueStateApplicator.apply`` makes
  no change while the tag stands. acctstate freezes the ladder instead (no move up,
  down or clear while the tag stands; clearing stays guarded by payment), which
  ``docs/automation.md`` says.
* Kill Bill's overdue test configuration killbill/killbill
  ``overdue/src/test/resources/OverdueConfig3.xml``, states listed OD4, OD3, OD2, OD1:
  OD4 ``numberOfUnpaidInvoicesEqualsOrExceeds`` 5 with ``controlTagInclusion``
  ``AUTO_PAY_OFF``; OD3 ``responseForLastFailedPaymentIn`` ``INVALID_CARD`` /
  ``LOST_OR_STOLEN_CARD``; OD2 ``totalUnpaidInvoiceBalanceEqualsOrExceeds`` 5.00; OD1
  ``timeSinceEarliestUnpaidInvoiceEqualsOrExceeds`` 30 days. Its OD2 and OD1 are the
  two-condition sample below.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from _workflows import kill_bill_workflow
from acctstate.account import Account
from acctstate.automation import (
    AutomationPolicy,
    DunningLadder,
    LadderCancellation,
    LadderStep,
    PolicyError,
    apply,
    columns_from_accounts,
    reference_ladder,
    register_ladder_condition,
    sweep,
    sweep_columns,
)
from acctstate.config import (
    dump_workflow,
    json_schema,
    load_ladders,
    load_workflow,
    workflow_document,
)
from acctstate.effects import Deprovision, Hooks, Provision, RecordingHooks, Refund
from acctstate.errors import ConfigError, DefinitionError, InvalidArgument, MissingFact
from acctstate.graph import Transition
from acctstate.guards import has_payment_method, not_
from acctstate.presets import isp
from acctstate.refunds import RefundRule
from acctstate.store.memory import MemoryStore

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
D = Decimal


@attrs.define
class Customer:
    """A host account with the facts Kill Bill's conditions read."""

    id: str
    status: int
    status_since: dt.datetime
    balance: Decimal = Decimal(0)
    oldest_unpaid_at: dt.datetime | None = None
    unpaid_invoices: int = 0
    control_tags: tuple[str, ...] = ()
    last_payment_failure: str | None = None
    contract_ends_at: dt.datetime | None = None
    period_end: dt.datetime | None = None
    period_start: dt.datetime | None = None
    paid: Decimal | None = None
    payment_method: str | None = "visa"


KB3 = kill_bill_workflow()


def replay(
    policy: AutomationPolicy,
    customer: Customer,
    days: int,
    *,
    payments: dict[int, Decimal] | None = None,
    hooks: Any = None,
) -> list[str]:
    """Run the nightly sweep for ``days`` days; the status name after each run."""
    payments = payments or {}
    names = {s.code: s.name for s in policy.workflow.catalog}
    out = []
    for day in range(days + 1):
        if day in payments:
            customer.balance -= payments[day]
        outcome = apply(
            sweep([customer], policy, now=T0 + day * DAY),
            hooks=None if hooks is None else Hooks.from_object(hooks),
        )
        assert not outcome.failed
        out.append(names[customer.status])
    return out


def owing(amount: str, *, due_days_ago: int = 0, **facts: Any) -> Customer:
    return Customer(
        id="KB-1",
        status=1,
        status_since=T0 - 400 * DAY,
        balance=D(amount),
        oldest_unpaid_at=T0 - due_days_ago * DAY,
        unpaid_invoices=facts.pop("unpaid_invoices", 1),
        **facts,
    )


# -- the tutorial: 10 / 14 / 21 days -------------------------------------------------------


def tutorial(order: str = "first_match", **options: Any) -> AutomationPolicy:
    # CANCELLATION's END_OF_TERM: at the end of the period paid for (no proration).
    steps = [
        LadderStep("od1", min_days=10),
        LadderStep("od2", min_days=14),
        LadderStep("od3", min_days=21, cancel=LadderCancellation("cancel", when="end_of_period")),
    ]
    ladder = DunningLadder(
        steps[::-1] if order == "first_match" else steps,
        home="active",
        order=order,
        clear=("settle",),
        deescalate="deescalate_dunning",
        ends_in_cancellation=True,
        **options,
    )
    return AutomationPolicy(KB3, ladder=ladder)


@pytest.mark.parametrize("order", ["first_match", "last_holding"])
def test_tutorial_ladder_day_by_day(order: str) -> None:
    """Kill Bill's tutorial: nothing before day 10, OD1 (notify) days 10-13, OD2 (blocked)
    days 14-20, OD3 from day 21, whose cancellation ends the account once the paid
    period is over (END_OF_TERM, no proration; here the period ends on day 24). The
    nested ladder gives the same days in either order."""
    states = replay(tutorial(order), owing("10.00", period_end=T0 + 24 * DAY), 25)
    assert states == ["active"] * 10 + ["od1"] * 4 + ["od2"] * 7 + ["od3"] * 3 + ["canceled"] * 2


def test_tutorial_walks_through_od3_before_cancelling() -> None:
    """Day 21's run, on the day the paid period ends, records every step: OD2 -> OD3
    (escalate), then OD3 -> canceled (the ladder's cancellation), each as an ordinary
    transition."""
    c = owing("10.00", due_days_ago=20, period_end=T0 + DAY)
    c.status = 102
    (plan,) = sweep([c], tutorial(), now=T0 + DAY).plans
    assert [(ch.rule, ch.trigger, ch.dest.name) for ch in plan.changes] == [
        ("dunning", "escalate_dunning", "od3"),
        ("dunning_cancel", "cancel", "canceled"),
    ]


def test_tutorial_payment_in_od2_restores_service() -> None:
    """Paying in full on day 16 clears the account: OD2 -> active, service provisioned."""
    hooks = RecordingHooks()
    states = replay(tutorial(), owing("10.00"), 17, payments={16: D("10.00")}, hooks=hooks)
    assert states[14:] == ["od2", "od2", "active", "active"]
    kinds = [type(e) for e in hooks.done.values()]
    assert kinds.count(Deprovision) == 1 and kinds.count(Provision) == 1


# -- balance thresholds, stepping down -------------------------------------------------------


def by_balance() -> AutomationPolicy:
    """Kill Bill's ``totalUnpaidInvoiceBalanceEqualsOrExceeds``, three states; only the
    most severe disables the entitlements."""
    ladder = DunningLadder(
        [
            LadderStep("od3", min_balance=D("1000.00")),
            LadderStep("od2", min_balance=D("500.00")),
            LadderStep("od1", min_balance=D("100.00")),
        ],
        order="first_match",
        deescalate="deescalate_dunning",
    )
    return AutomationPolicy(kill_bill_workflow(blocked=(3,)), ladder=ladder)


def test_partial_payment_steps_down_and_restores_service() -> None:
    """1,300 owed puts the account in OD3 (service off); paying 600 leaves 700, which is
    OD2's condition: the account walks down one recorded step and service is restored.
    Paying the rest clears it."""
    policy = by_balance()
    hooks = RecordingHooks()
    customer = owing("1300.00")
    states = replay(policy, customer, 4, payments={2: D("600.00"), 4: D("700.00")}, hooks=hooks)
    assert states == ["od3", "od3", "od2", "od2", "active"]
    effects = [type(e).__name__ for e in hooks.done.values()]
    assert effects.count("Deprovision") == 1
    assert effects[effects.index("Deprovision") :].count("Provision") == 1


def test_stepping_down_is_recorded_on_an_account() -> None:
    """On an ``Account``, each step down is a history entry with its trigger."""
    policy = by_balance()
    a = Account(
        id="A-1",
        status=103,
        status_since=T0 - 5 * DAY,
        balance=D("150.00"),
        oldest_unpaid_at=T0 - 3 * DAY,
        unpaid_invoices=1,
    )
    apply(sweep([a], policy, now=T0))
    assert [(h.trigger, h.source.name, h.dest.name) for h in a.history][1:] == [
        ("deescalate_dunning", "od3", "od2"),
        ("deescalate_dunning", "od2", "od1"),
    ]


def test_invoice_count_sample() -> None:
    """``numberOfUnpaidInvoicesEqualsOrExceeds``: 5 unpaid invoices with ``AUTO_PAY_OFF``
    reach OD4; without the tag they stay on the balance state; one paid invoice (4 left)
    steps back."""
    policy = four_states()
    c = owing("50.00", unpaid_invoices=5, control_tags=("AUTO_PAY_OFF",))
    assert replay(policy, c, 0) == ["od4"]
    c.unpaid_invoices = 4
    c.balance = D("40.00")
    assert replay(policy, c, 0) == ["od2"]
    plain = owing("50.00", unpaid_invoices=5)
    assert replay(policy, plain, 0) == ["od2"]


# -- first match: conditions that do not nest ------------------------------------------------


def two_conditions(**options: Any) -> DunningLadder:
    return DunningLadder(
        [LadderStep("od2", min_balance=D("5.00")), LadderStep("od1", min_days=30)],
        order="first_match",
        deescalate="deescalate_dunning",
        **options,
    )


def test_two_condition_sample() -> None:
    """State 2 needs 5.00 owed, state 1 thirty days: 10.00 owed for one day is state 2 at
    once (through state 1, one step at a time); 1.00 owed reaches state 1 on day 30."""
    policy = AutomationPolicy(kill_bill_workflow(2), ladder=two_conditions())
    c = owing("10.00", due_days_ago=1)
    (plan,) = sweep([c], policy, now=T0).plans
    assert [ch.dest.name for ch in plan.changes] == ["od1", "od2"]
    small = owing("1.00")
    assert replay(policy, small, 31) == ["active"] * 30 + ["od1", "od1"]


def test_two_condition_sample_is_refused_as_last_holding() -> None:
    """The same conditions under ``last_holding`` do not nest: refused, naming the fix."""
    with pytest.raises(PolicyError, match=r"not-monotone.*first_match"):
        DunningLadder(
            [LadderStep("od1", min_days=30), LadderStep("od2", min_balance=D("5.00"))],
        )


def test_first_match_refuses_a_shadowed_step_with_a_counter_example() -> None:
    """A step that holds only when an earlier-listed step holds is unreachable."""
    with pytest.raises(PolicyError, match=r"step 1 \('od1'\) can never be reached.*30 days"):
        DunningLadder(
            [LadderStep("od2", min_days=10), LadderStep("od1", min_days=30)],
            order="first_match",
        )


def four_states() -> AutomationPolicy:
    ladder = DunningLadder(
        [
            LadderStep("od4", min_invoices=5, with_tags={"AUTO_PAY_OFF"}),
            LadderStep("od3", failure_reasons={"INVALID_CARD", "LOST_OR_STOLEN_CARD"}),
            LadderStep("od2", min_balance=D("5.00")),
            LadderStep("od1", min_days=30),
        ],
        order="first_match",
        deescalate="deescalate_dunning",
    )
    return AutomationPolicy(kill_bill_workflow(4, blocked=(2, 3, 4)), ladder=ladder)


def test_last_payment_failure_reason() -> None:
    """``responseForLastFailedPaymentIn``: a lost card puts 1.00 owed in OD3 at once; an
    insufficient-funds failure does not."""
    policy = four_states()
    assert replay(policy, owing("1.00", last_payment_failure="LOST_OR_STOLEN_CARD"), 0) == ["od3"]
    assert replay(policy, owing("1.00", last_payment_failure="INSUFFICIENT_FUNDS"), 0) == ["active"]


def test_enforcement_off_stops_every_dunning_move() -> None:
    """``OVERDUE_ENFORCEMENT_OFF``: no step up, down or clear while the tag stands."""
    policy = four_states()
    c = owing("50.00", due_days_ago=40, control_tags=("OVERDUE_ENFORCEMENT_OFF",))
    assert sweep([c], policy, now=T0).plans == ()
    c.status = 103
    c.balance = D(0)
    assert sweep([c], policy, now=T0).plans == ()
    c.control_tags = ()
    assert replay(policy, c, 0) == ["active"]


def test_host_condition_by_name() -> None:
    """A step may name a registered host predicate; an unknown name is refused."""
    register_ladder_condition("disputed", lambda account, now: account.id.endswith("-D"))
    ladder = DunningLadder(
        [LadderStep("od2", condition="disputed"), LadderStep("od1", min_days=1)],
        order="first_match",
        deescalate="deescalate_dunning",
    )
    policy = AutomationPolicy(kill_bill_workflow(2), ladder=ladder)
    c = owing("1.00", due_days_ago=3)
    c.id = "KB-D"
    assert replay(policy, c, 0) == ["od2"]
    with pytest.raises(PolicyError, match=r"unknown-condition.*'disputd'.*did you mean"):
        DunningLadder([LadderStep("od1", condition="disputd")])


# -- ending in cancellation ------------------------------------------------------------------


def test_cancellation_must_be_declared() -> None:
    """A cancelling step needs ends_in_cancellation=True, and only the last step may."""
    with pytest.raises(PolicyError, match="implicit-cancellation"):
        DunningLadder([LadderStep("od1", min_days=1, cancel=LadderCancellation())])
    with pytest.raises(PolicyError, match="cancellation-not-final"):
        DunningLadder(
            [LadderStep("od1", min_days=1, cancel=LadderCancellation()), LadderStep("od2")],
            ends_in_cancellation=True,
        )
    with pytest.raises(PolicyError, match="no-cancellation"):
        DunningLadder([LadderStep("od1", min_days=1)], ends_in_cancellation=True)


def test_unclearable_final_step_only_when_it_cancels() -> None:
    """Every step must clear on payment, except a declared cancelling final step."""
    wf = KB3.extend(remove=[("settle", "od3")])
    ladder = tutorial().ladder
    assert ladder is not None
    AutomationPolicy(wf, ladder=ladder)  # od3 cancels: it need not clear
    plain = attrs.evolve(
        ladder,
        steps=[attrs.evolve(s, cancel=None) for s in ladder.steps],
        ends_in_cancellation=False,
    )
    with pytest.raises(PolicyError, match=r"uncleared-step.*'od3'"):
        AutomationPolicy(wf, ladder=plain)


def test_end_of_term_reads_the_term_and_end_of_period_the_cycle() -> None:
    """``end_of_term`` waits for the contract term (``contract_ends_at``), not the bill
    cycle; ``end_of_period`` waits for the cycle (``period_end``)."""
    for when, fact in (("end_of_term", "contract_ends_at"), ("end_of_period", "period_end")):
        ladder = attrs.evolve(
            tutorial().ladder,  # type: ignore[misc]
            steps=[
                LadderStep("od3", min_days=21, cancel=LadderCancellation("cancel", when=when)),
                LadderStep("od2", min_days=14),
                LadderStep("od1", min_days=10),
            ],
        )
        policy = AutomationPolicy(KB3, ladder=ladder)
        c = owing("10.00")
        c.contract_ends_at = T0 + 40 * DAY
        c.period_end = T0 + 30 * DAY
        setattr(c, fact, T0 + 25 * DAY)
        states = replay(policy, c, 26)
        assert states[21:] == ["od3", "od3", "od3", "od3", "canceled", "canceled"]


def test_end_of_term_without_a_term_is_an_account_error() -> None:
    """No term end to wait for: the account is reported (MissingFact), nothing moves."""
    ladder = attrs.evolve(
        tutorial().ladder,  # type: ignore[misc]
        steps=[
            LadderStep("od3", min_days=21, cancel=LadderCancellation(when="end_of_term")),
            LadderStep("od2", min_days=14),
            LadderStep("od1", min_days=10),
        ],
    )
    policy = AutomationPolicy(KB3, ladder=ladder)
    c = owing("10.00", due_days_ago=30)
    c.status = 103
    (plan,) = sweep([c], policy, now=T0).plans
    assert isinstance(plan.error, MissingFact) and plan.error.fact == "contract_ends_at"
    out = sweep_columns(columns_from_accounts([c]), policy, now=T0)
    assert out.error_row.tolist() == [0]


def test_cancellation_passes_its_refund_policy() -> None:
    """The cancellation's refund policy is the change's event data: a full refund of
    the period paid, through the workflow's own refund rule."""
    ladder = attrs.evolve(
        tutorial().ladder,  # type: ignore[misc]
        steps=[
            LadderStep("od3", min_days=21, cancel=LadderCancellation("cancel", refund="full")),
            LadderStep("od2", min_days=14),
            LadderStep("od1", min_days=10),
        ],
    )
    with pytest.raises(InvalidArgument, match="refund"):
        LadderCancellation(refund="half")
    wf = KB3.extend(
        remove=[("cancel", "od3")],
        transitions=[Transition("cancel", "od3", "canceled", effects=[RefundRule()])],
    ).with_defaults(timezone="UTC", currency="USD")  # the customers keep neither
    c = owing("10.00", due_days_ago=25)
    c.status = 103
    c.paid = D("10.00")
    c.period_start, c.period_end = T0 - 10 * DAY, T0 + 20 * DAY
    log = RecordingHooks()
    apply(sweep([c], AutomationPolicy(wf, ladder=ladder), now=T0), hooks=Hooks.from_object(log))
    (refund,) = [e for e in log.done.values() if isinstance(e, Refund)]
    assert refund.amount == D("10.00") and c.status == -2


# -- the graph -------------------------------------------------------------------------------


def test_graph_allows_steps_down_and_self_transitions_but_climbs_one_at_a_time() -> None:
    """Inside the ladder an edge may go down any number of steps or stay; going up it
    must be exactly one step, and the ladder is entered at step 1."""
    assert KB3.may(Customer("x", 101, T0), "change_plan")
    with pytest.raises(DefinitionError, match="dunning-step"):
        KB3.extend(transitions=[Transition("jump", "od1", "od3")])
    with pytest.raises(DefinitionError, match="dunning-step"):
        KB3.extend(transitions=[Transition("jump", "active", "od2")])
    KB3.extend(transitions=[Transition("forgive", "od3", "od1")])


def test_no_fixed_point_is_refused_with_the_loop() -> None:
    """An escalation that can skip a step and a step down past the target would walk
    forever for fixed facts: refused, naming the loop."""
    wf = KB3.extend(
        remove=[("escalate_dunning", "od1")],
        transitions=[
            Transition("escalate_dunning", "od1", "od2", guards=[has_payment_method()]),
            Transition("escalate_dunning", "od1", "od1", guards=[not_(has_payment_method())]),
        ],
    )
    ok = tutorial().ladder
    assert ok is not None
    with pytest.raises(PolicyError, match=r"no-fixed-point.*od1 -> od1"):
        AutomationPolicy(wf, ladder=ok)


def test_step_down_needs_an_edge() -> None:
    """A ladder that steps down needs a down transition from every step above 1."""
    wf = KB3.extend(remove=[("deescalate_dunning", "od3")])
    with pytest.raises(PolicyError, match=r"no-step-down.*'od3'"):
        AutomationPolicy(wf, ladder=tutorial().ladder)


def test_per_step_down_trigger() -> None:
    """A step can name its own down trigger (one name per edge)."""
    wf = KB3.extend(
        remove=[("deescalate_dunning", "od3")],
        transitions=[Transition("restore_service", "od3", "od2")],
    )
    base = by_balance().ladder
    assert base is not None
    steps = list(base.steps)
    steps[0] = attrs.evolve(steps[0], down="restore_service")
    policy = AutomationPolicy(wf, ladder=attrs.evolve(base, steps=steps))
    c = owing("600.00")
    c.status = 103
    (plan,) = sweep([c], policy, now=T0).plans
    assert [ch.trigger for ch in plan.changes] == ["restore_service"]


# -- properties ------------------------------------------------------------------------------

FACTS = st.tuples(
    st.integers(0, 60),
    st.sampled_from(["0", "1.00", "4.99", "5.00", "99.99", "100.00", "600", "1300"]),
    st.integers(0, 6),
    st.sampled_from([(), ("AUTO_PAY_OFF",), ("OVERDUE_ENFORCEMENT_OFF",)]),
    st.sampled_from([None, "INVALID_CARD", "INSUFFICIENT_FUNDS"]),
)


def _customer(i: int, status: int, facts: tuple[Any, ...]) -> Customer:
    days, amount, invoices, tags, failure = facts
    return Customer(
        id=f"KB-{i}",
        status=status,
        status_since=T0 - 3 * DAY,
        balance=D(amount),
        oldest_unpaid_at=T0 - days * DAY,
        unpaid_invoices=invoices,
        control_tags=tags,
        last_payment_failure=failure,
    )


@st.composite
def first_match_ladders(draw: st.DrawFn) -> DunningLadder:
    steps = []
    for i in (4, 3, 2, 1):
        kind = draw(st.sampled_from(["days", "balance", "invoices", "tags", "failure"]))
        options: dict[str, Any] = {
            "days": {"min_days": draw(st.integers(1, 40))},
            "balance": {"min_balance": D(draw(st.sampled_from(["5", "100", "500"])))},
            "invoices": {"min_invoices": draw(st.integers(1, 5))},
            "tags": {"with_tags": {"AUTO_PAY_OFF"}, "min_days": draw(st.integers(0, 9))},
            "failure": {"failure_reasons": {"INVALID_CARD"}},
        }[kind]
        steps.append(LadderStep(f"od{i}", **options))
    try:
        return DunningLadder(steps, order="first_match", deescalate="deescalate_dunning")
    except PolicyError:
        assume(False)
        raise


KB4 = kill_bill_workflow(4, blocked=(3, 4))


@given(first_match_ladders(), FACTS, st.integers(1, 104))
def test_first_match_reaches_a_fixed_point(
    ladder: DunningLadder, facts: tuple[Any, ...], start: int
) -> None:
    """From any status of the ladder and any fixed facts, one sweep walks the account to
    the step the ladder names (or leaves it, enforcement off); a second sweep finds
    nothing to do."""
    policy = AutomationPolicy(KB4, ladder=ladder)
    code = 1 if start <= 100 else start
    c = _customer(0, code, facts)
    apply(sweep([c], policy, now=T0))
    assert sweep([c], policy, now=T0).changes == 0
    days, amount, invoices, tags, failure = facts
    want = ladder.target(days, D(amount), invoices, tags=tags, failure=failure)
    if "OVERDUE_ENFORCEMENT_OFF" in tags:
        assert c.status == code
    elif want:
        assert c.status == 100 + want
    elif not c.balance:
        assert c.status == 1
    else:  # owed, but no step holds: payment must settle it first
        assert c.status == code


@given(st.lists(st.tuples(st.integers(0, 100), st.sampled_from(["0", "0.50", "80"])), max_size=8))
# Owing below every step in a suspended step: the clearing path (reinstate, then complete)
# must not start, or the account waits half-way home while it is past due again.
@example([(60, "0.50"), (0, "0.50"), (1, "0.50")])
def test_down_then_up_walks_only_legal_edges(days_and_amounts: list[tuple[int, str]]) -> None:
    """On the reference ISP ladder, facts that rise and fall move the account one step
    at a time in either direction (or home), each move an edge of the graph, and the
    account always ends on the step its facts name."""
    wf = isp.workflow()
    policy = AutomationPolicy(wf, ladder=reference_ladder())
    ladder = reference_ladder()
    steps = {1: 0, **{wf.catalog[s.status].code: i for i, s in enumerate(ladder.steps, 1)}}
    a = Account(id="A-1", status=1, status_since=T0 - 400 * DAY, payment_method="visa")
    edges = {(e.trigger, e.source.code, e.dest.code) for e in wf.transitions}
    for n, (days, amount) in enumerate(days_and_amounts):
        now = T0 + n * DAY
        a.balance = D(amount)
        a.oldest_unpaid_at = now - days * DAY if a.balance else None
        a.unpaid_invoices = 1 if a.balance else 0
        before = len(a.history)
        assert not apply(sweep([a], policy, now=now)).failed
        for h in list(a.history)[max(before, 1) :]:
            assert (h.trigger, h.source.code, h.dest.code) in edges
            if h.source.code in steps and h.dest.code in steps and h.dest.code != 1:
                assert abs(steps[h.dest.code] - steps[h.source.code]) == 1
        want = ladder.target(days if a.balance else None, a.balance, a.unpaid_invoices)
        if want:
            assert steps.get(a.status) == want
        elif not a.balance:
            assert a.status == 1
        # (an amount owed but not yet past due cannot settle: it stays on its step)


NESTED = DunningLadder(
    [
        LadderStep("od1", min_days=5),
        LadderStep("od2", min_days=10, min_balance=D("5.00")),
        LadderStep("od3", min_days=20, min_balance=D("5.00"), without_tags={"AUTO_PAY_OFF"}),
        LadderStep(
            "od4",
            min_days=30,
            min_balance=D("100.00"),
            failure_reasons={"INVALID_CARD"},
            cancel=LadderCancellation("cancel", when="end_of_period"),
        ),
    ],
    deescalate="deescalate_dunning",
    ends_in_cancellation=True,
)
LADDERS = st.one_of(
    first_match_ladders(),
    st.just(NESTED),
    st.just(  # the same conditions, most severe first, without the cancellation
        attrs.evolve(
            NESTED,
            steps=[attrs.evolve(s, cancel=None) for s in NESTED.steps[::-1]],
            ends_in_cancellation=False,
            order="first_match",
        )
    ),
)


@given(
    LADDERS,
    st.lists(
        st.tuples(st.integers(100, 104) | st.just(-2), FACTS, st.none() | st.integers(-3, 3)),
        max_size=8,
    ),
)
def test_column_wise_sweep_agrees_on_first_match_and_steps_down(
    ladder: DunningLadder, rows: list[tuple[int, tuple[Any, ...], int | None]]
) -> None:
    """The column-wise sweep decides as the per-account sweep, row for row: first match,
    steps down, control tags, failure reasons and a final cancellation included, and the
    same accounts reported (a cycle-end cancellation without a cycle end)."""
    policy = AutomationPolicy(KB4, ladder=ladder)
    book = []
    for i, (s, f, cycle) in enumerate(rows):
        c = _customer(i, 1 if s == 100 else s, f)
        c.period_end = None if cycle is None else T0 + cycle * DAY
        book.append(c)
    per: dict[int, list[tuple[str, str, int, int]]] = {}
    errors = set()
    for p in sweep(book, policy, now=T0):
        i = int(p.account_id.split("-")[1])
        per[i] = [(c.rule, c.trigger, c.source.code, c.dest.code) for c in p.changes]
        if p.error is not None:
            errors.add(i)
    per = {i: v for i, v in per.items() if v}
    out = sweep_columns(columns_from_accounts(book), policy, now=T0)
    assert out.decisions() == per
    assert set(out.error_row.tolist()) == errors


def test_a_closed_account_is_not_reported_for_a_cancellation_it_is_never_asked() -> None:
    """A canceled account still owing (its step would be the top one) with no period
    end: no ladder rule applies to a closed status, so the per-account sweep reports
    nothing; the column-wise sweep did when most rows were at the top step (it asked the
    cancellation of every row at once)."""
    policy = tutorial("last_holding")
    top = dict(balance=D("50"), oldest_unpaid_at=T0 - 30 * DAY, unpaid_invoices=1)
    book = [
        Customer(id=f"T-{i}", status=103, status_since=T0, period_end=T0 + 5 * DAY, **top)
        for i in range(6)
    ]
    book.append(Customer(id="C", status=-2, status_since=T0, period_end=None, **top))
    assert [p.account_id for p in sweep(book, policy, now=T0) if p.error is not None] == []
    out = sweep_columns(columns_from_accounts(book), policy, now=T0)
    assert out.error_row.tolist() == []
    assert out.decisions() == {}


# -- workflow files --------------------------------------------------------------------------


def test_ladders_round_trip_through_workflow_files() -> None:
    """Every ladder option survives a workflow file, TOML and JSON, and the file still
    loads as the workflow it was."""
    register_ladder_condition("disputed", lambda account, now: False)
    ladders = {
        "tutorial": tutorial().ladder,
        "four": four_states().ladder,
        "disputes": DunningLadder(
            [
                LadderStep("od2", condition="disputed", down="forgive"),
                LadderStep("od1", min_days=1),
            ],
            order="first_match",
            enforcement_off=None,
            deescalate="deescalate_dunning",
        ),
        "reference": reference_ladder(),
    }
    for fmt in ("toml", "json"):
        text = dump_workflow(KB3, format=fmt, ladders=ladders)  # type: ignore[arg-type]
        assert load_ladders(text, format=fmt) == ladders
        assert load_workflow(text, format=fmt) == KB3
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(
        workflow_document(KB3, ladders=ladders),  # type: ignore[arg-type]
        json_schema(),
    )


def test_ladder_file_errors_name_the_key() -> None:
    """A bad ladder in a file names the key path; a ladder that does not validate says
    why."""
    with pytest.raises(ConfigError, match=r"ladders\.x\.steps\[0\]\.min_days"):
        load_ladders('[ladders.x]\n[[ladders.x.steps]]\nstatus = "od1"\nmin_days = "ten"\n')
    with pytest.raises(ConfigError, match=r"ladders\.x: invalid order.*first_match"):
        load_ladders('[ladders.x]\norder = "worst_first"\n[[ladders.x.steps]]\nstatus = "od1"\n')
    with pytest.raises(ConfigError, match=r"(?s)ladders\.x.*not-monotone"):
        load_ladders(
            "[ladders.x]\n"
            '[[ladders.x.steps]]\nstatus = "od1"\nmin_days = 30\n'
            '[[ladders.x.steps]]\nstatus = "od2"\nmin_balance = "5.00"\n'
        )


def test_nightly_store_run_cancels_with_the_refund_as_apply_does() -> None:
    """The store's nightly run carries a ladder's cancellation out with its refund
    policy, as ``apply`` does: the same refund, the account canceled."""
    ladder = attrs.evolve(
        tutorial().ladder,  # type: ignore[misc]
        steps=[
            LadderStep("od3", min_days=21, cancel=LadderCancellation("cancel", refund="full")),
            LadderStep("od2", min_days=14),
            LadderStep("od1", min_days=10),
        ],
    )
    wf = KB3.extend(
        remove=[("cancel", "od3")],
        transitions=[Transition("cancel", "od3", "canceled", effects=[RefundRule()])],
    )
    facts = {
        "balance": D("10.00"),
        "unpaid_invoices": 1,
        "oldest_unpaid_at": T0 - 25 * DAY,
        "paid": D("10.00"),
        "period_start": T0 - 10 * DAY,
        "period_end": T0 + 20 * DAY,
        "timezone": "UTC",
        "currency": "USD",
    }
    store = MemoryStore(wf, facts={"KB-1": facts})
    store.open("KB-1", "od3", at=T0 - 2 * DAY, imported=True)
    report = store.run_automation(AutomationPolicy(wf, ladder=ladder), now=T0)
    assert dict(report.by_rule) == {"dunning_cancel": 1}
    assert store.load("KB-1").status == -2
    refunds = [e for c in store.history("KB-1") for e in c.effects if isinstance(e, Refund)]
    assert [r.amount for r in refunds] == [D("10.00")]


def test_operator_policy_file_takes_a_ladder_table(tmp_path: Any) -> None:
    """``acctstate run-automation``'s policy file accepts a ladder table in the form of a
    workflow file's ``[ladders.<name>]``; a bad one names its key."""
    from acctstate.world.store._cli import policy_from_file

    path = tmp_path / "policy.toml"
    path.write_text(
        'workflow = "isp"\n'
        "[policy.ladder]\n"
        'order = "first_match"\n'
        'deescalate = "deescalate_dunning"\n'
        "[[policy.ladder.steps]]\n"
        "status = 11\n"
        "min_balance = 5.00\n"
        "[[policy.ladder.steps]]\n"
        "status = 10\n"
        "min_days = 30\n",
        encoding="utf-8",
    )
    policy, _, _ = policy_from_file(path, lambda name: isp.workflow())
    assert policy.ladder is not None and policy.ladder.order == "first_match"
    assert policy.ladder.target(1, D("10.00"), 1) == 2
    path.write_text('[policy.ladder]\nsteps = [{ status = 10, min_days = "x" }]\n')
    with pytest.raises(ConfigError, match=r"policy\.ladder\.steps\[0\]\.min_days"):
        policy_from_file(path, lambda name: isp.workflow())
