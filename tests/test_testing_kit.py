"""The testing kit: strategies derived from any workflow, and the ready stateful test
that checks every invariant after each step (and fails on a workflow that breaks one)."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.stateful import run_state_machine_as_test

from acctstate.account import Account
from acctstate.engine import CompiledTable
from acctstate.errors import AcctStateError, InvalidArgument
from acctstate.graph import Transition
from acctstate.guards import balance_settled, has_permission, not_
from acctstate.holds import STANDARD_HOLDS
from acctstate.presets import isp
from acctstate.status import Status
from acctstate.testing import (
    Step,
    WorkflowInvariantError,
    accounts,
    actors,
    event_data,
    guard_inputs,
    permissions_of,
    reasons_of,
    trigger_sequences,
    workflow_state_machine,
)
from acctstate.workflow import Workflow

WF = isp.workflow()

# The reference workflow, checked after every step by the kit itself.
TestIspWorkflow = workflow_state_machine(WF).TestCase

QUICK = settings(
    max_examples=15,
    stateful_step_count=15,
    deadline=None,
    database=None,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)


# Shrinking a deliberately broken workflow's failure only costs time.
NO_SHRINK = settings(QUICK, phases=[Phase.generate])


def small() -> Workflow:
    """A three-status workflow with a permission, a reason list and a custom-attr guard."""
    funds_low = balance_settled(attr="funds", tolerance=Decimal("1.00"))
    return Workflow(
        statuses=[
            Status(code=0, name="new", backend="pending", one_way=True),
            Status(code=1, name="live", backend="active", provisioned=True, billable=True),
            Status(code=-1, name="gone", backend="closed", terminal=True),
        ],
        transitions=[
            Transition("start", "new", "live"),
            Transition("close", "live", "gone", permission="edit_account_status"),
            Transition("drain", "live", "gone", guards=[funds_low], reasons=["empty", "fraud"]),
            Transition("refill", "new", "live", guards=[has_permission("top_up")]),
            Transition("stop", "new", "gone", guards=[not_(funds_low)]),
        ],
        initial=["new"],
        name="small shop",
    )


@given(accounts(WF))
def test_accounts_are_valid_accounts_of_the_workflow(acct: Account) -> None:
    """A drawn account is in a status of the catalog, with an opened history that
    ends in that status, an aware status_since and Decimal money."""
    assert acct.status in WF.catalog
    assert acct.history[-1].dest.code == acct.status
    assert acct.status_since is not None and acct.status_since.utcoffset() is not None
    assert isinstance(acct.balance, Decimal)


@given(accounts(WF, statuses=["prospect", "archived"]))
def test_accounts_can_be_restricted_to_some_statuses(acct: Account) -> None:
    """``statuses=`` limits the drawn accounts to those statuses."""
    assert WF.catalog[acct.status].name in {"prospect", "archived"}


def test_guard_inputs_follow_the_guards_attr() -> None:
    """A guard built with ``attr=`` makes the kit draw that attribute, with its kind."""
    assert guard_inputs(small()) == {"funds": "money"}
    assert guard_inputs(WF)["period_end"] == "instant"


def test_permissions_come_from_transitions_and_guards() -> None:
    """Both ``Transition(permission=)`` and ``has_permission`` guards are found."""
    assert permissions_of(small()) == ("edit_account_status", "top_up")
    assert permissions_of(WF) == ()


def test_reasons_are_those_the_trigger_accepts() -> None:
    """``reasons_of`` lists the declared reason codes, sorted, per status if asked."""
    wf = small()
    assert reasons_of(wf, "drain") == ("empty", "fraud")
    assert reasons_of(wf, "drain", wf.catalog["new"]) == ()
    assert reasons_of(wf, "start") == ()


@given(event_data(small()), actors(small()))
def test_event_data_and_actors_are_well_typed(data: dict[str, Any], actor: Any) -> None:
    """Event data never holds float money or naive datetimes; actors hold only the
    workflow's permissions."""
    for value in data.values():
        assert type(value) is not float
        if isinstance(value, dt.datetime):
            assert value.utcoffset() is not None
    assert set(data) <= {"funds"}
    if actor is not None:
        assert actor.permissions <= {"edit_account_status", "top_up"}


