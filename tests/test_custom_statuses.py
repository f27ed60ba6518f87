"""Custom statuses: behaviour inherited from the back-end class unless overridden, seed
003's "activates" flag, and extensions of the ISP workflow that are re-validated."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acctstate.errors import DefinitionError, InvalidArgument
from acctstate.graph import Transition
from acctstate.guards import balance_settled
from acctstate.presets import isp
from acctstate.status import BACKEND_DEFAULTS, Backend, Status
from acctstate.testing import workflow_state_machine
from acctstate.workflow import Workflow

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
ISP = isp.workflow()


def vacation() -> Status:
    """Seed 003's Vacation, on the suspended back-end class."""
    return Status.custom(52, "vacation", backend="suspended", icon="plane", color="#6fa8dc")


@given(st.sampled_from(list(Backend)), st.integers(-1000, 1000))
def test_a_custom_status_inherits_its_backend_behaviour(backend: Backend, code: int) -> None:
    """Without overrides, every behaviour flag is the back-end class's default and
    usage billing follows recurring billing."""
    s = Status.custom(code, "custom_one", backend=backend)
    for flag, value in BACKEND_DEFAULTS[backend].items():
        assert getattr(s, flag) is value
    assert s.usage_billable is s.billable
    assert s.backend is backend


def test_overrides_win_over_the_backend() -> None:
    """Any flag given explicitly replaces the inherited one; display fields are the
    status's own."""
    s = Status.custom(
        9,
        "collections_external",
        backend="suspended",
        terminal=True,
        label="External collections",
        icon="gavel",
        color="#741b47",
        show_in_statistics=False,
    )
    assert (s.terminal, s.provisioned, s.billable) == (True, False, False)
    assert (s.label, s.icon, s.color, s.show_in_statistics) == (
        "External collections",
        "gavel",
        "#741b47",
        False,
    )


def test_like_copies_another_statuses_behaviour() -> None:
    """``like=`` copies behaviour (not the name, code or label) from a status: a
    temporary-ban variant bills though it is not provisioned, as code 51 does."""
    ban = ISP.catalog["temporary_ban"]
    s = Status.custom(53, "fraud_ban", like=ban)
    assert (s.backend, s.provisioned, s.billable, s.usage_billable) == (
        ban.backend,
        ban.provisioned,
        ban.billable,
        ban.usage_billable,
    )
    assert (s.name, s.code, s.label) == ("fraud_ban", 53, "Fraud ban")


@pytest.mark.parametrize(("activates", "backend"), [(True, Backend.ACTIVE), (False, None)])
def test_activates_flag_sets_provisioning_and_billing(
    activates: bool, backend: Backend | None
) -> None:
    """Seed 003: an activating status provisions and bills, a non-activating one does
    neither, whatever its back-end class would otherwise say."""
    s = Status.custom(5, "pending_install", backend=backend or "pending", activates=activates)
    assert s.provisioned is s.billable is s.activates is activates
    inactive_active = Status.custom(6, "odd", backend="active", activates=False)
    assert not inactive_active.provisioned and not inactive_active.activates


def test_activates_alone_picks_a_backend() -> None:
    """With only ``activates``, an activating status is active and a
    non-activating one suspended."""
    assert Status.custom(1, "a", activates=True).backend is Backend.ACTIVE
    assert Status.custom(2, "b", activates=False).backend is Backend.SUSPENDED


def test_a_custom_status_needs_a_backend() -> None:
    """Neither backend, like= nor activates: refused, saying what is accepted."""
    with pytest.raises(InvalidArgument, match="like= or activates="):
        Status.custom(3, "floating")
    with pytest.raises(InvalidArgument, match=r"invalid Status\.backend"):
        Status.custom(3, "floating", backend="limbo")
    with pytest.raises(InvalidArgument, match="True, False or None"):
        Status.custom(3, "floating", backend="active", activates="yes")  # type: ignore[arg-type]


def sonar_style_isp() -> Workflow:
    """The ISP workflow extended with every custom status seed 003 names."""
    c = Status.custom
    return ISP.extend(
        statuses=[
            vacation(),
            c(33, "pending_install", backend="pending", activates=False),
            c(34, "failed_install", backend="pending", activates=False),
            c(-21, "collections_internal", backend="suspended"),
            c(-22, "collections_external", backend="suspended"),
            c(-98, "bad_debt", backend="closed", terminal=True),
            c(-5, "terminated_winback", backend="closed"),
            c(-6, "terminated_no_winback", backend="closed", terminal=True),
        ],
        transitions=[
            Transition("start_vacation", "active", "vacation"),
            Transition("end_vacation", "vacation", "active"),
            Transition("schedule_install", "prospect", "pending_install"),
            Transition("fail_install", "pending_install", "failed_install"),
            Transition("reschedule_install", "failed_install", "pending_install"),
            Transition("complete_install", "pending_install", "active"),
            Transition("send_to_collections", "suspended_dunning_3", "collections_internal"),
            Transition("escalate_collections", "collections_internal", "collections_external"),
            Transition("write_off", "collections_external", "bad_debt"),
            *Transition.many(
                "settle",
                ["collections_internal", "collections_external"],
                "active",
                guards=[balance_settled()],
            ),
            Transition("terminate_winback", "active", "terminated_winback"),
            Transition("win_back", "terminated_winback", "active"),
            *Transition.many(
                "terminate_for_good",
                ["terminated_winback", "failed_install", "vacation"],
                "terminated_no_winback",
            ),
        ],
    )


