"""The Workflow facade: plan, fire, move_to, may, allowed_triggers, explain, and refusals
that change nothing."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

import acctstate
from acctstate import Account, Actor, Transition, Workflow
from acctstate.guards import has_permission

DAY = dt.timedelta(days=1)


def snapshot(account: Account) -> tuple[Any, ...]:
    return (account.status, account.status_since, list(account.history))


def in_status(wf: Workflow, name: str, t0: dt.datetime, **fields: Any) -> Account:
    return wf.open("A-1", name, at=t0, imported=True, **fields)


def test_fire_moves_and_records(wf: Workflow, t0: dt.datetime) -> None:
    """fire changes the status, sets status_since and appends to the history."""
    acct = wf.open("A-1", "prospect", at=t0)
    change = wf.fire(acct, "register", at=t0 + DAY, reason="web-signup")
    assert acct.status == wf.catalog["registered_pending_activation"].code
    assert acct.status_since == t0 + DAY
    assert acct.history.last == change
    assert [c.trigger for c in acct.history] == ["open", "register"]
    assert change.reason == "web-signup"


def test_plan_changes_nothing_and_agrees_with_fire(wf: Workflow, t0: dt.datetime) -> None:
    """plan returns the same change fire makes, and leaves the account untouched."""
    acct = in_status(wf, "active", t0)
    before = snapshot(acct)
    planned = wf.plan(acct, "suspend", at=t0 + DAY)
    assert snapshot(acct) == before
    fired = wf.fire(acct, "suspend", at=t0 + DAY)
    assert (planned.source, planned.dest, planned.effects) == (
        fired.source,
        fired.dest,
        fired.effects,
    )


def test_unknown_trigger_is_refused_with_suggestions(wf: Workflow, t0: dt.datetime) -> None:
    """A misspelt trigger raises UnknownTrigger (a LookupError) naming close matches."""
    acct = in_status(wf, "active", t0)
    before = snapshot(acct)
    with pytest.raises(acctstate.UnknownTrigger, match=r"'suspnd'; did you mean 'suspend'"):
        wf.fire(acct, "suspnd", at=t0)
    with pytest.raises(LookupError):
        wf.fire(acct, "bogus", at=t0)
    assert snapshot(acct) == before


def test_illegal_transition_lists_allowed(wf: Workflow, t0: dt.datetime) -> None:
    """A trigger not in the graph from this status names the status and what is allowed."""
    acct = in_status(wf, "prospect", t0)
    before = snapshot(acct)
    with pytest.raises(acctstate.IllegalTransition) as info:
        wf.fire(acct, "suspend", at=t0)
    err = info.value
    assert err.status.name == "prospect" and err.trigger == "suspend"
    assert set(err.allowed) == {e.trigger for e in wf.edges_from("prospect")}
    assert "in status 'prospect' (30)" in str(err)
    assert snapshot(acct) == before


def test_guard_refusal_carries_every_reason(wf: Workflow, t0: dt.datetime) -> None:
    """GuardRefused lists each refusing guard with its reason; nothing changes."""
    acct = in_status(wf, "canceled", t0)
    before = snapshot(acct)
    with pytest.raises(acctstate.GuardRefused, match="in status for 10 days; 180 required") as e:
        wf.fire(acct, "archive", at=t0 + 10 * DAY)
    assert [r.guard for r in e.value.refusals] == ["days_in_status(180)"]
    assert snapshot(acct) == before
    wf.fire(acct, "archive", at=t0 + 180 * DAY)
    assert wf.status_of(acct).name == "archived"


def test_guarded_alternatives_pick_by_guard(wf: Workflow, t0: dt.datetime) -> None:
    """end_trial goes to active with a payment method, to canceled without."""
    paying = in_status(wf, "active_trial", t0, payment_method="visa")
    free = in_status(wf, "active_trial", t0)
    assert wf.fire(paying, "end_trial", at=t0).dest.name == "active"
    assert wf.fire(free, "end_trial", at=t0).dest.name == "canceled"


def test_event_data_overrides_account_attributes(wf: Workflow, t0: dt.datetime) -> None:
    """Guards read event data first, then the account's attribute."""
    acct = in_status(wf, "active_dunning_1", t0, balance=Decimal("40.00"))
    assert not wf.may(acct, "settle", at=t0)
    assert wf.may(acct, "settle", at=t0, balance=Decimal("0"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"at": dt.datetime(2026, 1, 6)}, "timezone-aware"),
        ({"at": "2026-01-06"}, "timezone-aware"),
        ({"balance": 0.0}, "float money is refused"),
        ({"actor": "clerk"}, "an acctstate.Actor"),
        ({"reason": 7}, "a reason code"),
        ({"note": b"x"}, "a str or None"),
        ({"period_end": dt.datetime(2026, 2, 1)}, "timezone-aware"),
    ],
)
def test_bad_arguments_are_refused(
    wf: Workflow, t0: dt.datetime, kwargs: dict[str, Any], match: str
) -> None:
    """Naive datetimes, float money and wrongly typed arguments raise InvalidArgument."""
    acct = in_status(wf, "active_dunning_1", t0)
    before = snapshot(acct)
    call: dict[str, Any] = {"at": t0 + DAY, **kwargs}
    with pytest.raises(acctstate.InvalidArgument, match=match):
        wf.fire(acct, "settle", **call)
    with pytest.raises(ValueError):
        wf.plan(acct, "settle", **call)
    assert snapshot(acct) == before


