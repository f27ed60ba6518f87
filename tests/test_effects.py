"""Effects: derived from the flags, declared by rules, keyed for idempotency, run through
the host's hooks before the status changes."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest

from acctstate.account import Account
from acctstate.effects import (
    EFFECT_RULES,
    Charge,
    Deprovision,
    Effect,
    FixedCharge,
    Hooks,
    Notice,
    Provision,
    RecordingHooks,
    Refund,
    SendNotice,
    StartBilling,
    StopBilling,
    StopUsageBilling,
    derive_flag_effects,
    describe_effects,
    dispatch,
    handled,
    register_effect_rule,
)
from acctstate.errors import EffectFailed, InvalidArgument
from acctstate.graph import Transition
from acctstate.history import StatusChange
from acctstate.refunds import Period
from acctstate.status import Status
from acctstate.workflow import Workflow

UTC = dt.UTC
DAY = dt.timedelta(days=1)


def in_status(wf: Workflow, status: str, at: dt.datetime, **fields: Any) -> Account:
    return wf.open("A-1", status, at=at - 10 * DAY, imported=True, **fields)


def kinds(change: StatusChange) -> list[str]:
    return [e.kind for e in change.effects]


# -- derived from the flags --------------------------------------------------------------


def test_flag_effects_over_every_pair_of_reference_statuses(wf: Workflow) -> None:
    """For all 33 x 33 pairs: each effect appears exactly when its flag flips that way."""
    for a, b in itertools.product(wf.catalog, repeat=2):
        got = {t.__name__ for t in derive_flag_effects(a, b)}
        expected = {
            name
            for name, flips in [
                ("Deprovision", a.provisioned and not b.provisioned),
                ("Provision", b.provisioned and not a.provisioned),
                ("StopBilling", a.billable and not b.billable),
                ("StartBilling", b.billable and not a.billable),
                ("StopUsageBilling", a.usage_billable and not b.usage_billable),
                ("StartUsageBilling", b.usage_billable and not a.usage_billable),
            ]
            if flips
        }
        assert got == expected, (a.name, b.name)


def test_stopping_comes_before_starting_and_service_before_billing() -> None:
    """Billing stops before de-provisioning; provisioning comes before billing starts."""
    off = Status(code=0, name="off", backend="suspended")
    on = Status(code=1, name="on", backend="active", provisioned=True, billable=True)
    assert [t.__name__ for t in derive_flag_effects(on, off)] == [
        "StopBilling",
        "StopUsageBilling",
        "Deprovision",
    ]
    assert [t.__name__ for t in derive_flag_effects(off, on)] == [
        "Provision",
        "StartBilling",
        "StartUsageBilling",
    ]


def test_cancelation_pending_keeps_usage_billing(wf: Workflow, t0: dt.datetime) -> None:
    """Seed 004 (2): provisioned but not billed; usage is still billed, so only recurring
    billing stops when cancellation is requested, and usage stops with the service."""
    acct = in_status(wf, "active", t0, period_end=t0 + DAY)
    change = wf.fire(acct, "request_cancelation", at=t0)
    assert kinds(change) == ["stop_billing"]
    done = wf.fire(acct, "complete_cancelation", at=t0 + DAY)
    assert kinds(done) == ["stop_usage_billing", "deprovision"]


def test_a_suspension_that_bills_usage_stops_only_recurring_billing(
    wf: Workflow, t0: dt.datetime
) -> None:
    """Seed 000's suspended back end: provisioned, not billed, usage still billed."""
    soft = Status(
        code=5,
        name="soft_suspended",
        backend="suspended",
        provisioned=True,
        billable=False,
        usage_billable=True,
    )
    custom = wf.extend(
        statuses=[soft],
        transitions=[
            Transition("soft_suspend", "active", "soft_suspended"),
            Transition("soft_resume", "soft_suspended", "active"),
        ],
    )
    acct = in_status(custom, "active", t0)
    assert kinds(custom.fire(acct, "soft_suspend", at=t0)) == ["stop_billing"]
    assert kinds(custom.fire(acct, "soft_resume", at=t0 + DAY)) == ["start_billing"]


