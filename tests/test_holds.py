"""Holds: several independent reasons to block an account, and the union they make."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import acctstate
from acctstate.account import Account
from acctstate.actors import Actor
from acctstate.effects import RecordingHooks
from acctstate.errors import (
    DefinitionError,
    EffectFailed,
    GuardRefused,
    PermissionDenied,
    ReasonRequired,
)
from acctstate.guards import Refusal
from acctstate.holds import (
    STANDARD_HOLDS,
    HoldType,
    UnknownHold,
    effective_capability,
    place_hold,
    release_expired,
    release_hold,
)
from acctstate.presets import isp
from acctstate.workflow import Workflow

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CLERK = Actor("u-7", permissions={"place_fraud_hold"})

# A blocking state in Kill Bill blocks changes, entitlement and billing (its
# block_change / block_entitlement / block_billing flags); one hold type does the same.
BLOCKING_STATE = HoldType("blocking_state", kind="host", blocks={"billing", "service", "changes"})


@pytest.fixture(scope="module")
def hwf() -> Workflow:
    """The reference workflow with the standard hold types and a Kill Bill-like one."""
    return isp.workflow().with_holds([*STANDARD_HOLDS, BLOCKING_STATE])


def active(wf: Workflow, **fields: Any) -> Account:
    return wf.open("A-1", "active", at=T0, imported=True, **fields)


def kinds(change: acctstate.StatusChange) -> list[str]:
    return [e.kind for e in change.effects]


def snapshot(acct: Account) -> tuple[Any, ...]:
    return (acct.status, acct.status_since, acct.holds, tuple(acct.history))


def test_kill_bill_two_service_blocking_timeline(hwf: Workflow) -> None:
    """Kill Bill's blocking-state example, as its entitlement documentation lays it out
    under "Services" (https://docs.killbill.io/latest/entitlement_subsystem): SVC1 blocks,
    SVC2 blocks, SVC2 unblocks: still blocked; SVC1 unblocks: active again. The page shows
    it on a subscription; here on one account: blocked while any block stands."""
    acct = active(hwf)
    s1 = place_hold(hwf, acct, "blocking_state", at=T0 + DAY, hold_id="service-1")
    assert kinds(s1) == ["stop_billing", "stop_usage_billing", "deprovision"]
    s2 = place_hold(hwf, acct, "blocking_state", at=T0 + 2 * DAY, hold_id="service-2")
    assert kinds(s2) == []
    u2 = release_hold(hwf, acct, "service-2", at=T0 + 3 * DAY)
    assert kinds(u2) == []  # service 1 still blocks
    assert effective_capability(hwf.status_of(acct), acct.holds) == frozenset()
    assert [h.id for h in hwf.why_blocked(acct, "service").holds] == ["service-1"]
    u1 = release_hold(hwf, acct, "service-1", at=T0 + 4 * DAY)
    assert kinds(u1) == ["provision", "start_billing", "start_usage_billing"]
    assert effective_capability(hwf.status_of(acct), acct.holds) == {
        "billing",
        "service",
        "changes",
    }
    assert not hwf.why_blocked(acct, "billing")
    assert [c.trigger for c in acct.history][1:] == [
        "place_hold",
        "place_hold",
        "release_hold",
        "release_hold",
    ]


def test_a_billing_hold_stops_billing_and_only_the_last_release_starts_it(hwf: Workflow) -> None:
    """Placing a billing hold on an active account stops billing; releasing it starts
    billing again only when no other hold still blocks billing."""
    acct = active(hwf)
    assert kinds(place_hold(hwf, acct, "manual", at=T0, reason="dispute")) == [
        "stop_billing",
        "stop_usage_billing",
    ]
    assert kinds(place_hold(hwf, acct, "credit", at=T0 + DAY)) == ["deprovision"]
    assert kinds(release_hold(hwf, acct, "H1", at=T0 + 2 * DAY)) == []
    assert [h.id for h in acct.holds] == ["H2"]  # each release takes off only its own
    assert kinds(release_hold(hwf, acct, "H2", at=T0 + 3 * DAY)) == [
        "provision",
        "start_billing",
        "start_usage_billing",
    ]


def test_status_changes_on_a_held_account_follow_effective_capability(hwf: Workflow) -> None:
    """Suspending an account whose billing is held stops only what still ran (service)."""
    acct = active(hwf)
    place_hold(hwf, acct, "manual", at=T0)
    change = hwf.fire(acct, "suspend", at=T0 + DAY)
    assert kinds(change) == ["deprovision"]


def test_why_blocked_names_the_status_and_every_hold(hwf: Workflow) -> None:
    """why_blocked gives every reason, who placed each hold, when and why, as a paragraph."""
    acct = hwf.open("A-1", "suspended", at=T0, imported=True)
    place_hold(hwf, acct, "fraud", at=T0 + DAY, reason="chargebacks", actor=CLERK)
    blocked = hwf.why_blocked(acct, "billing")
    assert [r.source for r in blocked.reasons] == ["status", "hold"]
    assert str(blocked) == (
        "Billing on account 'A-1' is blocked for 2 reasons: (1) its status 'suspended' (-1) "
        "does not allow it; (2) the fraud hold 'H1' (fraud) placed by u-7 at "
        "2026-01-06T09:00:00+00:00, reason 'chargebacks'."
    )
    with pytest.raises(acctstate.InvalidArgument, match="capability"):
        hwf.why_blocked(acct, "invoices")


def test_why_blocked_on_changes_names_a_terminal_status_and_the_holds_blocking_changes(
    hwf: Workflow,
) -> None:
    """ "changes" is blocked by a terminal status and by every hold blocking changes (not
    by one blocking only billing); the paragraph agrees in number ("Changes ... are
    blocked") and calls the entity what ``label`` says."""
    acct = hwf.open("A-1", "canceled", at=T0, imported=True)
    assert not hwf.why_blocked(acct, "changes")
    assert str(hwf.why_blocked(acct, "changes")) == "Nothing blocks changes on account 'A-1'."
    place_hold(hwf, acct, "manual", at=T0 + DAY)
    place_hold(hwf, acct, "temporary_release", at=T0 + DAY, reason="promised")
    hwf.fire(acct, "archive", at=T0 + 200 * DAY, actor=acctstate.SYSTEM)
    blocked = hwf.why_blocked(acct, "changes")
    assert [(r.source, r.hold and r.hold.id) for r in blocked.reasons] == [
        ("status", None),
        ("hold", "H2"),
    ]
    assert str(blocked) == (
        "Changes on account 'A-1' are blocked for 2 reasons: (1) its status 'archived' (-99) "
        "does not allow it; (2) the temporary_release hold 'H2' (temporary_release) placed "
        "at 2026-01-06T09:00:00+00:00, reason 'promised'."
    )
    billing = hwf.why_blocked(acct, "billing", label="subscription")
    assert str(billing).startswith("Billing on subscription 'A-1' is blocked for 2 reasons: ")
    assert [h.id for h in billing.holds] == ["H1"]
    with pytest.raises(acctstate.InvalidArgument, match="label"):
        hwf.why_blocked(acct, "billing", label="")


def test_a_hold_blocking_changes_refuses_people_not_automation(hwf: Workflow) -> None:
    """A hold blocking changes refuses a person's status change (explain says which hold);
    a system actor still moves the account."""
    acct = active(hwf)
    place_hold(hwf, acct, "temporary_release", at=T0)
    explanation = hwf.explain(acct, "suspend", at=T0 + DAY)
    assert not explanation.allowed
    assert explanation.refusals[0].guard == "hold:temporary_release"
    before = snapshot(acct)
    with pytest.raises(GuardRefused, match=r"temporary_release hold 'H1'.*blocks changes"):
        hwf.fire(acct, "suspend", at=T0 + DAY, actor=CLERK)
    assert snapshot(acct) == before
    assert hwf.fire(acct, "suspend", at=T0 + DAY, actor=acctstate.SYSTEM).dest.name == "suspended"


def test_refused_hold_operations_change_nothing(hwf: Workflow) -> None:
    """Unknown types, missing permissions, unknown holds, refused guards and failing hooks
    leave the account and its history as they were."""
    acct = active(hwf)
    place_hold(hwf, acct, "manual", at=T0)
    before = snapshot(acct)
    with pytest.raises(UnknownHold, match="unknown hold type 'nope'; known: 'blocking_state'"):
        place_hold(hwf, acct, "nope", at=T0)
    with pytest.raises(PermissionDenied, match="'place_fraud_hold' is required"):
        place_hold(hwf, acct, "fraud", at=T0)
    with pytest.raises(UnknownHold, match="unknown hold 'H9'; known: 'H1'"):
        release_hold(hwf, acct, "H9", at=T0)
    with pytest.raises(acctstate.HistoryConflict):
        place_hold(hwf, acct, "credit", at=T0 - DAY)

    class Broken(RecordingHooks):
        def deprovision(self, effect: Any, change: Any) -> None:
            raise RuntimeError("provisioning is down")

    with pytest.raises(EffectFailed):
        place_hold(hwf, acct, "credit", at=T0, hooks=acctstate.Hooks.from_object(Broken()))
    assert snapshot(acct) == before

    def never(ctx: acctstate.GuardContext) -> Refusal | None:
        return Refusal("never", "not on this account")

    guarded = hwf.with_holds([HoldType("review", kind="manual", blocks="billing", guards=[never])])
    with pytest.raises(GuardRefused, match="never: not on this account"):
        place_hold(guarded, acct, "review", at=T0)
    assert snapshot(acct) == before
    coded = hwf.with_holds([HoldType("review", kind="manual", blocks="billing", reasons="audit")])
    with pytest.raises(ReasonRequired, match="unknown reason 'bogus' for 'place_hold'"):
        place_hold(coded, acct, "review", at=T0, reason="bogus")
    with pytest.raises(ReasonRequired, match="a reason is required for 'place_hold'"):
        place_hold(coded, acct, "review", at=T0)
    assert snapshot(acct) == before


def test_releasing_is_checked_as_placing_is(hwf: Workflow) -> None:
    """Releasing a hold checks the type's permission, its release reason codes and its
    release guards (reading the event data), and a refused release changes nothing; a
    hold whose ``until`` has passed ends by itself whatever its release reasons and
    guards say."""
    seen: list[dict[str, Any]] = []

    def paid(ctx: acctstate.GuardContext) -> Refusal | None:
        seen.append(dict(ctx.data))
        return None if ctx.data.get("paid") else Refusal("paid", "the overdue balance is unpaid")

    review = HoldType(
        "review",
        kind="manual",
        blocks="billing",
        permission="review",
        release_reasons={"cleared", "written_off"},
        release_guards=[paid],
    )
    wf = hwf.with_holds([review])
    boss = Actor("u-1", permissions={"review"})
    acct = active(wf)
    place_hold(wf, acct, "review", at=T0, actor=boss, hold_id="R1")
    place_hold(wf, acct, "review", at=T0, actor=boss, hold_id="R2", until=T0 + 5 * DAY)
    before = snapshot(acct)
    with pytest.raises(PermissionDenied, match="'review' is required"):
        release_hold(wf, acct, "R1", at=T0 + DAY, reason="cleared", paid=True)
    with pytest.raises(ReasonRequired, match="a reason is required for 'release_hold'"):
        release_hold(wf, acct, "R1", at=T0 + DAY, actor=boss, paid=True)
    with pytest.raises(ReasonRequired, match="unknown reason 'bogus' for 'release_hold'"):
        release_hold(wf, acct, "R1", at=T0 + DAY, actor=boss, reason="bogus", paid=True)
    with pytest.raises(GuardRefused, match="paid: the overdue balance is unpaid"):
        release_hold(wf, acct, "R1", at=T0 + DAY, actor=boss, reason="cleared")
    assert snapshot(acct) == before
    change = release_hold(wf, acct, "R1", at=T0 + DAY, actor=boss, reason="cleared", paid=True)
    assert (change.trigger, change.reason, [h.id for h in acct.holds]) == (
        "release_hold",
        "cleared",
        ["R2"],
    )
    assert seen[-1] == {"paid": True}
    # R2's until has passed: it ends by itself, with no release reason and no guard asked.
    calls = len(seen)
    (expired,) = release_expired(wf, [acct], now=T0 + 5 * DAY, actor=boss)
    assert (expired.reason, acct.holds, len(seen)) == ("expired", (), calls)


def test_hold_types_are_checked_when_the_workflow_is_built() -> None:
    """Two hold types of one name, or something else than a HoldType, are refused."""
    with pytest.raises(DefinitionError, match="declared twice") as info:
        isp.workflow().extend().with_holds([STANDARD_HOLDS[0], STANDARD_HOLDS[0], "credit"])  # type: ignore[list-item]
    assert info.value.rules == {"hold-duplicate", "hold-type"}
    wf = isp.workflow()
    built = Workflow(
        statuses=wf.catalog,
        transitions=wf.transitions,
        initial=[s.code for s in wf.initial],
        holds=STANDARD_HOLDS,
    )
    assert sorted(built.extend().hold_types) == sorted(t.name for t in STANDARD_HOLDS)
    with pytest.raises(acctstate.InvalidArgument, match="hold kind"):
        HoldType("x", kind="weather", blocks="billing")


def test_time_bound_holds_are_released_by_the_automation(hwf: Workflow) -> None:
    """A hold whose until has passed is released, as a recorded system change."""
    acct = active(hwf)
    place_hold(hwf, acct, "vacation", at=T0, until=T0 + 14 * DAY)
    place_hold(hwf, acct, "manual", at=T0)
    assert release_expired(hwf, [acct], now=T0 + 13 * DAY) == []
    done = release_expired(hwf, [acct], now=T0 + 14 * DAY)
    assert [(c.trigger, c.reason, c.automatic) for c in done] == [("release_hold", "expired", True)]
    assert kinds(done[0]) == ["provision"]  # billing stays held by the manual hold
    assert [h.type for h in acct.holds] == ["manual"]


def test_release_expired_is_checked_before_anything_is_released(hwf: Workflow) -> None:
    """An expired hold the actor may not release refuses the whole run: the other
    accounts' expired holds keep standing until a run with the permission."""
    review = HoldType("review", kind="manual", blocks="billing", permission="review")
    wf = isp.workflow().with_holds([*STANDARD_HOLDS, review])
    boss = Actor("u-1", permissions={"review"})
    first = wf.open("A-1", "active", at=T0, imported=True)
    second = wf.open("A-2", "active", at=T0, imported=True)
    place_hold(wf, first, "vacation", at=T0, until=T0 + DAY)
    place_hold(wf, second, "review", at=T0, actor=boss, until=T0 + DAY)
    before = (snapshot(first), snapshot(second))
    with pytest.raises(PermissionDenied, match="'review' is required"):
        release_expired(wf, [first, second], now=T0 + 2 * DAY)
    assert (snapshot(first), snapshot(second)) == before
    done = release_expired(wf, [first, second], now=T0 + 2 * DAY, actor=boss)
    assert [(c.account_id, c.reason) for c in done] == [("A-1", "expired"), ("A-2", "expired")]
    assert first.holds == second.holds == ()


OPS = st.lists(
    st.tuples(
        st.sampled_from(["place", "release"]), st.sampled_from(STANDARD_HOLDS), st.integers(0, 5)
    ),
    max_size=12,
)


@given(ops=OPS, status=st.sampled_from(["active", "suspended", "active_non_billable"]))
def test_effective_capability_is_the_status_minus_the_union_of_holds(
    ops: list[tuple[str, HoldType, int]], status: str
) -> None:
    """For any placements and releases: effective capability equals the status flags minus
    the union of standing holds, and billing starts only when nothing blocks it."""
    wf = isp.workflow().with_holds(STANDARD_HOLDS)
    acct = wf.open("A-1", status, at=T0, imported=True)
    st_ = wf.status_of(acct)
    billing = "billing" in effective_capability(st_)
    at = T0
    for i, (op, htype, pick) in enumerate(ops):
        at = T0 + i * DAY
        if op == "place" or not acct.holds:
            change = place_hold(wf, acct, htype.name, at=at, actor=CLERK)
        else:
            change = release_hold(wf, acct, acct.holds[pick % len(acct.holds)], at=at, actor=CLERK)
        union = frozenset().union(*(h.blocks for h in acct.holds))
        now_cap = effective_capability(st_, acct.holds)
        assert now_cap == effective_capability(st_) - union
        started = "start_billing" in kinds(change)
        assert not started or "billing" not in union
        assert started == (not billing and "billing" in now_cap and st_.billable)
        billing = "billing" in now_cap


@given(ops=st.lists(st.sampled_from(STANDARD_HOLDS), min_size=1, max_size=6), data=st.data())
def test_releasing_in_any_order_ends_in_the_same_state(
    ops: list[HoldType], data: st.DataObject
) -> None:
    """Releasing the same holds in any order leaves the same capability, and the effects
    over the whole run add up to nothing (every stop met by a start)."""
    wf = isp.workflow().with_holds(STANDARD_HOLDS)
    acct = active(wf)
    for i, htype in enumerate(ops):
        place_hold(wf, acct, htype.name, at=T0 + i * DAY, actor=CLERK)
    other = copy.deepcopy(acct)
    order = data.draw(st.permutations([h.id for h in acct.holds]))
    at = T0 + 10 * DAY
    for hid in [h.id for h in acct.holds]:
        release_hold(wf, acct, hid, at=at, actor=CLERK)
    for hid in order:
        release_hold(wf, other, hid, at=at, actor=CLERK)
    assert acct.holds == other.holds == ()
    assert effective_capability(wf.status_of(acct)) == effective_capability(wf.status_of(other))
    for a in (acct, other):
        effects = [k for c in a.history for k in kinds(c)]
        assert effects.count("stop_billing") == effects.count("start_billing")
        assert effects.count("deprovision") == effects.count("provision")


def test_hold_types_are_declared_in_workflow_files(tmp_path: Any) -> None:
    """A workflow file declares hold types under [[holds]]; an extending file adds or
    replaces them; dumping writes them back; a bad entry names its key path."""
    from acctstate.config import dump_workflow, load_workflow
    from acctstate.errors import ConfigError

    path = tmp_path / "held.toml"
    path.write_text(
        'extends = "isp"\n\n[[holds]]\nname = "credit"\nkind = "credit"\n'
        'blocks = ["billing", "service"]\nreasons = ["over_limit"]\n'
        'release_reasons = ["paid", "limit_raised"]\n'
    )
    wf = load_workflow(path)
    assert wf.hold_types["credit"].reasons == {"over_limit"}
    assert wf.hold_types["credit"].release_reasons == {"paid", "limit_raised"}
    again = tmp_path / "again.toml"
    again.write_text(dump_workflow(wf, minimal_against="isp"))
    assert load_workflow(again).hold_types == wf.hold_types
    whole = tmp_path / "whole.toml"
    whole.write_text(dump_workflow(wf))
    assert load_workflow(whole).hold_types == wf.hold_types
    path.write_text(
        'extends = "isp"\n\n[[holds]]\nname = "credit"\nkind = "credit"\nblocks = ["invoices"]\n'
    )
    with pytest.raises(ConfigError, match=r"holds\[0\]"):
        load_workflow(path)
