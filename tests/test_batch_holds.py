"""Batch changes honour standing holds exactly as ``Workflow.fire`` does.

A hold blocking ``changes`` refuses a batch status change made by a person (or with no
actor) and lets a system actor through; a hold blocking ``billing`` or ``service`` takes
``StopBilling`` / ``Deprovision`` out of a move off an active status and ``StartBilling`` /
``Provision`` out of a move onto one. Accounts without holds keep the per-status fast
path. A differential test holds batch ``preview`` and ``apply`` on every account of a
random book (plain accounts and host objects, random standing holds) to ``wf.fire`` (or
``wf.move_to``) of the same change on a twin account.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import acctstate
from acctstate.actors import Actor
from acctstate.batch import (
    Action,
    ChangeStatus,
    FireTrigger,
    Mode,
    OutcomeKind,
    apply,
    preview,
    select,
)
from acctstate.errors import AcctStateError, GuardRefused
from acctstate.graph import Transition
from acctstate.guards import has_payment_method
from acctstate.history import History
from acctstate.holds import STANDARD_HOLDS, place_hold
from acctstate.presets import isp
from acctstate.status import Status
from acctstate.workflow import Workflow

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
AT = T0 + 10 * DAY
CLOCK = acctstate.FixedClock(AT + DAY)
CLERK = Actor("u-7", permissions={"place_fraud_hold"})


def prepaid() -> Workflow:
    """Plain moves decided from the table, a guard, a permission and a reason code."""
    T = Transition
    return Workflow(
        statuses=[
            Status(code=0, name="inactive", backend="pending"),
            Status(
                code=1,
                name="active",
                backend="active",
                provisioned=True,
                billable=True,
                usage_billable=True,
            ),
            Status(code=2, name="blocked", backend="suspended", billable=True),
            Status(code=3, name="paused", backend="active", provisioned=True),
            Status(code=-1, name="suspended", backend="suspended"),
            Status(code=-3, name="terminated", backend="closed", terminal=True),
        ],
        transitions=[
            T("activate", "inactive", "active"),
            T("block", "active", "blocked"),
            T("unblock", "blocked", "active", guards=[has_payment_method()]),
            T("pause", "active", "paused"),
            *T.many("resume", ["paused", "suspended"], "active"),
            *T.many("suspend", ["active", "blocked", "paused"], "suspended"),
            T("write_off", "suspended", "terminated", reasons={"bad_debt"}),
            *T.many(
                "terminate",
                ["inactive", "active", "blocked", "paused"],
                "terminated",
                permission="terminate_accounts",
            ),
        ],
        initial=["inactive"],
        name="prepaid_held",
    )


WORKFLOWS = {
    "prepaid": prepaid().with_holds(STANDARD_HOLDS).with_clock(CLOCK),
    "isp": isp.workflow().with_holds(STANDARD_HOLDS).with_clock(CLOCK),
}
ISP_STATUSES = [
    "active",
    "suspended",
    "inactive",
    "canceled",
    "active_dunning_1",
    "temporary_ban",
    "active_non_billable",
    "active_trial",
    "service_order_complete",
]
ISP_TRIGGERS = ["suspend", "cancel", "reactivate", "lift_ban", "make_billable", "activate", "ban"]
ACTORS = [
    None,
    Actor("u-1"),
    Actor("u-2", permissions={"terminate_accounts"}),
    Actor.system("nightly"),
]
HOLD_NAMES = [t.name for t in STANDARD_HOLDS]


class Host:
    """A host object: no history, a ``holds`` attribute the hold functions write."""

    def __init__(self, account_id: str, status: int, since: dt.datetime, **facts: Any) -> None:
        self.id = account_id
        self.status = status
        self.status_since = since
        self.holds: tuple[Any, ...] = ()
        for k, v in facts.items():
            setattr(self, k, v)


def make(wf: Workflow, spec: dict[str, Any], n: int) -> Any:
    """One account of the book as ``spec`` says, its holds placed after the opening."""
    facts = {"payment_method": spec["payment_method"], "timezone": "UTC", "currency": "USD"}
    account: Any
    if spec["host"]:
        account = Host(f"A-{n}", wf.catalog[spec["status"]].code, T0, **facts)
    else:
        account = wf.open(f"A-{n}", spec["status"], at=T0, imported=True, **facts)
    for i, name in enumerate(spec["holds"]):
        # a hold the account's status or its other holds refuse is not placed
        with contextlib.suppress(AcctStateError):
            place_hold(wf, account, name, at=T0 + (1 + i) * DAY, actor=CLERK)
    return account


def snapshot(account: Any) -> tuple[Any, ...]:
    history = getattr(account, "history", None)
    kept = list(history) if isinstance(history, History) else history
    return account.status, account.status_since, tuple(account.holds), kept


@st.composite
def cases(draw: st.DrawFn) -> tuple[Workflow, list[dict[str, Any]], Any, Any, str | None]:
    name = draw(st.sampled_from(sorted(WORKFLOWS)))
    wf = WORKFLOWS[name]
    statuses = [s.name for s in wf.catalog] if name == "prepaid" else ISP_STATUSES
    triggers = sorted(wf.triggers) if name == "prepaid" else ISP_TRIGGERS
    specs = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "status": st.sampled_from(statuses),
                    "holds": st.lists(st.sampled_from(HOLD_NAMES), max_size=3),
                    "payment_method": st.sampled_from([None, "card"]),
                    "host": st.booleans(),
                }
            ),
            min_size=1,
            max_size=6,
        )
    )
    change = draw(
        st.one_of(
            st.sampled_from(triggers).map(FireTrigger),
            st.sampled_from(statuses).map(ChangeStatus),
        )
    )
    actor = draw(st.sampled_from(ACTORS))
    reason = draw(st.sampled_from([None, "bad_debt"]))
    return wf, specs, change, actor, reason


def fired(wf: Workflow, account: Any, change: Any, actor: Any, reason: str | None) -> Any:
    """What ``wf.fire`` (or ``wf.move_to``) does to ``account``: its change or its error."""
    try:
        if isinstance(change, FireTrigger):
            return wf.fire(account, change.trigger, at=AT, actor=actor, reason=reason)
        return wf.move_to(account, change.to, at=AT, actor=actor, reason=reason)
    except AcctStateError as exc:
        return exc


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(list(Mode)))
def test_batch_on_held_accounts_is_plain_fire(
    case: tuple[Workflow, list[dict[str, Any]], Any, Any, str | None], mode: Mode
) -> None:
    """On a random book with random standing holds (blocking changes, billing, service),
    for random triggers and status moves, by an actor with or without the permission (or
    the system), batch ``preview`` and ``apply`` give every account what ``wf.fire`` gives
    its twin: the same destination, effects and history, or the same refusal (type and
    words) with nothing changed."""
    wf, specs, change, actor, reason = case
    book = [make(wf, s, n) for n, s in enumerate(specs)]
    twins = [make(wf, s, n) for n, s in enumerate(specs)]
    before = [snapshot(a) for a in book]
    expected = [fired(wf, t, change, actor, reason) for t in twins]

    shown = preview(select(wf, book), change, at=AT, actor=actor, reason=reason)
    assert [snapshot(a) for a in book] == before
    report = apply(shown, mode=mode)
    all_or_nothing = mode is Mode.ALL_OR_NOTHING and any(
        o.kind is OutcomeKind.REFUSED for o in report.outcomes
    )
    for account, twin, row, outcome, want, was in zip(
        book, twins, shown.rows(), report.outcomes, expected, before, strict=True
    ):
        if row.action is Action.UNCHANGED:  # a move to the status it is in: nothing to fire
            assert isinstance(change, ChangeStatus) and row.source == wf.catalog[change.to]
            assert outcome.kind is OutcomeKind.UNCHANGED and snapshot(account) == was
            continue
        if isinstance(want, AcctStateError):
            assert row.action is Action.REFUSED and row.reason == str(want), (row, want)
            assert outcome.kind is OutcomeKind.REFUSED, (outcome, want)
            assert outcome.reason == str(want)
            if outcome.error is not None:  # a refusal planned for this account alone
                assert type(outcome.error) is type(want)
            assert snapshot(account) == was
            continue
        assert row.action is Action.CHANGE, (row, want)
        assert (row.dest, row.trigger, row.effects) == (want.dest, want.trigger, want.effects)
        if all_or_nothing:
            assert outcome.kind is OutcomeKind.SKIPPED and snapshot(account) == was
            continue
        assert outcome.kind is OutcomeKind.CHANGED, (outcome, want)
        assert outcome.change == want
        assert outcome.effects == want.effects
        assert snapshot(account) == snapshot(twin)


# -- the cases named in the brief -------------------------------------------------------------


def held(hold: str | None, status: str = "active", account_id: str = "A-1") -> acctstate.Account:
    wf = WORKFLOWS["prepaid"]
    account = wf.open(account_id, status, at=T0, imported=True, payment_method="card")
    if hold is not None:
        place_hold(wf, account, hold, at=T0 + DAY, actor=CLERK)
    return account


def kinds(effects: Any) -> list[str]:
    return [e.kind for e in effects]


def test_a_fraud_hold_refuses_a_batch_suspend_by_a_person_not_by_the_system() -> None:
    """The fraud hold blocks changes: a batch ``suspend`` by a person, or with no actor, is
    refused with the hold named and nothing changed; the system still moves the account."""
    wf = WORKFLOWS["prepaid"]
    for actor in (None, Actor("u-1")):
        account = held("fraud")
        was = snapshot(account)
        (outcome,) = apply(
            select(wf, [account]), FireTrigger("suspend"), at=AT, actor=actor
        ).outcomes
        assert outcome.kind is OutcomeKind.REFUSED
        assert isinstance(outcome.error, GuardRefused) and "hold:fraud" in str(outcome.reason)
        assert snapshot(account) == was
    account = held("fraud")
    system = Actor.system("nightly")
    (outcome,) = apply(select(wf, [account]), FireTrigger("suspend"), at=AT, actor=system).outcomes
    assert outcome.kind is OutcomeKind.CHANGED and outcome.effects == ()  # all held already


@pytest.mark.parametrize(
    ("hold", "off", "on"),
    [
        (None, ["stop_billing", "stop_usage_billing", "deprovision"], ["provision", "start_billing", "start_usage_billing"]),
        ("credit", [], []),
        ("manual", ["deprovision"], ["provision"]),
        ("dunning", ["stop_billing", "stop_usage_billing"], ["start_billing", "start_usage_billing"]),
        ("temporary_release", None, None),
    ],
)  # fmt: skip
def test_billing_and_service_holds_shape_batch_effects(
    hold: str | None, off: list[str] | None, on: list[str] | None
) -> None:
    """Moving off an active status stops only what is not held already; moving onto one
    starts only what no hold blocks. ``None``: the hold blocks changes (refused)."""
    wf = WORKFLOWS["prepaid"]
    account = held(hold)
    (outcome,) = apply(select(wf, [account]), ChangeStatus("suspended"), at=AT).outcomes
    assert (None if outcome.kind is OutcomeKind.REFUSED else kinds(outcome.effects)) == off
    account = held(hold, "suspended")
    (row,) = preview(select(wf, [account]), FireTrigger("resume"), at=AT + DAY).rows()
    assert (None if row.action is Action.REFUSED else kinds(row.effects)) == on


def test_accounts_without_holds_keep_the_shared_plan() -> None:
    """Accounts with no standing hold in one status share one plan (the fast path); a held
    account in that status gets its own."""
    wf = WORKFLOWS["prepaid"]
    book = [held(None, account_id="A-0"), held(None), held("manual", account_id="A-2")]
    shown = preview(select(wf, book), FireTrigger("suspend"), at=AT)
    plans = shown._plans
    assert plans[0] is plans[1] and plans[2] is not plans[0]