@given(accounts(WF), trigger_sequences(WF, max_size=10))
def test_replaying_a_trigger_sequence_only_raises_acctstate_errors(
    acct: Account, steps: list[Step]
) -> None:
    """Any sequence of triggers, times and data either fires or is refused with an
    acctstate error; the account always stays in a status of the catalog."""
    at = acct.status_since
    assert at is not None
    for step in steps:
        at = at + step.after
        with contextlib.suppress(AcctStateError):
            WF.fire(acct, step.trigger, at=at, actor=step.actor, reason=step.reason, **step.data)
        assert acct.status in WF.catalog


def test_machine_is_named_after_the_workflow() -> None:
    """The machine class carries the workflow's name (shown in hypothesis reports)."""
    assert workflow_state_machine(small()).__name__ == "SmallShopWorkflowMachine"


def test_machine_refuses_something_that_is_not_a_workflow() -> None:
    """Passing anything but a Workflow fails at once, naming what was expected."""
    with pytest.raises(InvalidArgument, match=r"an acctstate\.Workflow"):
        workflow_state_machine("isp")  # type: ignore[arg-type]


def test_machine_passes_on_a_small_workflow_with_permissions_and_reasons() -> None:
    """Permissions, reason lists and custom-attr guards are exercised without a
    false alarm."""
    run_state_machine_as_test(workflow_state_machine(small()), settings=QUICK)


class _LeakyFire(Workflow):
    """Touches status_since even when firing is refused."""

    __slots__ = ()

    def fire(self, account: Any, trigger: str, **kwargs: Any) -> Any:
        try:
            return super().fire(account, trigger, **kwargs)
        except AcctStateError:
            account.status_since = account.status_since + dt.timedelta(seconds=1)
            raise


class _WrongTable(Workflow):
    """Publishes a compiled table that sends every trigger back to the source."""

    __slots__ = ()

    @property
    def table(self) -> CompiledTable:
        edges = [e.__class__(e.trigger, e.source, e.source, e.guards) for e in self.transitions]
        return CompiledTable(edges)


def _clone(cls: type[Workflow], wf: Workflow) -> Workflow:
    return cls(statuses=wf.catalog, transitions=wf.transitions, initial=wf.initial, name=wf.name)


def test_machine_catches_a_refusal_that_changes_the_account() -> None:
    """A workflow whose refused fire still touches the account fails the run."""
    machine = workflow_state_machine(_clone(_LeakyFire, small()))
    with pytest.raises(WorkflowInvariantError, match="refusal-changes-nothing"):
        run_state_machine_as_test(machine, settings=NO_SHRINK)


def test_machine_catches_a_table_that_disagrees_with_the_engine() -> None:
    """A compiled table answering differently from the engine fails the run."""
    machine = workflow_state_machine(_clone(_WrongTable, small()), start=["new"])
    with pytest.raises(WorkflowInvariantError, match="table-agrees-with-engine"):
        run_state_machine_as_test(machine, settings=NO_SHRINK)


# -- holds ----------------------------------------------------------------------------

HELD_WF = isp.workflow().with_holds(STANDARD_HOLDS)

# The reference workflow with every standard hold type: placements and releases are
# drawn between the status changes, and the union invariants checked after each step.
TestHeldIspWorkflow = workflow_state_machine(HELD_WF).TestCase


def test_the_held_machine_draws_hold_steps() -> None:
    """A workflow with hold types gets the place and release rules and the union
    invariant; one without gets none of them."""
    held = workflow_state_machine(HELD_WF)
    plain = workflow_state_machine(WF)
    assert {"place_hold", "release_hold", "holds_are_a_union"} <= set(dir(held))
    assert not {"place_hold", "release_hold"} & set(dir(plain))
    run_state_machine_as_test(
        workflow_state_machine(small().with_holds(STANDARD_HOLDS)), settings=QUICK
    )


def test_the_machine_catches_a_start_under_a_standing_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold changes whose effects ignore the other standing holds (always starting billing
    again on a release) fail the run."""
    import acctstate.operations.holds._place as place

    def careless(source: Any, dest: Any, before: Any, after: Any) -> Any:
        # A release computed as if no other hold stood afterwards.
        return real(source, dest, before, () if len(after) < len(before) else after)

    real = place.hold_effects
    monkeypatch.setattr(place, "hold_effects", careless)
    billing = [t for t in STANDARD_HOLDS if t.name in ("manual", "credit")]
    machine = workflow_state_machine(small().with_holds(billing), start=["live"])
    with pytest.raises(
        WorkflowInvariantError, match=r"effects-follow-effective-capability|start-under-hold"
    ):
        run_state_machine_as_test(
            machine,
            settings=settings(
                NO_SHRINK, max_examples=300, stateful_step_count=30, derandomize=True
            ),
        )
