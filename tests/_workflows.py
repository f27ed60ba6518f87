"""Small workflows shared by several test modules (imported as a plain module: pytest puts
tests/ on sys.path)."""

from __future__ import annotations

import itertools

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


def kill_bill_workflow(n: int = 3, *, blocked: tuple[int, ...] = (2, 3)) -> Workflow:
    """``clear`` (active) and overdue states od1..odN; the ``blocked`` ones disable the
    entitlements (de-provisioned). Payment clears, partial payment steps down, and the
    most severe state may cancel."""
    statuses = [
        Status(code=1, name="active", backend="active", provisioned=True, billable=True),
        Status(code=-2, name="canceled", backend="closed", terminal=True),
    ]
    for i in range(1, n + 1):
        statuses.append(
            Status(
                code=100 + i,
                name=f"od{i}",
                backend="suspended" if i in blocked else "active",
                provisioned=i not in blocked,
                billable=True,
                dunning_step=i,
            )
        )
    names = ["active", *(f"od{i}" for i in range(1, n + 1))]
    tr = [Transition("cancel", s, "canceled") for s in names]
    for a, b in itertools.pairwise(names):
        tr.append(Transition("escalate_dunning", a, b))
        if a != "active":
            tr.append(Transition("deescalate_dunning", b, a))
    tr += [Transition("settle", s, "active", guards=[balance_settled()]) for s in names[1:]]
    # A dunning status may still allow plan changes (Kill Bill's blockChanges false):
    # here od1 does, as a self-transition. (The tutorial's WARNING blocks them.)
    tr.append(Transition("change_plan", "od1", "od1"))
    return Workflow(statuses=statuses, transitions=tr, initial=["active"], name="killbill")
