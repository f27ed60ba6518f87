"""The column-wise sweep by table lookups decides exactly as the round-by-round sweep.

Most policies ask of a row only questions its own columns answer; the sweep then
reads each row's answers as a signature and looks its moves up by (signature, ladder
step, status). These tests compare that path with the rounds on random books (arrays,
refusals, chains of several moves, time zones), check it is the path taken, and that
policies it cannot answer fall back.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _workflows import hold_workflow, kill_bill_workflow
from acctstate.account import Account
from acctstate.automation import (
    AutomationPolicy,
    CreditHold,
    DunningLadder,
    HoldRelease,
    LadderCancellation,
    LadderStep,
    columns_from_accounts,
    reference_ladder,
    sweep,
    sweep_columns,
)
from acctstate.errors import InvalidArgument
from acctstate.graph import Transition
from acctstate.guards import (
    all_of,
    any_of,
    balance_settled,
    days_in_status,
    guard,
    has_payment_method,
    has_permission,
    not_,
    period_ended,
)
from acctstate.operations.automation import _columns, _columns_table
from acctstate.operations.automation._columns_plan import _plan
from acctstate.presets import isp

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = 86_400 * 10**9
NOW_NS = int(np.datetime64("2026-06-01T02:00:00", "ns").astype(np.int64))
NAT = np.iinfo(np.int64).min
WF = isp.workflow()
CODES = np.array([1, 1, 1, 10, 11, 12, 13, -11, -12, -13, 41, -1, -2, -3, -4, 22, 21, 0, -99, 32])
ZONES = np.array(["UTC", "Europe/Paris", "America/New_York", "Pacific/Auckland"], dtype=object)

COMPOSITE = any_of(
    balance_settled(tolerance=Decimal("0.01")),
    all_of(
        has_payment_method(),
        days_in_status(30, attr="first_used_at"),
        period_ended(attr="expires_at"),
        has_permission("close_accounts"),
    ),
)
POLICIES = {
    "ladder, trial, contract, archive": AutomationPolicy(
        WF,
        ladder=reference_ladder(),
        trial_end="end_trial",
        contract_expiry="expire_contract",
        archive="archive",
    ),
    "with expiration, archive after 30 days": AutomationPolicy(
        WF,
        ladder=reference_ladder(),
        trial_end="end_trial",
        contract_expiry="expire_contract",
        expiration="deactivate",
        archive="archive",
        archive_after_days=30,
    ),
    "no ladder": AutomationPolicy(WF, trial_end="end_trial", archive="archive"),
    # Edges asking composite guards, other date columns and a permission.
    "composite guards": AutomationPolicy(
        WF.extend(
            transitions=[
                Transition("expire_guarded", "active", "contract_expired", guards=[COMPOSITE]),
                Transition("expire_guarded", "active", "canceled", guards=[not_(COMPOSITE)]),
            ]
        ),
        ladder=reference_ladder(),
        contract_expiry="expire_guarded",
        trial_end="end_trial",
        archive="archive",
    ),
}


HOLD_POLICY = AutomationPolicy(
    hold_workflow(),
    credit_hold=CreditHold(
        past_due_days=30,
        min_past_due=Decimal("100"),
        inactive_after_days=60,
        releases=[
            HoldRelease("A-2", NOW - dt.timedelta(days=2), NOW + dt.timedelta(days=5)),
            HoldRelease("A-1", NOW - dt.timedelta(days=9), NOW - dt.timedelta(days=2)),
        ],
    ),
)
HOLD_CODES = np.array([1, 1, 7, 0, -2, 30])
FIELD_POLICY = attrs.evolve(HOLD_POLICY, account_class="field")
# A ladder whose last step cancels at the end of the period (rows on the top step
# without a period end are errors where the cancellation is asked).
CANCELLING = AutomationPolicy(
    kill_bill_workflow(),
    ladder=DunningLadder(
        [
            LadderStep("od1", min_days=10),
            LadderStep("od2", min_days=14),
            LadderStep(
                "od3", min_days=21, cancel=LadderCancellation("cancel", when="end_of_period")
            ),
        ],
        home="active",
        clear=("settle",),
        deescalate="deescalate_dunning",
        ends_in_cancellation=True,
    ),
)
KB_CODES = np.array([1, 1, 101, 102, 103, 103, -2])


def _book(seed: int, n: int, zoned: bool, codes: Any = CODES) -> dict[str, Any]:
    """Random columns around the policies' thresholds (some rows owe, some are in a
    trial, some closed long ago, dates on both sides of now)."""
    rng = np.random.default_rng(seed)

    def when(lo_days: int, hi_days: int, gaps: float) -> Any:
        hours = rng.integers(lo_days * 24, hi_days * 24 + 1, size=n)
        at = NOW_NS + hours * (DAY // 24)
        return np.where(rng.random(n) < gaps, NAT, at).view("datetime64[ns]")

    owes = rng.random(n) < 0.5
    cols: dict[str, Any] = {
        "id": np.array([f"A-{i}" for i in range(n)], dtype=object),
        "status": rng.choice(codes, size=n),
        "balance": np.where(owes, rng.choice([1, 9999, 10000, 25075], size=n), 0),
        "unpaid_invoices": rng.integers(0, 4, size=n),
        "payment_method": rng.random(n) < 0.6,
        "oldest_unpaid_at": when(-120, 2, 0.3),
        "status_since": when(-400, 0, 0.1),
        "trial_ends_at": when(-2, 2, 0.3),
        "contract_ends_at": when(-2, 2, 0.5),
        "expires_at": when(-1, 1, 0.5),
        "period_end": when(-3, 3, 0.4),
        "first_used_at": when(-60, 0, 0.3),
        "availability_days": rng.integers(-1, 90, size=n),
    }
    if zoned:
        cols["timezone"] = rng.choice(ZONES, size=n)
    if seed % 3 == 0:
        # Control tags: enforcement off freezes a row on its step; tags that are not
        # names make the row an error (reported, not planned).
        tags = np.empty(n, dtype=object)
        choices = [None, "OVERDUE_ENFORCEMENT_OFF", ("AUTO_PAY_OFF",), "bad tag!"]
        tags[:] = [choices[i] for i in rng.choice(4, size=n, p=[0.7, 0.15, 0.1, 0.05])]
        cols["control_tags"] = tags
    return cols


def _arrays(out: Any) -> dict[str, list[int]]:
    names = [
        "status",
        "change_row",
        "change_hop",
        "change_rule",
        "change_source",
        "change_dest",
        "blocked_row",
        "blocked_rule",
        "error_row",
    ]
    got = {name: getattr(out, name).tolist() for name in names}
    got["change_trigger"] = [out.triggers[t] for t in out.change_trigger.tolist()]
    got["blocked_trigger"] = [out.triggers[t] for t in out.blocked_trigger.tolist()]
    return got


def _by_rounds(monkeypatch: pytest.MonkeyPatch, cols: Any, policy: Any, now: Any) -> Any:
    with monkeypatch.context() as m:
        m.setattr(_columns, "table_run", lambda *args, **kwargs: None)
        return sweep_columns(cols, policy, now=now)


CASES = [
    *sorted(POLICIES),
    "credit hold, releases",
    "two classes, unknown codes",
    "ladder ending in cancellation",
]


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(CASES),
    st.integers(0, 2**32 - 1),
    st.integers(1, 300),
    st.booleans(),
    st.integers(-72, 72),
)
def test_tables_decide_as_the_rounds(name: str, seed: int, n: int, zoned: bool, shift: int) -> None:
    """Same statuses, changes (row, hop, rule, trigger, from, to), refusals and errors,
    in the same order, on random books; and the tables are the path taken."""
    policy: Any
    if name == "credit hold, releases":
        policy, cols = HOLD_POLICY, _book(seed, n, zoned, HOLD_CODES)
    elif name == "ladder ending in cancellation":
        policy, cols = CANCELLING, _book(seed, n, zoned, KB_CODES)
    elif name == "two classes, unknown codes":
        # ISP accounts under one policy, "field" accounts under the hold policy, and
        # a few codes neither workflow has (those rows are errors).
        policy = [POLICIES["with expiration, archive after 30 days"], FIELD_POLICY]
        cols = _book(seed, n, zoned, np.array([*CODES, 7, 30, 77]))
        field = np.random.default_rng(seed).random(n) < 0.3
        cols["status"][field] = np.random.default_rng(seed + 1).choice(HOLD_CODES, field.sum())
        cols["account_class"] = np.where(field, "field", None)
    else:
        policy, cols = POLICIES[name], _book(seed, n, zoned)
    now = NOW + dt.timedelta(hours=shift)
    taken: list[bool] = []
    real = _columns_table.table_run

    def spy(*args: Any, **kwargs: Any) -> Any:
        got = real(*args, **kwargs)
        taken.append(got is not None)
        return got

    with pytest.MonkeyPatch.context() as m:
        m.setattr(_columns, "table_run", spy)
        fast = sweep_columns(cols, policy, now=now)
    assert taken and all(taken)
    with pytest.MonkeyPatch.context() as m:
        slow = _by_rounds(m, cols, policy, now)
    assert _arrays(fast) == _arrays(slow)


def test_tables_refuse_and_chain_as_the_per_account_sweep() -> None:
    """A specific book: a trial ending without a payment method (a guarded edge), a
    suspended account that pays (two moves), one climbing four steps, one closed long
    ago; the tables' answer is the per-account sweep's, refusals included."""
    policy = POLICIES["ladder, trial, contract, archive"]
    day = dt.timedelta(days=1)
    book = [
        Account(id="trial", status=41, trial_ends_at=NOW - day, payment_method=None),
        Account(id="paid", status=-12, payment_method="card", balance=Decimal(0)),
        Account(
            id="late",
            status=1,
            balance=Decimal("250.75"),
            unpaid_invoices=2,
            oldest_unpaid_at=NOW - 50 * day,
        ),
        Account(id="closed", status=-1, status_since=NOW - 400 * day),
        Account(id="owes, no method", status=-11, payment_method=None, balance=Decimal(5)),
    ]
    per_account = sweep(book, policy, now=NOW)
    out = sweep_columns(columns_from_accounts(book), policy, now=NOW)
    want = {
        i: [(c.rule, c.trigger, c.source.code, c.dest.code) for c in p.changes]
        for i, p in enumerate(per_account)
        if p.changes
    }
    assert out.decisions() == want
    assert len(want[2]) >= 4  # a chain of several moves
    refused = {i: [(b.rule, b.trigger) for b in p.blocked] for i, p in enumerate(per_account)}
    assert out.refusals() == {i: r for i, r in refused.items() if r}


def test_a_guard_written_in_python_is_swept_round_by_round() -> None:
    """A policy whose edge asks a guard with no column-wise form (a host's own Python
    function) has no tables; the sweep asks the guard row by row and still decides as
    the per-account sweep."""
    vip = guard("is_vip", lambda ctx: None if ctx.value("vip", False) else "not a VIP")
    wf = WF.extend(
        transitions=[Transition("expire_vip", "active", "contract_expired", guards=[vip])]
    )
    policy = AutomationPolicy(wf, contract_expiry="expire_vip", archive="archive")
    assert _columns_table._tables(_plan(policy)) is None
    day = dt.timedelta(days=1)
    book = [
        SimpleNamespace(id=f"A-{i}", status=1, contract_ends_at=NOW - day, vip=i % 2 == 0)
        for i in range(6)
    ]
    per_account = sweep(book, policy, now=NOW)
    cols = columns_from_accounts(book)
    cols["vip"] = np.array([a.vip for a in book])
    out = sweep_columns(cols, policy, now=NOW)
    want = {
        i: [(c.rule, c.trigger, c.source.code, c.dest.code) for c in p.changes]
        for i, p in enumerate(per_account)
        if p.changes
    }
    assert sorted(want) == [0, 2, 4]
    assert out.decisions() == want
    assert sorted(out.refusals()) == [1, 3, 5]


def test_a_book_reuses_the_tables_it_built() -> None:
    """The tables are built once per signature: a second sweep of the same book builds
    nothing (the snapshot is the same object) and answers the same."""
    policy = AutomationPolicy(
        WF, ladder=reference_ladder(), trial_end="end_trial", archive="archive"
    )
    cols = _book(11, 500, False)
    first = sweep_columns(cols, policy, now=NOW)
    tables = _columns_table._tables(_plan(policy))
    assert tables is not None
    snapshot = tables.snapshot
    again = sweep_columns(cols, policy, now=NOW)
    assert tables.snapshot is snapshot
    assert _arrays(first) == _arrays(again)


def test_a_column_the_tables_cannot_read_fails_only_where_the_rounds_fail() -> None:
    """The tables read every question of every row at once; a column that cannot be
    read (payment methods with no truth value) must not fail a book whose rows never
    ask it, and fails with the same error one whose rows do."""
    policy = POLICIES["ladder, trial, contract, archive"]
    odd = np.empty(3, dtype=object)
    odd[:] = [np.array([1, 2]), np.array([3, 4]), np.array([5, 6])]
    quiet = {"status": np.array([1, 1, 1]), "payment_method": odd}
    assert sweep_columns(quiet, policy, now=NOW).status.tolist() == [1, 1, 1]
    asking = {
        "status": np.array([1, 41, 1]),
        "trial_ends_at": np.array(["NaT", "2026-05-01", "NaT"], "datetime64[ns]"),
        "payment_method": odd,
    }
    with pytest.raises(InvalidArgument, match="payment_method"):
        sweep_columns(asking, policy, now=NOW)