def test_usage_follows_billing_unless_the_status_says_otherwise() -> None:
    """usage_billable defaults to billable; a temporary ban bills recurring but not usage."""
    assert Status(code=1, name="a", backend="active", billable=True).usage_billable is True
    assert Status(code=2, name="b", backend="active").usage_billable is False


# -- keys, plan and fire ----------------------------------------------------------------------


def test_keys_are_stable_unique_and_name_the_change(wf: Workflow, t0: dt.datetime) -> None:
    """The same change planned twice has the same keys, whatever time zone `at` is in."""
    acct = in_status(wf, "active", t0)
    data = {"refund": "full", "paid": Decimal("9.00"), "period": Period(t0 - DAY, t0 + DAY)}
    first = wf.plan(acct, "cancel", at=t0, **data)
    paris = t0.astimezone(dt.timezone(dt.timedelta(hours=1)))
    again = wf.plan(acct, "cancel", at=paris, **data)
    keys = [e.key for e in first.effects]
    assert keys == [e.key for e in again.effects]
    assert len(set(keys)) == len(keys) == 4
    assert keys[0] == f"A-1/cancel/{t0.isoformat()}/1#0"
    assert [e.key for e in wf.plan(acct, "cancel", at=t0 + DAY, **data).effects] != keys


def test_plan_returns_the_same_effects_and_runs_nothing(wf: Workflow, t0: dt.datetime) -> None:
    """plan is the preview of fire: same effects and keys, no hook called, status unchanged."""
    log = RecordingHooks()
    acct = in_status(wf, "active", t0)
    planned = wf.with_hooks(Hooks.from_object(log)).plan(acct, "suspend", at=t0)
    assert log.keys == [] and acct.status == 1
    fired = wf.fire(acct, "suspend", at=t0, hooks=Hooks.from_object(log))
    assert planned.effects == fired.effects
    assert log.keys == [e.key for e in fired.effects]


def test_hooks_run_in_order_before_the_status_changes(wf: Workflow, t0: dt.datetime) -> None:
    """Each hook sees the account still in its old status: the commit comes last."""
    acct = in_status(wf, "active", t0)
    seen: list[tuple[str, int]] = []

    class Host(RecordingHooks):
        def stop_billing(self, effect: StopBilling, change: StatusChange | None) -> None:
            seen.append((effect.kind, acct.status))

        def deprovision(self, effect: Deprovision, change: StatusChange | None) -> None:
            seen.append((effect.kind, acct.status))

    wf.fire(acct, "suspend", at=t0, hooks=Hooks.from_object(Host()))
    assert seen == [("stop_billing", 1), ("deprovision", 1)]
    assert acct.status == -1


def test_the_workflows_hooks_are_the_default_and_fire_may_override(
    wf: Workflow, t0: dt.datetime
) -> None:
    """with_hooks registers hooks on the workflow; hooks= on fire takes precedence."""
    default, special = RecordingHooks(), RecordingHooks()
    hooked = wf.with_hooks(Hooks.from_object(default))
    a = in_status(hooked, "active", t0)
    hooked.fire(a, "suspend", at=t0)
    b = wf.open("B-2", "active", at=t0 - DAY, imported=True)
    hooked.fire(b, "suspend", at=t0, hooks=Hooks.from_object(special))
    assert [k.split("/")[0] for k in default.keys] == ["A-1"] * 3
    assert [k.split("/")[0] for k in special.keys] == ["B-2"] * 3


