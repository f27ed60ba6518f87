"""Automation policies, the dunning ladder, credit hold and the per-account sweep."""

from __future__ import annotations

import datetime as dt
import gc
from decimal import Decimal

import attrs
import pytest

from _workflows import hold_workflow
from acctstate.account import Account
from acctstate.actors import Actor
from acctstate.automation import (
    AutomationPolicy,
    CreditHold,
    DunningLadder,
    HoldRelease,
    LadderStep,
    PlanOutdated,
    PolicyError,
    apply,
    reference_ladder,
    sweep,
)
from acctstate.errors import InvalidArgument
from acctstate.presets import isp
from acctstate.workflow import Workflow

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def hold_policy(wf: Workflow, **changes: object) -> AutomationPolicy:
    hold = CreditHold(
        past_due_days=30, min_past_due=Decimal("100"), inactive_after_days=60, auto_remove=True
    )
    hold = attrs.evolve(hold, **changes)
    return AutomationPolicy(wf, account_class="commercial", credit_hold=hold)


def isp_policy(wf: Workflow, **options: object) -> AutomationPolicy:
    options.setdefault("ladder", reference_ladder())
    return AutomationPolicy(
        wf,
        trial_end="end_trial",
        contract_expiry="expire_contract",
        archive="archive",
        **options,  # type: ignore[arg-type]
    )


def acct(status: int, *, since_days: float = 400, **facts: object) -> Account:
    return Account(
        id=str(facts.pop("id", "A-1")),
        status=status,
        status_since=NOW - dt.timedelta(days=since_days),
        **facts,  # type: ignore[arg-type]
    )


def late(days: int, status: int = 1, **facts: object) -> Account:
    facts.setdefault("balance", Decimal("80.00"))
    facts.setdefault("unpaid_invoices", 2)
    return acct(status, oldest_unpaid_at=NOW - days * DAY, **facts)


# -- the ladder ---------------------------------------------------------------------------


def test_ladder_step_is_last_whose_conditions_hold() -> None:
    """The step is the last step whose every condition holds; none means clear."""
    ladder = DunningLadder(
        [
            LadderStep(10, min_days=1),
            LadderStep(11, min_days=15, min_balance=Decimal("50")),
            LadderStep(12, min_days=15, min_balance=Decimal("50"), min_invoices=3),
        ]
    )
    assert ladder.target(20, Decimal("60"), 2) == 2
    assert ladder.target(20, Decimal("60"), 3) == 3
    assert ladder.target(20, Decimal("40"), 3) == 1
    assert ladder.target(0, Decimal("40"), 3) == 0
    assert ladder.target(None, Decimal("40"), 3) == 0
    assert ladder.target(90, Decimal("0"), 3) == 0


def test_ladder_that_decreases_is_refused_with_reason() -> None:
    """A later step asking less than an earlier one is refused, naming both."""
    with pytest.raises(PolicyError, match=r"step 2 \(11\) lowers min_balance below step 1") as e:
        DunningLadder(
            [LadderStep(10, min_balance=Decimal("50")), LadderStep(11, min_balance=Decimal("5"))]
        )
    assert e.value.rules == {"not-monotone"}
    assert isinstance(e.value, ValueError)


def test_shadowed_step_is_refused_as_unreachable() -> None:
    """Two steps with the same thresholds: the first can never be the last that holds."""
    with pytest.raises(PolicyError, match=r"step 1 \(10\) can never be reached") as e:
        DunningLadder([LadderStep(10, min_days=5), LadderStep(11, min_days=5)])
    assert "unreachable-step" in e.value.rules


def test_step_requiring_nothing_and_empty_ladder_are_refused() -> None:
    """A first step with no threshold, or no step at all, is refused."""
    with pytest.raises(PolicyError, match="requires nothing"):
        DunningLadder([LadderStep(10)])
    with pytest.raises(PolicyError, match="at least one step"):
        DunningLadder([])


def test_step_thresholds_are_typed() -> None:
    """Negative days and float money are refused when a step is built."""
    with pytest.raises(InvalidArgument, match="non-negative int"):
        LadderStep(10, min_days=-1)
    with pytest.raises(InvalidArgument, match="float money is refused"):
        LadderStep(10, min_balance=5.0)  # type: ignore[arg-type]


