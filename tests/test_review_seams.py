"""Seams a review of the dunning, holds and batch work found, each pinned by the case
that showed it: the workflow's default zone read by every rule, refusals that change
nothing (the host's ledger included), ids compared one way, and typed errors only."""

from __future__ import annotations

import datetime as dt
import types
from decimal import Decimal

import pytest

from acctstate.automation import (
    AutomationPolicy,
    CreditHold,
    HoldRelease,
    columns_from_accounts,
    hold_columns,
    sweep,
    sweep_columns,
)
from acctstate.batch import ChangeStatus, preview, select
from acctstate.effects import Hooks, RecordingHooks
from acctstate.errors import HistoryConflict, InvalidArgument
from acctstate.history import History, StatusChange
from acctstate.holds import STANDARD_HOLDS
from acctstate.invoices import Invoice, Payment, auto_apply
from acctstate.presets import account_class, isp

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)  # still 31 May in Los Angeles
LA = "America/Los_Angeles"


def test_a_credit_hold_counts_past_due_days_in_the_workflows_default_zone() -> None:
    """An account with no zone of its own is read in the workflow's default zone by the
    hold-placing credit-hold rule too: 20 days past due in UTC, 19 in Los Angeles, so no
    hold at 20 days, per account as column-wise."""
    wf = isp.workflow().with_holds(STANDARD_HOLDS).with_defaults(timezone=LA)
    policy = AutomationPolicy(
        wf, credit_hold=CreditHold(past_due_days=20, min_past_due=Decimal("50"), hold="credit")
    )
    oldest = dt.datetime(2026, 5, 12, 8, 0, tzinfo=dt.UTC)  # 12 May 01:00 in Los Angeles
    a = wf.open(
        "A-1",
        "active",
        at=NOW - dt.timedelta(days=90),
        imported=True,
        balance=Decimal("80"),
        unpaid_invoices=1,
        oldest_unpaid_at=oldest,
    )
    a.timezone = None
    per_account = [str(c) for p in sweep([a], policy, now=NOW) for c in p.changes]
    columns = sweep_columns(columns_from_accounts([a]), policy, now=NOW, holds=hold_columns([()]))
    assert per_account == []
    assert columns.holds.decisions() == {}
    # A day later both place it.
    later = NOW + dt.timedelta(days=1)
    assert [c.trigger for p in sweep([a], policy, now=later) for c in p.changes] == ["place_hold"]


def test_the_auto_apply_reads_a_payment_day_in_the_workflows_default_zone() -> None:
    """A payment received on 1 June (billing calendar) is not there yet at 02:00 UTC on
    1 June when the billing zone is Los Angeles: nothing is allocated."""
    wf = isp.workflow().with_defaults(timezone=LA)
    policy = AutomationPolicy(wf, auto_apply=True)
    a = wf.open(
        "A-1",
        "active",
        at=NOW - dt.timedelta(days=90),
        imported=True,
        invoices=[Invoice("I-1", Decimal("30"), dt.date(2026, 5, 1), dt.date(2026, 5, 15))],
        payments=[Payment("P-1", Decimal("30"), dt.date(2026, 6, 1))],
    )
    a.timezone = None
    assert [e for p in sweep([a], policy, now=NOW) for e in p.applied] == []
    booked = [
        e.invoice for p in sweep([a], policy, now=NOW + dt.timedelta(hours=8)) for e in p.applied
    ]
    assert booked == ["I-1"]


def _owing(history: History | None = None, **more: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        id="A-1",
        status=1,
        status_since=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        history=history if history is not None else History(),
        invoices=[Invoice("I-1", Decimal("30"), dt.date(2026, 1, 1), dt.date(2026, 1, 15))],
        payments=[Payment("P-1", Decimal("50"), dt.date(2026, 2, 1))],
        timezone="UTC",
        **more,
    )