def test_status_accepted_as_code_name_or_status(wf: Workflow, t0: dt.datetime) -> None:
    """move_to accepts a code, a name or the Status itself."""
    target = wf.catalog["suspended"]
    for ref in (target.code, target.name, target):
        acct = in_status(wf, "active", t0)
        assert wf.move_to(acct, ref, at=t0).dest == target


def test_move_to_refuses_when_nothing_or_several_lead_there(wf: Workflow, t0: dt.datetime) -> None:
    """move_to names the candidates when ambiguous, and the allowed triggers when none."""
    acct = in_status(wf, "active", t0)
    before = snapshot(acct)
    with pytest.raises(acctstate.IllegalTransition, match="to 'prospect' \\(30\\): no transition"):
        wf.move_to(acct, "prospect", at=t0)
    extended = wf.extend(
        transitions=[Transition("hold", "active", "suspended", description="a second way")]
    )
    with pytest.raises(acctstate.AmbiguousMove, match="'hold', 'suspend'"):
        extended.move_to(acct, "suspended", at=t0)
    assert snapshot(acct) == before


def test_allowed_triggers_respects_guards(wf: Workflow, t0: dt.datetime) -> None:
    """allowed_triggers lists exactly the triggers that would fire now."""
    acct = in_status(wf, "canceled", t0)
    assert "archive" not in wf.allowed_triggers(acct, at=t0 + DAY)
    assert "archive" in wf.allowed_triggers(acct, at=t0 + 200 * DAY)
    for trigger in wf.allowed_triggers(acct, at=t0 + 200 * DAY):
        probe = copy.deepcopy(acct)
        wf.fire(probe, trigger, at=t0 + 200 * DAY)


def test_explain(wf: Workflow, t0: dt.datetime) -> None:
    """explain says allowed with the destination, refused with reasons, or not legal."""
    acct = in_status(wf, "canceled", t0)
    early = wf.explain(acct, "archive", at=t0 + DAY)
    assert (early.legal, early.allowed, len(early.refusals)) == (True, False, 1)
    late = wf.explain(acct, "archive", at=t0 + 181 * DAY)
    assert late.allowed and late.dest is not None and late.dest.name == "archived"
    illegal = wf.explain(acct, "suspend", at=t0)
    assert not illegal.legal and "not a transition" in str(illegal)
    with pytest.raises(acctstate.UnknownTrigger):
        wf.explain(acct, "archiv", at=t0)


def test_permission_required(wf: Workflow, t0: dt.datetime) -> None:
    """A transition requiring a permission refuses actors without it, naming it."""
    guarded = wf.extend(
        transitions=[Transition("comp", "active", "active_non_billable", permission="comp")]
    )
    acct = in_status(guarded, "active", t0)
    before = snapshot(acct)
    with pytest.raises(acctstate.PermissionDenied, match="permission 'comp' is required"):
        guarded.fire(acct, "comp", at=t0, actor=Actor("u1"))
    with pytest.raises(acctstate.PermissionDenied, match="no actor was given"):
        guarded.fire(acct, "comp", at=t0)
    assert snapshot(acct) == before
    guarded.fire(acct, "comp", at=t0, actor=Actor("u2", permissions={"comp"}))
    assert guarded.status_of(acct).name == "active_non_billable"