def test_step_mapping_outside_workflow_is_refused(wf: Workflow) -> None:
    """A step naming a status the workflow lacks is refused with the name."""
    ladder = DunningLadder([LadderStep(10, min_days=1), LadderStep("dunning_9", min_days=9)])
    with pytest.raises(PolicyError, match="ladder step 2 names unknown status 'dunning_9'"):
        AutomationPolicy(wf, ladder=ladder)


def test_step_the_graph_cannot_reach_is_refused(wf: Workflow) -> None:
    """Skipping a rung of the graph's ladder (10 -> 12) can never happen: refused."""
    ladder = DunningLadder([LadderStep(10, min_days=1), LadderStep(12, min_days=30)])
    with pytest.raises(PolicyError, match=r"step 2 \('active_dunning_2'\) can never be reached"):
        AutomationPolicy(wf, ladder=ladder)


def test_step_that_cannot_be_cleared_is_refused(wf: Workflow) -> None:
    """Without the reinstatement path, suspended dunning can never be cleared."""
    ladder = attrs.evolve(reference_ladder(), clear=("settle",))
    with pytest.raises(PolicyError) as e:
        AutomationPolicy(wf, ladder=ladder)
    assert e.value.rules == {"uncleared-step"}
    assert len(e.value.problems) == 3
    assert "step 5 ('suspended_dunning_1') can never be cleared" in str(e.value)


def test_every_problem_is_listed_at_once(wf: Workflow) -> None:
    """Unknown triggers and statuses are all reported by one error."""
    ladder = DunningLadder([LadderStep("nope", min_days=1)], escalate="escalat")
    with pytest.raises(PolicyError, match=r"\(3 problems\)") as e:
        AutomationPolicy(wf, ladder=ladder, archive="archve", account_class="gold")
    assert e.value.rules == {"unknown-status", "unknown-trigger"}
    assert e.value.account_class == "gold"
    assert "for account class 'gold'" in str(e.value)


# -- the ISP ladder through the sweep ----------------------------------------------------


def test_sixty_days_late_walks_each_step_and_records_it(wf: Workflow) -> None:
    """A jump of several steps is carried out one transition per step, each recorded
    by the system actor with the rule in the note."""
    account = late(60)
    plan = sweep([account], isp_policy(wf), now=NOW)
    assert [c.dest.code for c in plan.plans[0].changes] == [10, 11, 12, 13, -11]
    outcome = apply(plan)
    assert outcome.changes == 5 and not outcome.failed
    assert account.status == -11
    walked = [(c.source.code, c.dest.code) for c in account.history if not c.is_opening]
    assert walked == [(1, 10), (10, 11), (11, 12), (12, 13), (13, -11)]
    assert all(c.automatic and c.note == "automation: dunning" for c in account.history[1:])
    # Effects come from the step that de-provisions (13 -> -11), through the graph.
    kinds = [e.kind for e in account.history[-1].effects]
    assert "deprovision" in kinds


def test_paid_account_is_settled_home(wf: Workflow) -> None:
    """Active dunning with nothing owed is settled back to active."""
    account = acct(12, balance=Decimal("0"))
    plan = sweep([account], isp_policy(wf), now=NOW)
    assert [(c.rule, c.trigger, c.dest.name) for c in plan.plans[0].changes] == [
        ("dunning_clear", "settle", "active")
    ]


def test_suspended_dunning_clears_through_reinstatement(wf: Workflow) -> None:
    """Suspended dunning, paid, with a card: reinstate_back then complete_reinstatement."""
    account = acct(-12, balance=Decimal("0"), payment_method="visa")
    apply(sweep([account], isp_policy(wf), now=NOW))
    assert [c.trigger for c in account.history][1:] == ["reinstate_back", "complete_reinstatement"]
    assert account.status == 1


def test_clearing_refused_by_guard_is_reported_not_forced(wf: Workflow) -> None:
    """No payment method: reinstate_back is refused; the plan says why, nothing moves."""
    account = acct(-12, balance=Decimal("0"))
    plan = sweep([account], isp_policy(wf), now=NOW)
    (only,) = plan.plans
    assert only.changes == ()
    (blocked,) = only.blocked
    assert (blocked.rule, blocked.trigger) == ("dunning_clear", "reinstate_back")
    assert "no payment method on file" in str(blocked)
    assert apply(plan).changes == 0 and account.status == -12


