"""Dunning from invoices: past due is a property of invoices (not of a balance), counted in
calendar days of the billing time zone from the due date; the daily auto-apply (the
account class's "Run Daily Auto Apply": unapplied payments and credits to the oldest
invoice balances first) is bounded, oldest first and idempotent, and the per-account
and column-wise paths agree."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from acctstate.account import Account
from acctstate.automation import AutomationPolicy, apply, reference_ladder, sweep, sweep_columns
from acctstate.errors import GuardRefused, InvalidArgument
from acctstate.invoices import (
    AUTO_APPLY,
    ApplyPayment,
    Credit,
    Invoice,
    Payment,
    allocate,
    auto_apply,
    dunning_facts,
    past_due,
    planned_allocations,
)
from acctstate.presets import account_class, isp

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 6, 2, 0, tzinfo=UTC)
D = Decimal
ZONES = ["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati", "Pacific/Pago_Pago"]


def _ladder_policy(**kw: object) -> AutomationPolicy:
    return AutomationPolicy(isp.workflow(), ladder=reference_ladder(), **kw)  # type: ignore[arg-type]


# -- examples ------------------------------------------------------------------------------


def test_a_balance_whose_only_invoice_is_not_yet_due_is_not_in_dunning() -> None:
    """An account owing 80.00 in total, all of it on an invoice due next week, is not past
    due: the sweep leaves it alone, though the same total as ``balance`` with an unpaid
    date would have started dunning."""
    wf = isp.workflow()
    policy = _ladder_policy()
    acct = wf.open(
        "A-1",
        "active",
        at=NOW - dt.timedelta(days=90),
        imported=True,
        invoices=[Invoice("I-1", D("80.00"), dt.date(2026, 3, 1), dt.date(2026, 3, 12))],
    )
    assert dunning_facts(acct, NOW) == (None, D(0), 0)
    assert len(sweep([acct], policy, now=NOW)) == 0
    facts = past_due(acct.invoices, at=NOW)  # type: ignore[arg-type]
    assert (facts.open_balance, facts.past_due_balance) == (D("80.00"), D(0))
    legacy = wf.open(
        "A-2",
        "active",
        at=NOW - dt.timedelta(days=90),
        imported=True,
        balance=D("80.00"),
        oldest_unpaid_at=dt.date(2026, 3, 1),
    )
    assert len(sweep([legacy], policy, now=NOW)) == 1


def test_day_one_past_due_begins_at_local_midnight_after_the_due_date() -> None:
    """Due on 15 January in New York: still day 0 at 23:59 local (04:59 UTC on the 16th),
    day 1 from 00:00 local; the amount is past due only from day 1."""
    inv = [Invoice("I-1", D("10.00"), dt.date(2026, 1, 1), dt.date(2026, 1, 15))]
    ny = "America/New_York"
    before = dt.datetime(2026, 1, 16, 4, 59, 59, tzinfo=UTC)
    after = dt.datetime(2026, 1, 16, 5, 0, tzinfo=UTC)
    assert past_due(inv, at=before, timezone=ny).days_past_due is None
    assert past_due(inv, at=before, timezone=ny).past_due_balance == 0
    late = past_due(inv, at=after, timezone=ny)
    assert (late.days_past_due, late.past_due_balance, late.oldest_past_due) == (
        1,
        D("10.00"),
        dt.date(2026, 1, 15),
    )


def test_invoices_issued_and_funds_received_later_do_not_count_yet() -> None:
    """As of an instant, invoices issued and payments received after it are ignored."""
    inv = [
        Invoice("I-1", D("10"), dt.date(2026, 1, 1), dt.date(2026, 1, 15)),
        Invoice("I-2", D("10"), dt.datetime(2026, 3, 7, tzinfo=UTC), dt.date(2026, 1, 16)),
    ]
    pay = [Payment("P-1", D("10"), dt.date(2026, 3, 7))]
    facts = past_due(inv, pay, at=NOW)
    assert (facts.past_due_balance, facts.past_due_invoices, facts.unapplied) == (D(10), 1, 0)
    assert allocate(inv, pay, at=NOW) == ()


def test_payments_applied_by_the_host_reduce_the_invoice_they_name() -> None:
    """``applied_to`` and ``paid`` reduce an invoice's open balance; the rest of a payment
    is unapplied."""
    inv = [Invoice("I-1", D("30"), dt.date(2026, 1, 1), dt.date(2026, 1, 15), paid=D("5"))]
    pay = [Payment("P-1", D("50"), dt.date(2026, 2, 1), applied_to={"I-1": D("20")})]
    credit = [Credit("C-1", D("3"), dt.date(2026, 2, 2))]
    facts = past_due(inv, pay, credit, at=NOW)
    assert (facts.past_due_balance, facts.unapplied) == (D("5"), D("33"))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Invoice("I-1", 1.5, dt.date(2026, 1, 1), dt.date(2026, 1, 2)), "float money"),
        (
            lambda: Invoice("I-1", D(1), dt.datetime(2026, 1, 1), dt.date(2026, 1, 2)),
            "timezone-aware",
        ),
        (lambda: Payment("P-1", D(5), dt.date(2026, 1, 1), applied_to={"I": D(6)}), "at most"),
        (lambda: Credit("", D(5), dt.date(2026, 1, 1)), "non-empty id"),
    ],
)
def test_bad_values_are_refused(make: object, match: str) -> None:
    """Float money, naive datetimes, over-applied funds and empty ids are refused."""
    with pytest.raises(InvalidArgument, match=match):
        make()  # type: ignore[operator]


def test_funds_applied_beyond_an_invoice_are_refused() -> None:
    """An invoice with more applied to it than it was open for is a contradiction."""
    inv = [Invoice("I-1", D("10"), dt.date(2026, 1, 1), dt.date(2026, 1, 15))]
    pay = [Payment("P-1", D("50"), dt.date(2026, 2, 1), applied_to={"I-1": D("20")})]
    with pytest.raises(InvalidArgument, match="over by 10"):
        past_due(inv, pay, at=NOW)


def test_scalars_are_read_when_there_are_no_invoices() -> None:
    """A host may give the past-due scalars; they win over ``balance``."""
    acct = Account(
        id="A-1",
        status=1,
        balance=D("500"),
        past_due_balance=D("12.00"),
        oldest_past_due=dt.date(2026, 2, 1),
        past_due_invoices=1,
        oldest_unpaid_at=dt.date(2025, 1, 1),
    )
    assert dunning_facts(acct, NOW) == (33, D("12.00"), 1)


def test_auto_apply_books_one_entry_and_effects_then_nothing_more() -> None:
    """The run records an ``auto_apply`` entry whose effects are the allocations (keys
    stable), updates the payments, and a second run at the same instant does nothing."""
    wf = account_class.workflow(invoices=True)
    acct = Account(
        id="A-1",
        status=1,
        invoices=[
            Invoice("I-2", D("30"), dt.date(2026, 2, 1), dt.date(2026, 2, 15)),
            Invoice("I-1", D("30"), dt.date(2026, 1, 1), dt.date(2026, 1, 15)),
        ],
        payments=[Payment("P-1", D("40"), dt.date(2026, 3, 1))],
        credits=[Credit("C-1", D("5"), dt.date(2026, 2, 20))],
    )
    planned = planned_allocations(acct, NOW)
    change = auto_apply(wf, acct, at=NOW)
    assert change is not None and change.trigger == AUTO_APPLY
    assert change.source == change.dest
    assert change.effects == planned
    assert [(e.payment, e.invoice, e.amount) for e in planned] == [
        ("C-1", "I-1", D("5")),
        ("P-1", "I-1", D("25")),
        ("P-1", "I-2", D("15")),
    ]
    assert all(isinstance(e, ApplyPayment) and e.key for e in planned)
    assert [c.trigger for c in acct.history] == ["open", AUTO_APPLY]
    assert auto_apply(wf, acct, at=NOW) is None
    assert dunning_facts(acct, NOW) == (19, D("15"), 1)


def test_sweep_with_auto_apply_plans_on_the_facts_after_it_and_books_it_first() -> None:
    """The ladder is evaluated after the auto-apply: a payment covering the oldest
    invoice leaves the account at the step of the next one; apply books the entry first."""
    wf = isp.workflow()
    acct = wf.open(
        "A-1",
        "active",
        at=NOW - dt.timedelta(days=90),
        imported=True,
        invoices=[
            Invoice("I-1", D("40"), dt.date(2026, 1, 1), dt.date(2026, 1, 15)),
            Invoice("I-2", D("40"), dt.date(2026, 2, 1), dt.date(2026, 2, 15)),
        ],
        payments=[Payment("P-1", D("50"), dt.date(2026, 3, 1))],
    )
    without = sweep([acct], _ladder_policy(), now=NOW).plans[0]
    plan = sweep([acct], _ladder_policy(auto_apply=True), now=NOW)
    assert without.final is not None and without.final.name == "active_dunning_3"
    only = plan.plans[0]
    assert only.final is not None and only.final.name == "active_dunning_1"
    assert [e.amount for e in only.applied] == [D(40), D(10)]
    apply(plan)
    assert [c.trigger for c in acct.history][1:] == [
        AUTO_APPLY,
        "escalate_dunning",
        "escalate_dunning",
    ]
    again = sweep([acct], _ladder_policy(auto_apply=True), now=NOW)
    assert len(again) == 0


def test_account_class_credit_hold_from_invoices_and_removal_by_auto_apply() -> None:
    """The account-class preset with invoices: one invoice 30 days past due puts the
    account on credit hold; a payment the daily auto-apply applies removes it."""
    policy = account_class.policy(past_due_days=30, min_past_due=D("10.00"), auto_apply=True)
    wf = policy.workflow
    acct = wf.open(
        "A-1",
        "active",
        at=NOW - dt.timedelta(days=90),
        imported=True,
        invoices=[Invoice("I-1", D("25"), dt.date(2026, 1, 1), dt.date(2026, 2, 4))],
    )
    plan = sweep([acct], policy, now=NOW)
    assert [c.dest.name for c in plan.plans[0].changes] == ["credit_hold"]
    apply(plan)
    later = NOW + dt.timedelta(days=1)
    acct.payments = (Payment("P-1", D("25"), later),)
    plan = sweep([acct], policy, now=later)
    assert [c.dest.name for c in plan.plans[0].changes] == ["active"]
    out = apply(plan)
    assert not out.failed and acct.status == 1
    assert acct.payments[0].unapplied == 0


# -- properties ----------------------------------------------------------------------------

DAY0 = dt.date(2026, 1, 1)


@st.composite
def books(draw: st.DrawFn) -> tuple[list[Invoice], list[Payment], list[Credit], str]:
    zone = draw(st.sampled_from(ZONES))
    n = draw(st.integers(0, 6))
    invoices = []
    for i in range(n):
        issued = DAY0 + dt.timedelta(days=draw(st.integers(0, 60)))
        due: dt.date | dt.datetime = issued + dt.timedelta(days=draw(st.integers(0, 30)))
        if draw(st.booleans()):  # an instant: its calendar day in the billing zone counts
            written = ZoneInfo(draw(st.sampled_from(ZONES)))
            due = dt.datetime.combine(due, dt.time(draw(st.integers(0, 23))), tzinfo=written)
        cents = draw(st.integers(0, 20_000))
        paid = draw(st.integers(0, cents))
        invoices.append(
            Invoice(f"I-{i}", D(cents).scaleb(-2), issued, due, paid=D(paid).scaleb(-2))
        )
    funds: list[Payment | Credit] = []
    for j in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from([Payment, Credit]))
        received = dt.datetime.combine(
            DAY0 + dt.timedelta(days=draw(st.integers(0, 80))), dt.time(12), tzinfo=ZoneInfo(zone)
        )
        funds.append(kind(f"F-{j}", D(draw(st.integers(0, 30_000))).scaleb(-2), received))
    pays = [f for f in funds if isinstance(f, Payment)]
    creds = [f for f in funds if isinstance(f, Credit)]
    return invoices, pays, creds, zone


AT = st.builds(
    lambda d, h: dt.datetime.combine(DAY0 + dt.timedelta(days=d), dt.time(h), tzinfo=UTC),
    st.integers(0, 100),
    st.integers(0, 23),
)


@settings(max_examples=150)
@given(books(), AT)
def test_auto_apply_is_bounded_oldest_first_and_idempotent(book: object, at: dt.datetime) -> None:
    """Never more than was unapplied, nor more than an invoice had open; a later invoice
    gets money only when every older one is covered; booking it and running again at
    the same instant allocates nothing, and the facts after booking are the facts the
    automation read before it."""
    invoices, pays, creds, zone = book  # type: ignore[misc]
    before = past_due(invoices, pays, creds, at=at, timezone=zone)
    made = allocate(invoices, pays, creds, at=at, timezone=zone)
    total = sum((a for *_, a in made), D(0))
    assert total <= before.unapplied
    assert total <= before.open_balance
    assert total == min(before.unapplied, before.open_balance)
    acct = Account(
        id="A-1", status=1, timezone=zone, invoices=invoices, payments=pays, credits=creds
    )
    wf = account_class.workflow(invoices=True)
    auto_apply(wf, acct, at=at)
    after = past_due(acct.invoices, acct.payments, acct.credits, at=at, timezone=zone)  # type: ignore[arg-type]
    assert planned_allocations(acct, at) == ()
    assert after == past_due(invoices, pays, creds, at=at, timezone=zone, auto_apply=True)
    # Oldest first: an invoice that received money leaves no older invoice open.
    tz = ZoneInfo(zone)
    order = sorted(
        (inv for inv in invoices if _start(inv.issued, tz) <= at),
        key=lambda inv: (_day(inv.due, tz), _start(inv.issued, tz), inv.id),
    )
    got = {i for _, i, _ in made}
    still_open = {
        inv.id: inv.amount - inv.paid - sum((a for _, i, a in made if i == inv.id), D(0))
        for inv in order
    }
    for k, inv in enumerate(order):
        if inv.id in got:
            assert all(still_open[o.id] == 0 for o in order[:k])


def _day(when: dt.date | dt.datetime, tz: ZoneInfo) -> dt.date:
    return when.astimezone(tz).date() if isinstance(when, dt.datetime) else when


def _start(when: dt.date | dt.datetime, tz: ZoneInfo) -> dt.datetime:
    if isinstance(when, dt.datetime):
        return when
    return dt.datetime.combine(when, dt.time(), tzinfo=tz)


@settings(max_examples=100)
@given(books(), AT, st.sampled_from(ZONES))
def test_reexpressing_instants_in_another_zone_changes_nothing(
    book: object, at: dt.datetime, other: str
) -> None:
    """Days past due and every amount depend on the instants, not on the zone they are
    written in."""
    invoices, pays, creds, zone = book  # type: ignore[misc]
    there = ZoneInfo(other)
    moved_pays = [
        Payment(p.id, p.amount, p.received.astimezone(there))  # type: ignore[union-attr]
        for p in pays
    ]
    moved_creds = [
        Credit(c.id, c.amount, c.received.astimezone(there))  # type: ignore[union-attr]
        for c in creds
    ]
    a = past_due(invoices, pays, creds, at=at, timezone=zone, auto_apply=True)
    b = past_due(
        invoices, moved_pays, moved_creds, at=at.astimezone(there), timezone=zone, auto_apply=True
    )
    assert (a.days_past_due, a.past_due_balance, a.past_due_invoices, a.unapplied) == (
        b.days_past_due,
        b.past_due_balance,
        b.past_due_invoices,
        b.unapplied,
    )


def _policy(which: str, auto: bool) -> AutomationPolicy:
    if which == "ladder":
        return AutomationPolicy(isp.workflow(), ladder=reference_ladder(), auto_apply=auto)
    return account_class.policy(
        past_due_days=10, min_past_due=D("5.00"), inactive_after_days=150, auto_apply=auto
    )


STARTS = {"ladder": [1, 10, 11, 12, 13, -11, 22], "hold": [1, -1]}


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(["ladder", "hold"]),
    st.lists(st.tuples(books(), st.integers(0, 5), st.integers(0, 300)), min_size=1, max_size=6),
    AT,
    st.booleans(),
)
def test_per_account_and_column_wise_paths_agree(
    which: str, many: list[tuple[object, int, int]], at: dt.datetime, auto: bool
) -> None:
    """For random invoices and payments, the per-account sweep and the column-wise sweep
    over an invoice table plan the same changes and the same allocations: a dunning
    ladder climbing and clearing, and a credit hold placed and removed. Each account
    also carries its host's total in ``balance`` (not yet due invoices included),
    which neither path reads: ``settle`` and ``complete_reinstatement`` ask whether
    anything is past due."""
    policy = _policy(which, auto)
    wf = policy.workflow
    accounts = []
    rows: dict[str, list[object]] = {"account": [], "due": [], "open": [], "issued": []}
    ids: list[tuple[str, str]] = []
    unapplied = []
    totals: list[int] = []
    for r, (book, start, age) in enumerate(many):
        invoices, pays, creds, zone = book  # type: ignore[misc]
        codes = STARTS[which]
        total = sum((inv.amount - inv.paid for inv in invoices), D(0))
        totals.append(int(total * 100))
        acct = wf.open(
            f"A-{r}",
            codes[start % len(codes)],
            at=at - dt.timedelta(days=age),
            imported=True,
            timezone=zone,
            invoices=invoices,
            payments=pays,
            credits=creds,
            balance=total,
        )
        accounts.append(acct)
        tz = ZoneInfo(zone)
        funds = [*pays, *creds]
        unapplied.append(int(sum((f.amount for f in funds if f.received <= at), D(0)) * 100))
        for inv in sorted(invoices, key=lambda i: i.id):
            rows["account"].append(r)
            rows["due"].append(inv.due)
            rows["open"].append(int((inv.amount - inv.paid) * 100))
            rows["issued"].append(_start(inv.issued, tz))
            ids.append((f"A-{r}", inv.id))
    plan = sweep(accounts, policy, now=at)
    table = {
        "account": np.array(rows["account"], dtype=np.int64),
        "due": np.array(rows["due"], dtype=object),
        "open": np.array(rows["open"], dtype=np.int64),
        "issued": np.array(rows["issued"], dtype=object),
    }
    book_cols = {
        "status": np.array([a.status for a in accounts], dtype=np.int64),
        "status_since": np.array([a.status_since for a in accounts], dtype=object),
        "timezone": np.array([a.timezone for a in accounts], dtype=object),
        "balance": np.array(totals, dtype=np.int64),
        "payment_method": np.zeros(len(accounts), dtype=bool),
        "unapplied": np.array(unapplied, dtype=np.int64),
    }
    cols = sweep_columns(book_cols, policy, now=at, invoices=table)
    assert cols.refusals() == {
        int(p.account_id[2:]): [(b.rule, b.trigger) for b in p.blocked] for p in plan if p.blocked
    }
    per_account = {
        int(p.account_id[2:]): [(c.rule, c.trigger, c.source.code, c.dest.code) for c in p.changes]
        for p in plan
        if p.changes
    }
    assert cols.decisions() == per_account
    event(f"{which}: {'changes' if per_account else 'no change'}")
    event(f"{which}: {'allocations' if len(cols.applied_invoice) else 'no allocation'}")
    expect: dict[tuple[str, str], Decimal] = {}
    for p in plan:
        for e in p.applied:
            expect[(p.account_id, e.invoice)] = (
                expect.get((p.account_id, e.invoice), D(0)) + e.amount
            )
    got = {
        ids[int(i)]: D(int(a)).scaleb(-2)
        for i, a in zip(cols.applied_invoice, cols.applied_amount, strict=True)
    }
    assert got == expect


def test_column_wise_reads_the_past_due_scalars_as_the_per_account_path() -> None:
    """A book with ``past_due_balance`` / ``oldest_past_due`` / ``past_due_invoices``
    columns is dunned from them, not from ``balance``, as the per-account sweep reads
    the same attributes."""
    policy = _ladder_policy()
    wf = policy.workflow
    accts = [
        wf.open(
            f"A-{i}",
            "active",
            at=NOW - dt.timedelta(days=400),
            imported=True,
            balance=D("500.00"),
            oldest_unpaid_at=NOW - dt.timedelta(days=300),
            past_due_balance=D(owed),
            oldest_past_due=NOW - dt.timedelta(days=days),
            past_due_invoices=1,
        )
        for i, (owed, days) in enumerate([("0", 50), ("12.00", 20), ("12.00", 0)])
    ]
    plan = sweep(accts, policy, now=NOW)
    book = {
        "status": np.array([1, 1, 1]),
        "balance": np.array([50_000] * 3),
        "oldest_unpaid_at": np.array([np.datetime64("2025-05-10", "ns")] * 3),
        "past_due_balance": np.array([0, 1200, 1200]),
        "past_due_invoices": np.array([1, 1, 1]),
        "oldest_past_due": np.array([a.oldest_past_due for a in accts], dtype=object),
    }
    cols = sweep_columns(book, policy, now=NOW)
    assert cols.status.tolist() == [1, 11, 1]
    assert [p.final.code if p.final else 1 for p in plan] == [11]
    assert plan.plans[0].account_id == "A-1"


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(-40, 40), st.integers(0, 5_000)), max_size=6),
            st.integers(0, 20_000),
        ),
        min_size=1,
        max_size=8,
    ),
    st.randoms(use_true_random=False),
)
def test_column_wise_auto_apply_is_oldest_first_in_any_table_order(
    accounts: list[tuple[list[tuple[int, int]], int]], rnd: object
) -> None:
    """Without ``issued``, the table may list invoices in any order: each account's funds
    go to its invoices by due date, ties in table order, never more than open or held."""
    rows = [
        (r, due, amount, k)
        for r, (invs, _) in enumerate(accounts)
        for k, (due, amount) in enumerate(invs)
    ]
    rnd.shuffle(rows)  # type: ignore[attr-defined]
    today = NOW.date()
    table = {
        "account": np.array([r for r, *_ in rows], dtype=np.int64),
        "due": np.array([today + dt.timedelta(days=d) for _, d, _, _ in rows], "datetime64[D]"),
        "open": np.array([a for *_, a, _ in rows], dtype=np.int64),
    }
    book = {
        "status": np.ones(len(accounts), dtype=np.int64),
        "unapplied": np.array([f for _, f in accounts], dtype=np.int64),
    }
    out = sweep_columns(book, _ladder_policy(auto_apply=True), now=NOW, invoices=table)
    got = dict(zip(out.applied_invoice.tolist(), out.applied_amount.tolist(), strict=True))
    expect: dict[int, int] = {}
    for r, (_, funds) in enumerate(accounts):
        mine = sorted((d, pos) for pos, (rr, d, a, _) in enumerate(rows) if rr == r and a > 0)
        for _, pos in mine:
            take = min(funds, rows[pos][2])
            if take:
                expect[pos] = take
            funds -= take
    assert got == expect


def test_auto_apply_refused_before_the_latest_entry_changes_nothing() -> None:
    """An auto-apply at an instant before the account's latest history entry is refused
    (HistoryConflict) and leaves the payments and the history as they were."""
    from acctstate.errors import HistoryConflict

    wf = account_class.workflow(invoices=True)
    acct = wf.open(
        "A-1",
        "active",
        at=NOW,
        imported=True,
        invoices=[Invoice("I-1", D("30"), dt.date(2026, 1, 1), dt.date(2026, 1, 15))],
        payments=[Payment("P-1", D("50"), dt.date(2026, 2, 1))],
    )
    before = (acct.payments, list(acct.history))
    with pytest.raises(HistoryConflict):
        auto_apply(wf, acct, at=NOW - dt.timedelta(days=1))
    assert (acct.payments, list(acct.history)) == before


@settings(max_examples=60, deadline=None)
@given(st.lists(books(), min_size=1, max_size=4), AT, st.sampled_from(ZONES))
def test_the_sweep_plans_the_same_whatever_zone_now_is_written_in(
    many: list[object], at: dt.datetime, other: str
) -> None:
    """Writing the sweep's instant in another zone changes no decision and no allocation."""
    policy = _ladder_policy(auto_apply=True)
    wf = policy.workflow

    def plans(now: dt.datetime) -> list[tuple[object, ...]]:
        accounts = [
            wf.open(
                f"A-{r}",
                "active",
                at=at - dt.timedelta(days=200),
                imported=True,
                timezone=zone,
                invoices=invoices,
                payments=pays,
                credits=creds,
            )
            for r, (invoices, pays, creds, zone) in enumerate(many)  # type: ignore[misc]
        ]
        return [
            (
                p.account_id,
                [(c.rule, c.dest.code) for c in p.changes],
                [(e.payment, e.invoice, e.amount) for e in p.applied],
            )
            for p in sweep(accounts, policy, now=now)
        ]

    assert plans(at) == plans(at.astimezone(ZoneInfo(other)))