def test_reason_codes(wf: Workflow, t0: dt.datetime) -> None:
    """A transition declaring reasons requires one of them and lists them when refused."""
    strict = wf.extend(
        transitions=[
            Transition("cancel_for_reason", "active", "canceled", reasons={"moved", "price"})
        ]
    )
    acct = in_status(strict, "active", t0)
    before = snapshot(acct)
    with pytest.raises(acctstate.ReasonRequired, match=r"a reason is required.*'moved', 'price'"):
        strict.fire(acct, "cancel_for_reason", at=t0)
    with pytest.raises(acctstate.ReasonRequired, match="unknown reason 'angry'"):
        strict.fire(acct, "cancel_for_reason", at=t0, reason="angry")
    assert snapshot(acct) == before
    strict.fire(acct, "cancel_for_reason", at=t0, reason="moved")


def test_permission_guard(wf: Workflow, t0: dt.datetime) -> None:
    """The has_permission guard refuses with a reason naming the actor."""
    guarded = wf.extend(
        transitions=[
            Transition("comp", "active", "active_non_billable", guards=[has_permission("comp")])
        ]
    )
    acct = in_status(guarded, "active", t0)
    with pytest.raises(acctstate.GuardRefused, match="actor 'u1' lacks permission 'comp'"):
        guarded.fire(acct, "comp", at=t0, actor=Actor("u1"))


def test_back_dating_before_latest_change_is_refused(wf: Workflow, t0: dt.datetime) -> None:
    """A change effective before the account's latest change raises HistoryConflict."""
    acct = in_status(wf, "active", t0)
    wf.fire(acct, "suspend", at=t0 + 5 * DAY)
    before = snapshot(acct)
    with pytest.raises(acctstate.HistoryConflict, match="back-dated only to after"):
        wf.fire(acct, "reinstate_back", at=t0 + 2 * DAY, payment_method="visa")
    assert snapshot(acct) == before


def test_status_set_outside_the_workflow_is_detected(wf: Workflow, t0: dt.datetime) -> None:
    """If the status no longer matches the history's end, firing refuses (no back door)."""
    acct = in_status(wf, "active", t0)
    acct.status = wf.catalog["prospect"].code
    with pytest.raises(acctstate.InvalidArgument, match="changed outside the workflow"):
        wf.fire(acct, "register", at=t0 + DAY)
    assert len(acct.history) == 1


def test_unknown_status_code_on_account(wf: Workflow, t0: dt.datetime) -> None:
    """An account holding a code the catalog lacks raises UnknownStatus."""

    class Row:
        id = "R-1"
        status = 777

    with pytest.raises(acctstate.UnknownStatus, match="777"):
        wf.fire(Row(), "suspend", at=t0)


def test_host_objects_with_custom_status_attribute(t0: dt.datetime) -> None:
    """Any object works; the status attribute name is configurable; nothing is attached."""
    from acctstate.presets import isp

    custom = Workflow(
        statuses=isp.statuses(),
        transitions=isp.transitions(),
        initial=["prospect"],
        status_attr="state_code",
    )

    class Row:
        __slots__ = ("id", "state_code")

        def __init__(self) -> None:
            self.id = "R-9"
            self.state_code = 1

    row = Row()
    custom.fire(row, "suspend", at=t0)
    assert row.state_code == -1
    assert not hasattr(row, "__dict__")


def test_open_refuses_non_initial_status(wf: Workflow, t0: dt.datetime) -> None:
    """open starts accounts in an initial status unless imported=True."""
    with pytest.raises(acctstate.InvalidArgument, match="an initial status"):
        wf.open("A-1", "active", at=t0)
    assert wf.open("A-1", "active", at=t0, imported=True).status == 1


def test_fixed_clock_supplies_now(wf: Workflow, t0: dt.datetime) -> None:
    """may/explain default `at` to the workflow's clock."""
    clock = acctstate.FixedClock(t0)
    timed = wf.with_clock(clock)
    acct = in_status(timed, "canceled", t0)
    assert not timed.may(acct, "archive")
    clock.advance(days=180)
    assert timed.may(acct, "archive")


def test_workflow_is_immutable_and_extend_revalidates(wf: Workflow) -> None:
    """extend returns a new validated workflow; the original is unchanged."""
    n = len(wf.transitions)
    bigger = wf.extend(transitions=[Transition("hold", "active", "suspended")])
    assert len(bigger.transitions) == n + 1 and len(wf.transitions) == n
    with pytest.raises(acctstate.DefinitionError, match="one-way"):
        wf.extend(transitions=[Transition("relead", "active", "prospect")])
    with pytest.raises(AttributeError):
        wf.foo = 1  # type: ignore[attr-defined]