def test_lower_step_walks_back_down(wf: Workflow) -> None:
    """A partial payment lowers the step: the reference ladder walks down one recorded
    step at a time; a ladder without a step-down trigger leaves the account where it is."""
    account = late(20, status=12)
    (only,) = sweep([account], isp_policy(wf), now=NOW).plans
    assert [(c.rule, c.trigger, c.dest.name) for c in only.changes] == [
        ("dunning_down", "deescalate_dunning", "active_dunning_1")
    ]
    climbing_only = attrs.evolve(reference_ladder(), deescalate=None)
    assert sweep([account], isp_policy(wf, ladder=climbing_only), now=NOW).plans == ()


def test_ladder_conditions_on_balance_and_invoices() -> None:
    """Steps can ask for a balance and a number of invoices, not only days."""
    wf = isp.workflow()
    ladder = DunningLadder(
        [
            LadderStep(10, min_days=1),
            LadderStep(11, min_days=1, min_invoices=3),
            LadderStep(12, min_days=1, min_invoices=3, min_balance=Decimal("500")),
        ]
    )
    policy = AutomationPolicy(wf, ladder=ladder)
    two = late(5, unpaid_invoices=2, id="two")
    three = late(5, unpaid_invoices=3, id="three")
    rich = late(5, unpaid_invoices=3, balance=Decimal("500.00"), id="rich")
    plan = sweep([two, three, rich], policy, now=NOW)
    assert {p.account_id: p.final.code for p in plan if p.final} == {
        "two": 10,
        "three": 11,
        "rich": 12,
    }


# -- other rules --------------------------------------------------------------------------


def test_trial_end_goes_active_with_card_else_canceled(wf: Workflow) -> None:
    """End of trial follows the workflow's guarded branches."""
    ended = NOW - DAY
    paying = acct(41, trial_ends_at=ended, payment_method="visa", id="paying")
    leaving = acct(41, trial_ends_at=ended, id="leaving")
    running = acct(41, trial_ends_at=NOW + DAY, id="running")
    plan = sweep([paying, leaving, running], isp_policy(wf), now=NOW)
    assert {p.account_id: (p.changes[0].rule, p.final.name) for p in plan if p.final} == {
        "paying": ("trial_end", "active"),
        "leaving": ("trial_end", "canceled"),
    }


def test_contract_expiry_and_archive_after_180_days(wf: Workflow) -> None:
    """Contract expiry fires on the date; the expired account is archived 180 days later."""
    account = acct(1, contract_ends_at=NOW - DAY)
    apply(sweep([account], isp_policy(wf), now=NOW))
    assert account.status == -4
    assert sweep([account], isp_policy(wf), now=NOW + 179 * DAY).plans == ()
    plan = sweep([account], isp_policy(wf), now=NOW + 180 * DAY)
    assert [(c.rule, c.dest.name) for c in plan.plans[0].changes] == [("archive", "archived")]


def test_expiration_date_and_availability_after_first_use(wf: Workflow) -> None:
    """Seed 001: an expiry date, or N days after first use, fires the expiration trigger."""
    policy = isp_policy(wf, expiration="deactivate")
    dated = acct(1, expires_at=NOW, id="dated")
    used = acct(1, first_used_at=NOW - 30 * DAY, availability_days=30, id="used")
    fresh = acct(1, first_used_at=NOW - 29 * DAY, availability_days=30, id="fresh")
    plan = sweep([dated, used, fresh], policy, now=NOW)
    assert sorted(p.account_id for p in plan) == ["dated", "used"]
    assert all(p.changes[0].rule == "expiration" for p in plan)


def test_disabled_policy_and_other_classes_are_left_alone(wf: Workflow) -> None:
    """Automatic updates off, or an account of another class: nothing is planned."""
    account = late(60, account_class="residential")
    assert sweep([account], isp_policy(wf, enabled=False), now=NOW).plans == ()
    assert sweep([account], isp_policy(wf, account_class="business"), now=NOW).plans == ()
    both = [isp_policy(wf, account_class="business"), isp_policy(wf, enabled=False)]
    assert sweep([account], both, now=NOW).plans == ()
    assert sweep([account], isp_policy(wf, account_class="residential"), now=NOW).changes == 5


def test_two_policies_for_one_class_are_refused(wf: Workflow) -> None:
    """Each account class has at most one policy."""
    with pytest.raises(InvalidArgument, match="at most one policy per account class"):
        sweep([], [isp_policy(wf), isp_policy(wf)], now=NOW)