def test_every_seed_003_custom_status_extends_the_isp_workflow() -> None:
    """Vacation, pending / failed install, internal / external collections, bad
    debt and both kinds of termination can be added to the ISP workflow."""
    wf = sonar_style_isp()
    assert len(wf.catalog) == len(ISP.catalog) + 8
    acct = wf.open("A-1", "prospect", at=T0)
    wf.fire(acct, "schedule_install", at=T0)
    wf.fire(acct, "fail_install", at=T0 + dt.timedelta(days=3))
    wf.fire(acct, "reschedule_install", at=T0 + dt.timedelta(days=4))
    change = wf.fire(acct, "complete_install", at=T0 + dt.timedelta(days=9))
    assert [e.kind for e in change.effects] == ["provision", "start_billing", "start_usage_billing"]
    change = wf.fire(acct, "start_vacation", at=T0 + dt.timedelta(days=30))
    assert [e.kind for e in change.effects] == ["stop_billing", "stop_usage_billing", "deprovision"]


# The extension is checked after every step like any workflow.
TestSonarStyleIsp = workflow_state_machine(sonar_style_isp()).TestCase


def _refused(**extension: object) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        ISP.extend(**extension)  # type: ignore[arg-type]
    return info.value


def test_a_way_back_to_prospect_is_refused() -> None:
    """A custom status that leads back to prospect re-opens a one-way status: the
    extension is refused naming the rule and the statuses."""
    error = _refused(
        statuses=[Status.custom(35, "lead_nurture", backend="pending")],
        transitions=[
            Transition("nurture", "active", "lead_nurture"),
            Transition("requalify", "lead_nurture", "prospect"),
        ],
    )
    assert "one-way" in error.rules
    assert "one-way status 'prospect' (30) can be re-entered once left, from 'lead_nurture'" in str(
        error
    )


def test_leaving_a_terminal_status_is_refused() -> None:
    """A transition out of a terminal custom status is refused."""
    error = _refused(
        statuses=[Status.custom(-98, "bad_debt", backend="closed", terminal=True)],
        transitions=[
            Transition("write_off", "suspended_dunning_3", "bad_debt"),
            Transition("recover", "bad_debt", "active"),
        ],
    )
    assert error.rules == {"terminal-exit"}
    assert "'recover' leaves terminal status 'bad_debt' (-98)" in str(error)


def test_a_trap_is_refused() -> None:
    """A custom status with no way to an end (a trap) is refused."""
    error = _refused(
        statuses=[Status.custom(-22, "collections_external", backend="suspended")],
        transitions=[Transition("send_to_agency", "suspended_dunning_3", "collections_external")],
    )
    assert error.rules == {"trap"}
    assert "status 'collections_external' (-22) cannot reach a terminal status" in str(error)


def test_an_unreachable_custom_status_is_refused() -> None:
    """A custom status nothing leads to is refused as unreachable."""
    error = _refused(statuses=[vacation()], transitions=[Transition("end", "vacation", "active")])
    assert error.rules == {"unreachable"}


def test_every_violation_is_listed_at_once() -> None:
    """An extension breaking several rules lists all of them."""
    error = _refused(
        statuses=[
            Status.custom(-98, "bad_debt", backend="closed", terminal=True),
            Status.custom(-22, "collections_external", backend="suspended"),
        ],
        transitions=[
            Transition("recover", "bad_debt", "prospect"),
            Transition("write_off", "active", "bad_debt"),
            Transition("send_to_agency", "active", "collections_external"),
        ],
    )
    assert error.rules == {"terminal-exit", "one-way", "trap"}
    # re-opening prospect also re-opens every one-way onboarding status after it
    assert str(error).startswith(f"invalid workflow ({len(error.violations)} problems)")
    assert len(error.violations) > 3


def test_a_refused_extension_leaves_the_workflow_unchanged() -> None:
    """The workflow being extended is immutable: a refused extension changes nothing."""
    before = isp.workflow()
    with pytest.raises(DefinitionError):
        ISP.extend(transitions=[Transition("requalify", "active", "prospect")])
    assert before == ISP


def test_relabelling_a_status_keeps_the_graph() -> None:
    """A custom status with an existing code replaces it (rename, restyle), and the
    transitions still apply."""
    wf = ISP.extend(statuses=[ISP.catalog["inactive"].evolve(label="Seasonal", icon="snowflake")])
    assert wf.catalog[0].label == "Seasonal"
    assert len(wf.transitions) == len(ISP.transitions)