def test_transitions_expose_statuses(wf: Workflow) -> None:
    """wf.transitions items carry Status objects and guards."""
    edge = next(e for e in wf.transitions if e.trigger == "archive")
    assert isinstance(edge.source, acctstate.Status) and edge.dest.name == "archived"
    assert edge.guards and edge.guards[0].name == "days_in_status"


def test_repeated_hour_at_dst_fall_back_is_ordered_by_instant(wf: Workflow) -> None:
    """01:30 EDT then 01:10 EST (later, same wall-clock zone object) is accepted, and the
    reverse is refused: times are compared as instants, not wall clocks."""
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    first = dt.datetime(2026, 11, 1, 1, 30, tzinfo=ny)  # EDT, fold=0
    later = dt.datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=ny)  # EST, 40 minutes later
    acct = wf.open("A-1", "active", at=first, imported=True)
    wf.fire(acct, "suspend", at=later)
    assert acct.status == -1
    back = wf.open("B-1", "active", at=later, imported=True)
    with pytest.raises(acctstate.HistoryConflict):
        wf.fire(back, "suspend", at=first)
    assert back.status == 1


def test_move_to_refuses_when_guards_lead_elsewhere(wf: Workflow, t0: dt.datetime) -> None:
    """move_to 'active' from a trial without a payment method refuses (end_trial would
    cancel) instead of landing somewhere else."""
    acct = in_status(wf, "active_trial", t0)
    before = snapshot(acct)
    with pytest.raises(acctstate.GuardRefused, match="no payment method on file"):
        wf.move_to(acct, "active", at=t0)
    assert snapshot(acct) == before
    acct.payment_method = "visa"
    assert wf.move_to(acct, "active", at=t0).dest.name == "active"


def test_commit_carries_out_a_planned_change_only_if_it_still_fits(
    wf: Workflow, t0: dt.datetime
) -> None:
    """commit applies a plan; a plan for another account, or one overtaken by another
    change, is refused and changes nothing."""
    acct = in_status(wf, "active", t0)
    planned = wf.plan(acct, "suspend", at=t0 + DAY)
    other = wf.open("B-9", "active", at=t0, imported=True)
    with pytest.raises(acctstate.InvalidArgument, match="account's id"):
        wf.commit(other, planned)
    stale = wf.plan(acct, "ban", at=t0 + DAY)
    wf.commit(acct, planned)
    assert acct.status == -1 and acct.history.last == planned
    before = snapshot(acct)
    with pytest.raises(acctstate.IllegalTransition):
        wf.commit(acct, stale)
    assert snapshot(acct) == before


def test_schedule_without_a_book_uses_the_workflows_own(wf: Workflow, t0: dt.datetime) -> None:
    """wf.schedule(account, trigger, at=...) records in the workflow's book; apply_due fires
    it when due, once; a copy of the workflow starts with an empty book."""
    own = wf.extend(transitions=[Transition("hold", "active", "suspended")])
    acct = in_status(own, "active", t0)
    entry = own.schedule(acct, "suspend", at=t0 + 3 * DAY, reason="non-payment")
    assert [e.id for e in own.scheduled(acct)] == [entry.id]
    assert own.with_clock(acctstate.FixedClock(t0)).scheduled() == []
    assert len(own.apply_due(t0 + DAY)) == 0 and acct.status == 1
    done = own.apply_due(t0 + 3 * DAY)
    assert [o.ok for o in done.outcomes] == [True] and acct.status == -1
    assert len(own.apply_due(t0 + 3 * DAY)) == 0 and len(acct.history) == 2
    later = own.schedule(acct, "archive", at=t0 + 400 * DAY)
    own.withdraw(later.id)
    assert own.scheduled() == []


def test_open_with_a_non_str_id_is_refused(wf: Workflow, t0: dt.datetime) -> None:
    """wf.open(42, ...) raises InvalidArgument naming the id (not attrs' TypeError)."""
    with pytest.raises(acctstate.InvalidArgument, match=r"invalid Account.id: got 42"):
        wf.open(42, "prospect", at=t0)  # type: ignore[arg-type]