def test_bad_facts_are_reported_per_account(wf: Workflow) -> None:
    """A host object with float money is reported, the other accounts still planned."""

    class Host:
        id = "H-1"
        status = 1
        balance = 12.5
        oldest_unpaid_at = NOW - 40 * DAY

    plan = sweep([Host(), late(20)], isp_policy(wf), now=NOW)
    bad, good = plan.plans
    assert isinstance(bad.error, InvalidArgument) and "float money" in str(bad.error)
    assert good.final is not None and good.final.code == 11


def test_naive_now_is_refused(wf: Workflow) -> None:
    """The sweep's instant must be timezone-aware."""
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        sweep([], isp_policy(wf), now=dt.datetime(2026, 1, 1))


# -- apply --------------------------------------------------------------------------------


def test_apply_refuses_an_outdated_plan_and_changes_nothing(wf: Workflow) -> None:
    """An account moved since the sweep is not moved again from the wrong place."""
    account = late(20)
    plan = sweep([account], isp_policy(wf), now=NOW)
    account.status = 13  # moved by someone else since the sweep
    outcome = apply(plan)
    (failed,) = outcome.failed
    assert isinstance(failed.error, PlanOutdated)
    assert "expected status 'active' (1) but the account is in 'active_dunning_3'" in str(
        failed.error
    )
    assert account.status == 13 and len(account.history) == 0


def test_apply_respects_a_payment_that_arrived_after_the_sweep(wf: Workflow) -> None:
    """The card was removed after planning: end_trial would now cancel; apply refuses."""
    account = acct(41, trial_ends_at=NOW - DAY, payment_method="visa")
    plan = sweep([account], isp_policy(wf), now=NOW)
    account.payment_method = None
    (failed,) = apply(plan).failed
    assert "now leads to 'canceled'" in str(failed.error)
    assert account.status == 41


def test_apply_runs_hooks_and_records_actor(wf: Workflow) -> None:
    """Automated changes are recorded as the policy's actor and reason."""
    bot = Actor.system("nightly")
    account = late(60)
    apply(sweep([account], isp_policy(wf, actor=bot, reason="auto"), now=NOW))
    assert {(c.actor, c.reason) for c in account.history[1:]} == {(bot, "auto")}


# -- credit hold (seed 002) on a workflow that has it -------------------------------------


def test_credit_hold_placed_after_days_when_amount_reached() -> None:
    """Placement needs both: N days past due and at least M past due."""
    wf = hold_workflow()
    policy = hold_policy(wf)
    base = {"account_class": "commercial", "unpaid_invoices": 1}
    due = late(30, balance=Decimal("100"), id="due", **base)
    small = late(90, balance=Decimal("99.99"), id="small", **base)
    early = late(29, balance=Decimal("500"), id="early", **base)
    plan = sweep([due, small, early], policy, now=NOW)
    assert [(p.account_id, p.final.name) for p in plan if p.final] == [("due", "credit_hold")]
    assert plan.by_rule() == {"credit_hold": 1}


def test_credit_hold_removed_when_paid_unless_turned_off() -> None:
    """Automatic removal lifts a paid hold; with it off the hold stays."""
    wf = hold_workflow()
    paid = acct(7, balance=Decimal("0"), account_class="commercial", since_days=3)
    assert sweep([paid], hold_policy(wf), now=NOW).plans[0].final.name == "active"
    assert sweep([paid], hold_policy(wf, auto_remove=False), now=NOW).plans == ()


def test_inactive_after_days_on_hold() -> None:
    """A hold that lasts N days moves the account to inactive."""
    wf = hold_workflow()
    held = late(120, status=7, balance=Decimal("300"), account_class="commercial", since_days=60)
    plan = sweep([held], hold_policy(wf), now=NOW)
    assert [(c.rule, c.dest.name) for c in plan.plans[0].changes] == [
        ("credit_hold_inactive", "inactive")
    ]
    assert sweep([held], hold_policy(wf), now=NOW - DAY).plans == ()


def test_temporary_release_resumes_service_then_hold_returns_unless_paid() -> None:
    """Service resumes inside the window; after it the hold comes back, unless paid."""
    wf = hold_workflow()
    start, end = NOW, NOW + 7 * DAY
    policy = hold_policy(wf, releases=[HoldRelease("A-1", start, end)])
    held = late(45, status=7, balance=Decimal("300"), account_class="commercial", since_days=2)
    apply(sweep([held], policy, now=NOW))
    assert held.status == 1
    assert sweep([held], policy, now=NOW + 3 * DAY).plans == ()  # still inside the window
    back = sweep([held], policy, now=end)
    assert [(c.rule, c.dest.name) for c in back.plans[0].changes] == [
        ("credit_hold", "credit_hold")
    ]
    held.balance = Decimal("0")
    assert sweep([held], policy, now=end).plans == ()