def test_effects_without_a_hook_stay_on_the_change_for_the_host(
    wf: Workflow, t0: dt.datetime
) -> None:
    """Only billing is hooked: billing effects run, deprovision is left for the outbox."""
    log = RecordingHooks()
    acct = in_status(wf, "active", t0)
    hooks = Hooks(billing=log)
    change = wf.fire(acct, "suspend", at=t0, hooks=hooks)
    assert [e.kind for e in log.done.values()] == ["stop_billing", "stop_usage_billing"]
    assert [e.kind for e in handled(change, hooks)] == ["stop_billing", "stop_usage_billing"]
    assert kinds(change)[-1] == "deprovision"


# -- failure ---------------------------------------------------------------------------------


class Flaky(RecordingHooks):
    """Records effects, but refuses the kind named ``fail``."""

    def __init__(self, fail: str) -> None:
        super().__init__()
        self.fail = fail

    def _record(self, effect: Effect) -> None:
        if effect.kind == self.fail:
            raise ConnectionError(f"{self.fail} is down")
        super()._record(effect)


def test_a_failing_hook_leaves_the_old_status_and_says_what_ran(
    wf: Workflow, t0: dt.datetime
) -> None:
    """EffectFailed lists ran / failed / not run with keys; status and history unchanged."""
    acct = in_status(wf, "active", t0)
    before = (acct.status, acct.status_since, list(acct.history))
    host = Flaky("stop_usage_billing")
    with pytest.raises(
        EffectFailed,
        match=r"effect 'A-1/suspend/.*#1' failed \(ConnectionError: stop_usage_billing is down\); "
        r"account 'A-1' keeps status 'active'; ran: 'A-1/suspend/.*#0'; not run: '.*#2'",
    ) as info:
        wf.fire(acct, "suspend", at=t0, hooks=Hooks.from_object(host))
    err = info.value
    assert [e.kind for e in err.ran] == ["stop_billing"]
    assert err.failed.kind == "stop_usage_billing"
    assert [e.kind for e in err.not_run] == ["deprovision"]
    assert isinstance(err.__cause__, ConnectionError) and err.cause is err.__cause__
    assert (acct.status, acct.status_since, list(acct.history)) == before
    assert host.keys == [e.key for e in err.ran]


def test_a_retry_after_failure_runs_only_what_did_not_run(wf: Workflow, t0: dt.datetime) -> None:
    """The host records keys: retrying the same change completes it without repeating."""
    acct = in_status(wf, "active", t0)
    data = {"refund": "full", "paid": Decimal("9.00"), "period": Period(t0 - DAY, t0 + DAY)}
    host = Flaky("refund")
    with pytest.raises(EffectFailed):
        wf.fire(acct, "cancel", at=t0, hooks=Hooks.from_object(host), **data)
    host.fail = ""
    change = wf.fire(acct, "cancel", at=t0, hooks=Hooks.from_object(host), **data)
    assert host.keys == [e.key for e in change.effects]
    assert len(host.skipped) == 3  # stop billing, stop usage, deprovision: not run twice
    assert acct.status == wf.catalog["canceled"].code


def test_a_hook_object_missing_a_method_is_refused_before_anything_runs(
    wf: Workflow, t0: dt.datetime
) -> None:
    """A billing system without stop_usage_billing: refused up front, nothing ran."""
    ran: list[str] = []

    class Partial:
        def stop_billing(self, effect: Effect, change: StatusChange) -> None:
            ran.append(effect.key)

    acct = in_status(wf, "active", t0)
    with pytest.raises(InvalidArgument, match=r"invalid hooks.billing: .*stop_usage_billing"):
        wf.fire(acct, "suspend", at=t0, hooks=Hooks(billing=Partial()))  # type: ignore[arg-type]
    assert ran == [] and acct.status == 1