@pytest.mark.parametrize("recorded", [True, False], ids=["history", "status_since"])
def test_a_refused_auto_apply_tells_the_ledger_nothing_and_records_nothing(recorded: bool) -> None:
    """Back-dated before the account's latest change (in its history, or its
    status_since when the history is empty): refused before the ledger hook runs, with
    no entry recorded and the payments as they were."""
    wf = account_class.workflow()
    history = History()
    if recorded:
        st = wf.catalog[1]
        history.append(StatusChange("A-1", st, st, "open", dt.datetime(2026, 3, 1, tzinfo=dt.UTC)))
    host = _owing(history)
    before = (list(host.history), list(host.payments))
    ledger = RecordingHooks()
    with pytest.raises(HistoryConflict):
        auto_apply(wf, host, at=dt.datetime(2026, 2, 2, tzinfo=dt.UTC), hooks=Hooks(ledger=ledger))
    assert ledger.done == {}
    assert (list(host.history), list(host.payments)) == before


def test_a_temporary_release_lifts_a_host_whose_id_is_a_number_once() -> None:
    """Ids are compared as text by every credit-hold rule: a host with ``id=7`` under a
    release for "7" is lifted once, per account as column-wise (the return rule read the
    raw id and undid the release until the rules gave up)."""
    policy = account_class.policy(
        releases=[HoldRelease("7", NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1))]
    )
    code = policy.workflow.catalog["credit_hold"].code
    host = types.SimpleNamespace(
        id=7,
        status=code,
        status_since=NOW - dt.timedelta(days=40),
        balance=Decimal("50"),
        oldest_unpaid_at=NOW - dt.timedelta(days=45),
        unpaid_invoices=1,
        history=None,
    )
    (plan,) = sweep([host], policy, now=NOW).plans
    assert plan.error is None
    assert [c.trigger for c in plan.changes] == ["auto_lift_credit_hold"]
    columns = sweep_columns(columns_from_accounts([host]), policy, now=NOW)
    assert [t for _, t, *_ in columns.decisions()[0]] == ["auto_lift_credit_hold"]


def test_batch_refuses_a_naive_status_since_with_a_typed_error() -> None:
    """A host whose status_since is naive is that account's typed refusal in a batch
    (the error fire raises), not a comparison error; the other account goes on."""
    wf = isp.workflow()
    code = wf.catalog["active"].code
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ok = types.SimpleNamespace(id="A-1", status=code, status_since=since, history=None, holds=())
    bad = types.SimpleNamespace(
        id="A-2", status=code, status_since=since.replace(tzinfo=None), history=None, holds=()
    )
    rows = preview(select(wf, [ok, bad]), ChangeStatus("active_dunning_pending"), at=NOW).rows()
    assert [(r.account_id, r.action.value) for r in rows] == [("A-1", "change"), ("A-2", "refused")]
    assert "invalid status_since" in (rows[1].reason or "")
    with pytest.raises(InvalidArgument, match="status_since"):
        wf.plan(bad, "escalate_dunning", at=NOW)


def test_invoices_due_the_same_day_are_paid_in_the_same_order_on_both_paths() -> None:
    """Two invoices due and issued alike, listed out of id order: the per-account
    allocation pays the lower id first; the column-wise one does too when the table
    gives the ids (without them, table order)."""
    import numpy as np

    wf = isp.workflow()
    policy = AutomationPolicy(wf, auto_apply=True)
    issued, due = dt.date(2026, 4, 1), dt.date(2026, 4, 15)
    a = wf.open(
        "A-1",
        "active",
        at=NOW - dt.timedelta(days=90),
        imported=True,
        invoices=[
            Invoice("I-2", Decimal("30"), issued, due),
            Invoice("I-1", Decimal("30"), issued, due),
        ],
        payments=[Payment("P-1", Decimal("30"), dt.date(2026, 5, 1))],
    )
    (plan,) = sweep([a], policy, now=NOW).plans
    assert [(e.invoice, e.amount) for e in plan.applied] == [("I-1", Decimal("30"))]
    book = {"status": np.array([1]), "balance": np.array([6000]), "unapplied": np.array([3000])}
    table = {
        "account": np.array([0, 0]),
        "due": np.array([due, due], "datetime64[D]"),
        "issued": np.array([issued, issued], "datetime64[D]"),
        "open": np.array([3000, 3000]),
        "id": np.array(["I-2", "I-1"]),
    }
    out = sweep_columns(book, policy, now=NOW, invoices=table)
    assert (out.applied_invoice.tolist(), out.applied_amount.tolist()) == ([1], [3000])
