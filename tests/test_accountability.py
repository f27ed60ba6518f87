"""Reasons, actors and permissions: who may change a status, why, and the record of it.

Seed 000: reasons are defined before statuses change. Seed 002: "Edit Account Status" is
a permission, and the history keeps an effective date and a note. Every refusal here is
checked to leave the account, its history and the schedule exactly as they were.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from acctstate.account import Account
from acctstate.actors import SYSTEM, Actor, ActorKind
from acctstate.clock import FixedClock
from acctstate.errors import (
    GuardRefused,
    InvalidArgument,
    PermissionDenied,
    ReasonRequired,
)
from acctstate.graph import Transition
from acctstate.guards import has_permission
from acctstate.history import ScheduleState, StatusChange
from acctstate.presets import isp
from acctstate.schedule import Schedule
from acctstate.workflow import Workflow

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)
EDIT = "edit_account_status"
CLERK = Actor("u-7", permissions={EDIT})
INTERN = Actor("u-9", permissions={"view_account"})


def staff_workflow() -> Workflow:
    """The ISP workflow where staff moves need a reason (and suspending, the permission)."""
    return (
        isp.workflow()
        .extend(
            remove=[("suspend", "active"), ("cancel", "active"), ("make_permanent", "active")],
            transitions=[
                Transition(
                    "suspend",
                    "active",
                    "suspended",
                    reasons={"non_payment", "customer_request"},
                    permission=EDIT,
                ),
                Transition("cancel", "active", "canceled", reasons={"moved_away", "too_expensive"}),
                Transition("make_permanent", "active", "permanent", guards=[has_permission(EDIT)]),
            ],
            name="staff",
        )
        .with_clock(FixedClock(T0))
    )


@pytest.fixture(scope="module")
def wf() -> Workflow:
    return staff_workflow()


@pytest.fixture
def acct(wf: Workflow) -> Account:
    return wf.open("A-1", "active", at=T0, imported=True)


def snapshot(acct: Account) -> tuple[int, dt.datetime | None, list[StatusChange]]:
    return acct.status, acct.status_since, list(acct.history)


# -- reasons --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "match"),
    [
        (
            None,
            r"a reason is required for 'cancel'; allowed reasons: 'moved_away', 'too_expensive'",
        ),
        (
            "bored",
            r"unknown reason 'bored' for 'cancel'; allowed reasons: 'moved_away', 'too_expensive'",
        ),
    ],
)
def test_missing_or_unknown_reason_is_refused_with_the_allowed_list(
    wf: Workflow, acct: Account, reason: str | None, match: str
) -> None:
    """A transition that declares reasons refuses a missing or unknown one; nothing changes."""
    before = snapshot(acct)
    with pytest.raises(ReasonRequired, match=match) as info:
        wf.fire(acct, "cancel", at=T0 + DAY, reason=reason)
    assert info.value.allowed == ("moved_away", "too_expensive")
    assert isinstance(info.value, ValueError)
    assert snapshot(acct) == before


def test_reason_must_be_a_string(wf: Workflow, acct: Account) -> None:
    """A reason code that is not a str is refused as an invalid argument; nothing changes."""
    before = snapshot(acct)
    with pytest.raises(InvalidArgument, match="a reason code"):
        wf.fire(acct, "cancel", at=T0 + DAY, reason=3)  # type: ignore[arg-type]
    assert snapshot(acct) == before


def test_an_allowed_reason_and_note_are_recorded(wf: Workflow, acct: Account) -> None:
    """The reason code and the note end up in the history with the change."""
    wf.fire(acct, "cancel", at=T0 + DAY, reason="moved_away", note="to Lisbon", actor=CLERK)
    last = acct.history[-1]
    assert (last.reason, last.note, last.actor) == ("moved_away", "to Lisbon", CLERK)


def test_transitions_without_declared_reasons_accept_any_or_none(
    wf: Workflow, acct: Account
) -> None:
    """Only transitions that declare reasons require one; others record what is given."""
    wf.fire(acct, "ban", at=T0 + DAY)
    wf.fire(acct, "lift_ban", at=T0 + 2 * DAY, reason="anything")
    assert [c.reason for c in acct.history][-2:] == [None, "anything"]


def test_move_to_requires_the_reason_too(wf: Workflow, acct: Account) -> None:
    """The pick-list entry point refuses the same way and changes nothing."""
    before = snapshot(acct)
    with pytest.raises(ReasonRequired, match="a reason is required for 'cancel'"):
        wf.move_to(acct, "canceled", at=T0 + DAY)
    assert snapshot(acct) == before


# -- permissions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "match"),
    [
        (None, r"permission 'edit_account_status' is required and no actor was given"),
        (INTERN, r"permission 'edit_account_status' is required and actor 'u-9' lacks it"),
        (SYSTEM, r"permission 'edit_account_status' is required and actor 'acctstate' lacks it"),
    ],
)
def test_permission_denied_names_the_missing_permission(
    wf: Workflow, acct: Account, actor: Actor | None, match: str
) -> None:
    """Seed 002: without "Edit Account Status" the change is refused; nothing changes."""
    before = snapshot(acct)
    with pytest.raises(PermissionDenied, match=match) as info:
        wf.fire(acct, "suspend", at=T0 + DAY, reason="non_payment", actor=actor)
    assert (info.value.permission, info.value.actor, info.value.trigger) == (EDIT, actor, "suspend")
    assert snapshot(acct) == before


def test_plan_refuses_without_permission_as_fire_does(wf: Workflow, acct: Account) -> None:
    """Planning is refused the same way (and never changes anything anyway)."""
    before = snapshot(acct)
    with pytest.raises(PermissionDenied, match="actor 'u-9' lacks it"):
        wf.plan(acct, "suspend", at=T0 + DAY, reason="non_payment", actor=INTERN)
    assert snapshot(acct) == before


def test_permitted_actor_is_recorded(wf: Workflow, acct: Account) -> None:
    """With the permission the change is made and the history says by whom and why."""
    change = wf.fire(acct, "suspend", at=T0 + DAY, reason="non_payment", actor=CLERK)
    assert change.actor == CLERK and not change.automatic
    assert acct.history.by_actor("u-7") == [change]
    assert "by u-7 (non_payment)" in str(change)


def test_may_and_explain_respect_the_actors_permissions(wf: Workflow, acct: Account) -> None:
    """Asking first gives the same answer as firing, with the permission named."""
    assert wf.may(acct, "suspend", at=T0, actor=CLERK)
    assert not wf.may(acct, "suspend", at=T0, actor=INTERN)
    explained = wf.explain(acct, "suspend", at=T0, actor=INTERN)
    assert not explained.allowed and "edit_account_status" in str(explained)
    assert "suspend" in wf.allowed_triggers(acct, at=T0, actor=CLERK)
    assert "suspend" not in wf.allowed_triggers(acct, at=T0, actor=INTERN)


def test_permission_as_a_guard_refuses_with_a_reason(wf: Workflow, acct: Account) -> None:
    """The has_permission guard refuses with the actor named; nothing changes."""
    before = snapshot(acct)
    with pytest.raises(GuardRefused, match=r"has_permission.*actor 'u-9' lacks permission"):
        wf.fire(acct, "make_permanent", at=T0 + DAY, actor=INTERN)
    assert snapshot(acct) == before
    wf.fire(acct, "make_permanent", at=T0 + DAY, actor=CLERK)
    assert wf.status_of(acct).name == "permanent"


# -- actors ---------------------------------------------------------------------------


def test_actor_values() -> None:
    """Actors are persons by default; kinds and permissions convert from plain values."""
    assert Actor("u-1").kind is ActorKind.PERSON and not Actor("u-1").is_system
    job = Actor("nightly", kind="system", permissions=EDIT)
    assert job.is_system and job.can(EDIT) and job.permissions == frozenset({EDIT})
    assert SYSTEM.is_system and Actor.system() == SYSTEM
    with pytest.raises(TypeError):
        Actor(7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'robot' is not a valid ActorKind"):
        Actor("x", kind="robot")  # type: ignore[arg-type]


def test_a_non_actor_is_refused(wf: Workflow, acct: Account) -> None:
    """Passing a string where an Actor belongs is refused; nothing changes."""
    before = snapshot(acct)
    with pytest.raises(InvalidArgument, match=r"an acctstate\.Actor or None"):
        wf.fire(acct, "ban", at=T0 + DAY, actor="u-7")  # type: ignore[arg-type]
    assert snapshot(acct) == before


# -- scheduled changes ----------------------------------------------------------------


def schedule_state(book: Schedule) -> list[Any]:
    return book.entries


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"actor": CLERK}, ReasonRequired, "a reason is required for 'suspend'"),
        ({"actor": CLERK, "reason": "x"}, ReasonRequired, "unknown reason 'x' for 'suspend'"),
        ({"reason": "non_payment"}, PermissionDenied, "no actor was given"),
        ({"reason": "non_payment", "actor": INTERN}, PermissionDenied, "actor 'u-9' lacks it"),
    ],
)
def test_scheduling_checks_reason_and_permission_now(
    wf: Workflow, acct: Account, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """A change that could never pass its reason or permission check is refused when
    scheduled, not when due; nothing is recorded."""
    book = Schedule(wf)
    book.add(acct, "ban", at=T0 + DAY)
    before, entries = snapshot(acct), schedule_state(book)
    with pytest.raises(error, match=match):
        wf.schedule(acct, "suspend", at=T0 + 10 * DAY, book=book, **kwargs)
    assert (snapshot(acct), schedule_state(book)) == (before, entries)


def test_scheduled_by_a_permitted_person_is_fired_as_that_person(
    wf: Workflow, acct: Account
) -> None:
    """The person who scheduled the change is its actor when it is applied, reason and note kept."""
    book = Schedule(wf)
    wf.schedule(
        acct,
        "suspend",
        at=T0 + DAY,
        book=book,
        reason="non_payment",
        note="3rd notice",
        actor=CLERK,
    )
    (change,) = book.apply_due(T0 + DAY).changes
    assert (change.actor, change.reason, change.note) == (CLERK, "non_payment", "3rd notice")


def test_a_permission_needed_only_later_fails_when_due_and_says_why(wf: Workflow) -> None:
    """Scheduled by nobody from dunning (no permission needed there), 'suspend' reaches an
    account that has meanwhile settled to active, where it needs the permission: the
    system actor lacks it, so it is recorded as failed naming the permission."""
    acct = wf.open("A-1", "active_dunning_1", at=T0, imported=True)
    book = Schedule(wf)
    book.add(acct, "settle", at=T0 + DAY, balance=Decimal("0"))
    book.add(acct, "suspend", at=T0 + 2 * DAY)
    result = book.apply_due(T0 + 3 * DAY)
    assert [e.trigger for e in result.applied] == ["settle"]
    (failed,) = result.failed
    assert failed.state is ScheduleState.FAILED and failed.settled_by == SYSTEM
    assert failed.detail is not None and failed.detail.startswith(
        "PermissionDenied: cannot fire 'suspend' on account 'A-1': permission "
        "'edit_account_status' is required and actor 'acctstate' lacks it"
    )
    assert wf.status_of(acct).name == "active"


@pytest.mark.parametrize(
    ("actor", "match"), [(None, "no actor was given"), (INTERN, "actor 'u-9' lacks it")]
)
def test_withdrawing_needs_the_permission_the_change_needs(
    wf: Workflow, acct: Account, actor: Actor | None, match: str
) -> None:
    """Someone who may not change the status may not withdraw a planned change either."""
    book = Schedule(wf)
    sc = book.add(acct, "suspend", at=T0 + DAY, reason="non_payment", actor=CLERK)
    entries = schedule_state(book)
    with pytest.raises(PermissionDenied, match=match):
        book.withdraw(sc, actor=actor)
    assert schedule_state(book) == entries and book[sc.id].pending
    out = book.withdraw(sc, actor=CLERK, note="paid at the counter")
    assert (out.settled_by, out.detail) == (CLERK, "paid at the counter")