# -- the ledger's hook ---------------------------------------------------------------------


class _Ledger:
    """A host ledger that books every call it gets (no deduplication of its own), and
    has only the ledger's method."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.booked: list[ApplyPayment] = []
        self.fail_at = fail_at

    def apply_payment(self, effect: ApplyPayment, change: object) -> None:
        if self.fail_at is not None and len(self.booked) == self.fail_at:
            self.fail_at = None
            raise RuntimeError("ledger unavailable")
        self.booked.append(effect)


def test_ledger_hook_receives_each_allocation_and_recording_hooks_record_it() -> None:
    """``Hooks(ledger=...)`` runs every ApplyPayment of the entry, in order, with the
    entry as the change; RecordingHooks records them under their keys; an object made
    for the first four systems (no ``apply_payment``) gets no ledger registered, and
    the allocations stay on the entry for the host, as before."""
    from acctstate.effects import Hooks, RecordingHooks

    def account() -> Account:
        return Account(
            id="A-1",
            status=1,
            invoices=[Invoice("I-1", D("30"), dt.date(2026, 1, 1), dt.date(2026, 1, 15))],
            payments=[Payment("P-1", D("50"), dt.date(2026, 2, 1))],
        )

    wf = account_class.workflow(invoices=True)
    ledger = _Ledger()
    change = auto_apply(wf, account(), at=NOW, hooks=Hooks(ledger=ledger))
    assert change is not None and tuple(ledger.booked) == change.effects
    log = RecordingHooks()
    change = auto_apply(wf, account(), at=NOW, hooks=Hooks.from_object(log))
    assert change is not None and log.keys == [e.key for e in change.effects]

    class FourSystems:
        def refund(self, effect: object, change: object) -> None: ...

    old = Hooks.from_object(FourSystems())
    assert old.ledger is None and old.contracts is None and old.refunds is not None
    kept = account()
    change = auto_apply(wf, kept, at=NOW, hooks=old)
    assert change is not None and len(change.effects) == 1 and kept.payments[0].unapplied == 20


def test_a_failing_ledger_hook_records_nothing_and_the_rerun_delivers_the_rest() -> None:
    """A ledger that fails on the second allocation: apply reports the error, the account's
    payments and history are unchanged; the next run at the same instant offers the same
    keys again, so a ledger that skips keys it booked books each allocation once."""
    from acctstate.effects import Hooks

    wf = isp.workflow()
    acct = wf.open(
        "A-1",
        "active",
        at=NOW - dt.timedelta(days=90),
        imported=True,
        invoices=[
            Invoice("I-1", D("40"), dt.date(2026, 1, 1), dt.date(2026, 1, 15)),
            Invoice("I-2", D("40"), dt.date(2026, 2, 1), dt.date(2026, 2, 15)),
        ],
        payments=[Payment("P-1", D("50"), dt.date(2026, 3, 1))],
    )
    policy = _ladder_policy(auto_apply=True)
    ledger = _Ledger(fail_at=1)
    out = apply(sweep([acct], policy, now=NOW), hooks=Hooks(ledger=ledger))
    assert len(out.failed) == 1 and len(ledger.booked) == 1
    assert acct.payments[0].unapplied == 50 and [c.trigger for c in acct.history] == ["open"]
    out = apply(sweep([acct], policy, now=NOW), hooks=Hooks(ledger=ledger))
    assert not out.failed
    keys = [e.key for e in ledger.booked]
    assert keys[0] == keys[1]  # offered again: the same key, recognisable
    assert len(set(keys)) == 2 and acct.payments[0].unapplied == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(books(), min_size=1, max_size=4), AT)
def test_the_ledger_hook_gets_each_allocation_exactly_once(
    accounts: list[tuple[list[Invoice], list[Payment], list[Credit], str]], at: dt.datetime
) -> None:
    """Through ``apply`` of a sweep with the auto-apply, the host's ledger receives every
    allocation the plan carried, once, and the amounts it receives are the funds
    applied; a second sweep and apply at the same instant delivers nothing more."""
    from acctstate.effects import Hooks

    policy = account_class.policy(past_due_days=30, auto_apply=True)
    book = [
        Account(
            id=f"A-{i}",
            status=1,
            status_since=at - dt.timedelta(days=400),
            timezone=zone,
            invoices=invoices,
            payments=pays,
            credits=creds,
        )
        for i, (invoices, pays, creds, zone) in enumerate(accounts)
    ]
    ledger = _Ledger()
    plan = sweep(book, policy, now=at)
    planned = [e for p in plan for e in p.applied]
    out = apply(plan, hooks=Hooks(ledger=ledger))
    assert not out.failed
    assert [e.key for e in ledger.booked] == [e.key for e in planned]
    assert len({e.key for e in ledger.booked}) == len(ledger.booked)
    for a in book:
        funds = (*(a.payments or ()), *(a.credits or ()))  # type: ignore[attr-defined]
        applied = sum((x for f in funds for _, x in f.applied_to), D(0))
        mine = sum((e.amount for e in ledger.booked if e.key.startswith(f"{a.id}/")), D(0))
        assert applied == mine  # the strategy's funds start unapplied
    apply(sweep(book, policy, now=at), hooks=Hooks(ledger=ledger))
    assert len(ledger.booked) == len(planned)


# -- "paid" means nothing past due ---------------------------------------------------------


def test_settle_reads_the_past_due_facts_not_the_total_balance() -> None:
    """An account on the second dunning step pays its past-due invoice; its newer invoice
    is not yet due and its host keeps the total (80.00) in ``balance``. The sweep
    settles it (not a blocked settle), as it does a host giving ``past_due_balance``
    beside the total; a host giving only ``balance`` still has it read as past due."""
    wf = isp.workflow()
    policy = _ladder_policy()
    paid_late = wf.open(
        "A-1",
        "active_dunning_2",
        at=NOW - dt.timedelta(days=5),
        imported=True,
        balance=D("80.00"),
        invoices=[
            Invoice("I-1", D("40.00"), dt.date(2026, 1, 1), dt.date(2026, 1, 15)),
            Invoice("I-2", D("80.00"), dt.date(2026, 3, 1), dt.date(2026, 3, 15)),
        ],
        payments=[Payment("P-1", D("40.00"), dt.date(2026, 3, 2), applied_to={"I-1": D(40)})],
    )
    scalars = wf.open(
        "A-2",
        "active_dunning_2",
        at=NOW - dt.timedelta(days=5),
        imported=True,
        balance=D("80.00"),
        past_due_balance=D("0.00"),
    )
    legacy = wf.open(
        "A-3", "active_dunning_2", at=NOW - dt.timedelta(days=5), imported=True, balance=D("80")
    )
    plan = sweep([paid_late, scalars, legacy], policy, now=NOW)
    for acct in (paid_late, scalars):
        (change,) = plan.for_account(acct.id).changes  # type: ignore[union-attr]
        assert (change.rule, change.trigger, change.dest.name) == (
            "dunning_clear",
            "settle",
            "active",
        )
    (blocked,) = plan.for_account("A-3").blocked  # type: ignore[union-attr]
    assert str(blocked.refusals[0]) == "nothing_past_due: balance 80 is still owed"
    apply(plan)
    assert (paid_late.status, scalars.status, legacy.status) == (1, 1, 12)


def test_complete_reinstatement_reads_the_past_due_facts() -> None:
    """A back-billed account whose bill is on an invoice not yet due completes its
    reinstatement; one with 10.00 past due is refused, with the amount and nothing
    changed; event data (``past_due_balance=``) is read first."""
    wf = isp.workflow()
    at = NOW
    due_later = wf.open(
        "A-1",
        "reinstated_back_bill",
        at=at - dt.timedelta(days=1),
        imported=True,
        balance=D("50.00"),
        invoices=[Invoice("I-1", D("50.00"), at.date(), at.date() + dt.timedelta(days=14))],
    )
    assert wf.fire(due_later, "complete_reinstatement", at=at).dest.name == "active"
    owing = wf.open(
        "A-2",
        "reinstated_back_bill",
        at=at - dt.timedelta(days=1),
        imported=True,
        past_due_balance=D("10.00"),
    )
    with pytest.raises(GuardRefused, match=r"nothing_past_due: past_due_balance 10\.00 is still"):
        wf.fire(owing, "complete_reinstatement", at=at)
    assert owing.status == 22 and len(owing.history) == 1
    done = wf.fire(owing, "complete_reinstatement", at=at, past_due_balance=D(0))
    assert done.dest.name == "active"


def test_nothing_past_due_from_invoices_names_the_amount_and_count() -> None:
    """From invoices, the refusal says how much is past due on how many invoices; a
    tolerance allows that much; no facts at all is refused, as before."""
    from acctstate.guards import GuardContext, nothing_past_due

    host = Account(
        id="A-1",
        status=1,
        invoices=[
            Invoice("I-1", D("7.50"), dt.date(2026, 1, 1), dt.date(2026, 1, 15)),
            Invoice("I-2", D("2.50"), dt.date(2026, 2, 1), dt.date(2026, 2, 15)),
            Invoice("I-3", D("99.00"), dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
        ],
    )
    refusal = nothing_past_due()(GuardContext(host, NOW))
    assert refusal is not None and refusal.reason == "10.00 is past due on 2 invoice(s)"
    assert nothing_past_due(tolerance=D("10.00"))(GuardContext(host, NOW)) is None
    bare = type("Bare", (), {})()
    refusal = nothing_past_due()(GuardContext(bare, NOW))
    assert refusal is not None and "has no invoices" in refusal.reason
    with pytest.raises(InvalidArgument, match="tolerance"):
        nothing_past_due(tolerance=D("-1"))
