"""Small workflows shared by several test modules (imported as a plain module: pytest puts
tests/ on sys.path)."""

from __future__ import annotations

from acctstate.graph import Transition
from acctstate.guards import balance_settled
from acctstate.status import Status
from acctstate.workflow import Workflow


def hold_workflow() -> Workflow:
    """Seed 002's statuses, enough of them to drive credit hold."""
    statuses = [
        Status(code=30, name="prospect", backend="prospect", one_way=True),
        Status(code=1, name="active", backend="active", provisioned=True, billable=True),
        Status(code=7, name="credit_hold", backend="suspended", billable=True),
        Status(code=0, name="inactive", backend="suspended"),
        Status(code=-2, name="closed", backend="closed", terminal=True),
    ]
    T = Transition
    return Workflow(
        statuses=statuses,
        transitions=[
            T("activate", "prospect", "active"),
            T("place_credit_hold", "active", "credit_hold"),
            T("remove_credit_hold", "credit_hold", "active", guards=[balance_settled()]),
            T("release_credit_hold", "credit_hold", "active"),
            T("deactivate", "credit_hold", "inactive"),
            T("reactivate", "inactive", "active"),
            *T.many("close", ["active", "inactive"], "closed"),
        ],
        initial=["prospect"],
        name="field_service",
    )
