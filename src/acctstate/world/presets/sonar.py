"""Sonar-style statuses: Lead, Active and Inactive, and custom statuses with an
"activates" flag, an icon and a colour.

A status that *activates* the account provisions it and bills it; one that does not
does neither. Each status maps onto a back-end class for statistics:

* ``lead`` (prospect, does not activate): a potential customer; never re-entered;
* ``active`` (activates): the catch-all in-service status;
* ``inactive`` (closed): no longer receiving service;
* ``pending_install`` (pending): an installation is scheduled, not yet done;
* ``failed_install`` (pending): the installation failed and may be rescheduled;
* ``vacation`` (suspended): service paused while the customer is away;
* ``collections`` (closed): the debt was handed to a collection agency;
* ``terminated_winback`` (closed): left the network, may be won back;
* ``terminated_no_winback`` (closed, terminal): unrecoverable (moved out of the
  coverage zone).

>>> wf = workflow()
>>> [s.name for s in wf.catalog if s.activates]
['active']
>>> wf.catalog["vacation"].icon, wf.catalog["vacation"].color
('umbrella-beach', '#f6b26b')
"""

from __future__ import annotations

from acctstate.core.workflow import Workflow
from acctstate.values.graph import Transition
from acctstate.values.guards import balance_settled
from acctstate.values.status import Status

__all__ = ["statuses", "transitions", "workflow"]


def statuses() -> list[Status]:
    """The three default statuses and the common custom ones."""
    c = Status.custom
    return [
        c(
            30,
            "lead",
            backend="prospect",
            activates=False,
            icon="bullseye",
            color="#9e9e9e",
            description="A potential customer; does not activate the account.",
        ),
        c(
            1,
            "active",
            activates=True,
            icon="check-circle",
            color="#6aa84f",
            description="The catch-all activating status: billed and in service.",
        ),
        c(
            0,
            "inactive",
            backend="closed",
            activates=False,
            icon="times-circle",
            color="#cc0000",
            description="No longer receiving service.",
        ),
        c(
            31,
            "pending_install",
            backend="pending",
            activates=False,
            icon="calendar",
            color="#3d85c6",
            description="Install scheduled, not yet completed (projected revenue).",
        ),
        c(
            32,
            "failed_install",
            backend="pending",
            activates=False,
            icon="exclamation-triangle",
            color="#e69138",
            description="The installation failed.",
        ),
        c(
            51,
            "vacation",
            backend="suspended",
            activates=False,
            icon="umbrella-beach",
            color="#f6b26b",
            description="The customer is away for an extended period.",
        ),
        c(
            -10,
            "collections",
            backend="closed",
            activates=False,
            icon="gavel",
            color="#741b47",
            description="Delinquent; the debt was given to a collection agency.",
        ),
        c(
            -3,
            "terminated_winback",
            backend="closed",
            activates=False,
            icon="undo",
            color="#8e7cc3",
            label="Terminated (win-back)",
            description="Left the network; a win-back or marketing opportunity.",
        ),
        c(
            -4,
            "terminated_no_winback",
            backend="closed",
            activates=False,
            terminal=True,
            icon="ban",
            color="#434343",
            label="Terminated (no win-back)",
            description="Left for good (e.g. moved out of the coverage zone).",
        ),
    ]


def transitions() -> list[Transition]:
    """The transitions between Sonar's statuses."""
    T = Transition
    many = Transition.many
    return [
        T("schedule_install", "lead", "pending_install", description="install scheduled"),
        *many(
            "activate",
            ["lead", "pending_install"],
            "active",
            description="the account is activated (install completed)",
        ),
        T(
            "fail_install",
            "pending_install",
            "failed_install",
            description="the installation failed",
        ),
        T(
            "reschedule_install",
            "failed_install",
            "pending_install",
            description="a subsequent installation is scheduled",
        ),
        T(
            "start_vacation",
            "active",
            "vacation",
            description="service paused while the customer is away",
        ),
        T("end_vacation", "vacation", "active", description="back from vacation"),
        T("deactivate", "active", "inactive", description="left the network"),
        T("reactivate", "inactive", "active", description="a returning customer"),
        *many(
            "send_to_collections",
            ["active", "vacation", "inactive"],
            "collections",
            description="the debt is handed to a collection agency",
        ),
        T(
            "settle",
            "collections",
            "inactive",
            guards=[balance_settled()],
            description="the agency collected the debt",
        ),
        *many(
            "terminate_winback",
            ["active", "vacation", "inactive", "failed_install"],
            "terminated_winback",
            description="termination with win-back potential",
        ),
        T(
            "win_back",
            "terminated_winback",
            "active",
            description="a win-back opportunity converted",
        ),
        *many(
            "terminate",
            [
                "lead",
                "active",
                "vacation",
                "inactive",
                "pending_install",
                "failed_install",
                "collections",
                "terminated_winback",
            ],
            "terminated_no_winback",
            description="termination without win-back potential",
        ),
    ]


def workflow() -> Workflow:
    """The Sonar workflow (a new, validated ``Workflow``).

    >>> workflow().initial[0].name
    'lead'
    """
    return Workflow(statuses=statuses(), transitions=transitions(), initial=["lead"], name="sonar")