def test_dispatch_returns_what_ran() -> None:
    """dispatch runs hooked effects in order and returns them."""
    a = Status(code=1, name="a", backend="active", provisioned=True)
    b = Status(code=2, name="b", backend="suspended")
    at = dt.datetime(2026, 1, 1, tzinfo=UTC)
    effects = (Deprovision(key="k#0"), Notice(template="bye", key="k#1"))
    change = StatusChange("A-1", a, b, "go", at, effects=effects)
    log = RecordingHooks()
    assert dispatch(change, Hooks(provisioning=log)) == (effects[0],)
    assert dispatch(change, Hooks()) == ()


# -- declared rules ----------------------------------------------------------------------------


def test_declared_rules_add_effects_after_the_flag_effects(wf: Workflow, t0: dt.datetime) -> None:
    """A reconnect fee and a notice on lift_ban, keyed after the derived effects."""
    fee = FixedCharge(amount=Decimal("15.00"), description="reconnect fee")
    custom = wf.extend(
        transitions=[
            Transition(
                "lift_ban_with_fee",
                "temporary_ban",
                "active",
                effects=[fee, SendNotice(template="welcome_back")],
            )
        ]
    )
    acct = in_status(custom, "temporary_ban", t0)
    change = custom.fire(acct, "lift_ban_with_fee", at=t0)
    assert kinds(change) == ["provision", "start_usage_billing", "charge", "notice"]
    charge = change.effects[2]
    assert isinstance(charge, Charge) and charge.amount == Decimal("15.00")
    assert charge.key.endswith("#2")


def test_every_registered_rule_rebuilds_from_its_name_and_kwargs() -> None:
    """Workflow files name rules: EFFECT_RULES[name](**kwargs) gives an equal rule."""
    import acctstate.refunds  # noqa: F401  (registers the money rules)

    samples = [
        FixedCharge(amount="2.50", currency="EUR"),
        SendNotice(template="t"),
        *(EFFECT_RULES[n]() for n in ("refund_policy", "forward_bill", "back_bill")),
    ]
    for rule in samples:
        assert EFFECT_RULES[rule.name](**rule.kwargs) == rule
    assert {"fixed_charge", "notice", "refund_policy", "forward_bill", "back_bill"} <= set(
        EFFECT_RULES
    )


def test_a_rule_name_cannot_be_taken_twice() -> None:
    """Registering another factory under a taken name is refused."""
    with pytest.raises(InvalidArgument, match=r"invalid name: got 'notice'"):
        register_effect_rule("notice")(lambda: None)
    assert EFFECT_RULES["notice"] is SendNotice


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Refund(amount=1.5), r"invalid amount: got 1.5"),  # type: ignore[arg-type]
        (lambda: Charge(amount=Decimal("-1")), r"invalid amount: got Decimal\('-1'\)"),
        (lambda: Refund(amount=Decimal("1"), currency="usd"), r"invalid currency"),
        (lambda: FixedCharge(amount=2.5), r"invalid amount: got 2.5"),  # type: ignore[arg-type]
    ],
)
def test_money_effects_refuse_float_and_negative_amounts(make: Any, match: str) -> None:
    """Effects carry exact, non-negative Decimal money."""
    with pytest.raises(InvalidArgument, match=match):
        make()


def test_describe_effects_lists_flags_then_rule_names(wf: Workflow) -> None:
    """What a transition implies, without an account: kinds, then rule names."""
    edge = next(e for e in wf.transitions if e.trigger == "reinstate_forward")
    assert describe_effects(edge.source, edge.dest, edge.effects) == (
        "start_billing",
        "forward_bill",
    )
    assert describe_effects(edge.dest, edge.dest) == ()


def test_provision_and_start_billing_when_activating(wf: Workflow, t0: dt.datetime) -> None:
    """service_order_complete -> active: billing starts (the line is already provisioned)."""
    acct = in_status(wf, "service_order_complete", t0)
    change = wf.plan(acct, "activate", at=t0)
    assert kinds(change) == ["start_billing", "start_usage_billing"]
    assert isinstance(change.effects[0], StartBilling)
    assert not any(isinstance(e, Provision | StopUsageBilling) for e in change.effects)