def test_credit_hold_settings_checked_against_the_workflow() -> None:
    """Triggers that lead elsewhere and empty windows are refused with the reason."""
    wf = hold_workflow()
    with pytest.raises(PolicyError, match="leads nowhere into the hold status") as e:
        hold_policy(wf, place="close")
    assert e.value.rules == {"no-transition"}
    with pytest.raises(PolicyError, match="has no transition from the hold status"):
        hold_policy(wf, deactivate="close")
    with pytest.raises(PolicyError, match="can never be in force"):
        hold_policy(wf, releases=[HoldRelease("A-1", NOW, NOW)])
    with pytest.raises(PolicyError, match="names unknown status 'credit_hold'"):
        AutomationPolicy(isp.workflow(), credit_hold=CreditHold(past_due_days=30))


# -- the daily run ------------------------------------------------------------------------


def test_daily_run_time_in_operator_zone() -> None:
    """The run time is read in the operator's zone, across a DST change."""
    policy = AutomationPolicy(isp.workflow(), run_at=dt.time(1, 30), timezone="America/New_York")
    before = dt.datetime(2026, 3, 7, 12, 0, tzinfo=dt.UTC)
    runs = policy.runs(before, before + 2 * DAY)
    assert [r.astimezone(dt.UTC).hour for r in runs] == [6, 5]  # EST, then EDT
    assert policy.next_run(runs[0]) == runs[1]


def test_run_settings_are_validated(wf: Workflow) -> None:
    """An unknown zone or an aware run time is refused at build time."""
    with pytest.raises(InvalidArgument, match="IANA time zone"):
        AutomationPolicy(wf, timezone="Mars/Olympus")
    with pytest.raises(InvalidArgument, match="without tzinfo"):
        AutomationPolicy(wf, run_at=dt.time(2, 0, tzinfo=dt.UTC))


def test_equal_policies_on_differently_clocked_workflows_fire_through_their_own() -> None:
    """Compiled policies are cached by identity: an equal policy on a workflow with another
    clock applies through its own workflow (regression: it used to reuse the first one)."""
    import datetime as dt

    from acctstate.automation import AutomationPolicy, apply, sweep
    from acctstate.clock import FixedClock
    from acctstate.presets import isp

    t = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    base = isp.workflow()
    first = base.with_clock(FixedClock(t))
    second = base.with_clock(FixedClock(t + dt.timedelta(hours=5)))
    p1 = AutomationPolicy(first, archive="archive")
    p2 = AutomationPolicy(second, archive="archive")
    assert p1 == p2
    sweep([], p1, now=t)  # compile p1 first
    acct = second.open("Z-1", "canceled", at=t - dt.timedelta(days=200), imported=True)
    apply(sweep([acct], p2, now=t))
    assert acct.history[-1].recorded_at == t + dt.timedelta(hours=5)


def test_apply_leaves_the_garbage_collector_as_it_found_it() -> None:
    """Apply holds the cyclic collector off while it runs and restores it: enabled stays
    enabled, disabled stays disabled, a failing hook and an outdated plan included."""
    from acctstate.effects import Hooks, RecordingHooks

    class Boom(RecordingHooks):
        def deprovision(self, effect: object, change: object) -> None:
            raise RuntimeError("switch down")

    wf = isp.workflow()
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            gc.enable() if enabled else gc.disable()
            suspended, moved = late(70, id="A-1"), late(20, id="A-2")
            plan = sweep([suspended, moved], isp_policy(wf), now=NOW)
            moved.status = 11  # changed outside the plan: its plan is outdated
            failed = apply(plan, hooks=Hooks.from_object(Boom())).failed
            assert [type(r.error).__name__ for r in failed] == ["EffectFailed", "PlanOutdated"]
            assert gc.isenabled() is enabled
            outcome = apply(sweep([late(20, id="A-3")], isp_policy(wf), now=NOW))
            assert outcome.changes == 2 and not outcome.failed  # 1 -> 10 -> 11
            assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
