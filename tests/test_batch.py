"""Batch work (seed 001): select, preview with counts, apply with one outcome per account."""

from __future__ import annotations

import datetime as dt
import gc
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acctstate.account import Account
from acctstate.actors import Actor
from acctstate.batch import (
    Action,
    BatchChange,
    ChangeStatus,
    ChargeAccount,
    DateRange,
    FireTrigger,
    Mode,
    OutcomeKind,
    Predicate,
    RefundPayment,
    Selection,
    SetActivationDate,
    SetAvailabilityPeriod,
    SetExpirationDate,
    SetOpeningBalance,
    activate_inactive,
    apply,
    preview,
    select,
)
from acctstate.effects import Hooks, RecordingHooks
from acctstate.errors import InvalidArgument, UnknownStatus, UnknownTrigger
from acctstate.graph import Transition
from acctstate.guards import has_payment_method
from acctstate.status import Status
from acctstate.workflow import Workflow

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
AT = T0 + dt.timedelta(days=10)
ADMIN = Actor("ops", permissions={"terminate_accounts"})


def prepaid() -> Workflow:
    """A seed-001-like workflow: inactive / active / blocked / terminated.

    ``unblock`` needs a payment method (a guard: planned per account) and ``terminate``
    a permission (decided per status from the table).
    """
    return Workflow(
        statuses=[
            Status(code=0, name="inactive", backend="pending"),
            Status(code=1, name="active", backend="active", provisioned=True, billable=True),
            Status(code=-1, name="blocked", backend="suspended", billable=True),
            Status(code=-3, name="terminated", backend="closed", terminal=True),
        ],
        transitions=[
            Transition("activate", "inactive", "active"),
            Transition("block", "active", "blocked"),
            Transition("unblock", "blocked", "active", guards=[has_payment_method()]),
            *Transition.many(
                "terminate",
                ["inactive", "active", "blocked"],
                "terminated",
                permission="terminate_accounts",
            ),
        ],
        initial=["inactive"],
        name="prepaid",
    )


WF = prepaid()


def make(
    i: int,
    status: str,
    *,
    funds: str | None = "10.00",
    used: bool = False,
    batch: str = "B-7",
    **fields: Any,
) -> Account:
    """An account opened at T0 in ``status``."""
    return WF.open(
        f"A-{i}",
        status,
        at=T0,
        imported=True,
        funds=None if funds is None else Decimal(funds),
        first_used_at=T0 + dt.timedelta(hours=1) if used else None,
        batch_id=batch,
        **fields,
    )


def snapshot(a: Account) -> tuple[Any, ...]:
    """Everything a batch may change on an account."""
    return (
        a.status,
        a.status_since,
        a.funds,
        a.activated_at,
        a.expires_at,
        a.availability_days,
        len(a.history),
    )


@pytest.fixture
def accounts() -> list[Account]:
    """Five accounts of batch B-7 in every status but terminated, plus one of B-8."""
    return [
        make(0, "inactive"),
        make(1, "active", used=True),
        make(2, "active", used=True, funds="0.20"),
        make(3, "blocked", used=True, payment_method="visa"),
        make(4, "blocked", used=True),
        make(5, "active", batch="B-8"),
    ]


# -- selecting --------------------------------------------------------------------------


def test_select_counts_selected_started_depleted_and_per_status(accounts: list[Account]) -> None:
    """Seed 001's panel: selected, started (used once), depleted (below the threshold)."""
    chosen = select(WF, accounts, Selection(batch_ids="B-7"), threshold=Decimal("0.50"))
    c = chosen.counts
    assert (c.selected, c.started, c.depleted) == (5, 4, 1)
    assert dict(c.per_status) == {"inactive": 1, "active": 2, "blocked": 2}
    assert [a.id for a in chosen.accounts] == ["A-0", "A-1", "A-2", "A-3", "A-4"]


def test_every_filter_narrows_the_selection(accounts: list[Account]) -> None:
    """Statuses, back-end classes, ids, dates, started and predicates all apply (and)."""
    accounts[1].activated_at = T0 + dt.timedelta(days=2)

    def ids(sel: Selection) -> list[str]:
        return [a.id for a in select(WF, accounts, sel).accounts]

    assert ids(Selection(statuses=["blocked", 0])) == ["A-0", "A-3", "A-4"]
    assert ids(Selection(backends="active", batch_ids="B-7")) == ["A-1", "A-2"]
    assert ids(Selection(started=False)) == ["A-0", "A-5"]
    assert ids(Selection(activated=DateRange(start=T0 + dt.timedelta(days=1)))) == ["A-1"]
    assert ids(Selection(ids=["A-2", "A-9"])) == ["A-2"]
    rich = Predicate("has_card", lambda a: a.payment_method is not None)
    assert ids(Selection(predicates=rich, statuses="blocked")) == ["A-3"]
    assert Selection(predicates=rich, statuses="blocked").describe() == [
        "status: blocked",
        "where: has_card",
    ]


def test_select_refuses_bad_input(accounts: list[Account]) -> None:
    """Float thresholds, unknown statuses and naive date ranges are refused at once."""
    with pytest.raises(InvalidArgument, match="float money is refused"):
        select(WF, accounts, threshold=0.5)  # type: ignore[arg-type]
    with pytest.raises(UnknownStatus, match="unknown status 'blokced'; did you mean 'blocked'"):
        select(WF, accounts, Selection(statuses="blokced"))
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        DateRange(start=dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidArgument, match="one of"):
        Selection(backends="gone")


# -- previewing -------------------------------------------------------------------------


def test_preview_changes_nothing_and_is_the_confirmation(accounts: list[Account]) -> None:
    """The preview lists filters, changes, counts, transitions and refusals; no account moves."""
    before = [snapshot(a) for a in accounts]
    chosen = select(WF, accounts, Selection(batch_ids="B-7"), threshold=Decimal("0.50"))
    p = preview(chosen, ChangeStatus("blocked"), at=AT)
    assert [snapshot(a) for a in accounts] == before
    assert p.counts == {"change": 2, "unchanged": 2, "refused": 1}
    assert p.transitions == {("active", "blocked"): 2}
    # blocked accounts are still billed (seed 001: subscription fees still apply)
    assert p.effects == {"deprovision": 2}
    text = p.confirmation()
    assert "Filters:\n  batch: B-7" in text
    assert "Changes:\n  change status to 'blocked'" in text
    assert "selected 5 · started 4 · depleted 1" in text
    assert "A-0: cannot move account 'A-0' from 'inactive'" in text
    rows = {r.account_id: r for r in p.rows()}
    assert rows["A-3"].action is Action.UNCHANGED and "already in status 'blocked'" in str(
        rows["A-3"].reason
    )


def test_preview_plans_exactly_what_workflow_plan_plans(accounts: list[Account]) -> None:
    """The table-decided plan gives the same destination and effect keys as Workflow.plan."""
    chosen = select(WF, accounts, Selection(statuses="active"))
    for row in preview(chosen, FireTrigger("block"), at=AT).rows():
        acct = next(a for a in accounts if a.id == row.account_id)
        expected = WF.plan(acct, "block", at=AT)
        assert row.dest == expected.dest
        assert row.effects == expected.effects


def test_preview_sums_money_by_kind(accounts: list[Account]) -> None:
    """Charges and refunds are summed per kind and currency; refusals add nothing."""
    chosen = select(WF, accounts, Selection(batch_ids="B-7"))
    p = preview(chosen, [ChargeAccount(Decimal("1.50")), RefundPayment(Decimal("0.25"))], at=AT)
    # A-2 has 0.20 of funds: it cannot pay the charge, so it is refused as a whole.
    assert p.counts["refused"] == 1
    assert p.money == {("charge", "USD"): Decimal("6.00"), ("refund", "USD"): Decimal("1.00")}


def test_unknown_trigger_or_status_in_a_change_is_refused_at_once(accounts: list[Account]) -> None:
    """A typo in the change is the batch's problem, not each account's."""
    chosen = select(WF, accounts)
    with pytest.raises(UnknownTrigger, match="did you mean 'block'"):
        preview(chosen, FireTrigger("blok"), at=AT)
    with pytest.raises(UnknownStatus):
        preview(chosen, ChangeStatus("gone"), at=AT)
    with pytest.raises(InvalidArgument, match="at most one status change"):
        preview(chosen, [FireTrigger("block"), ChangeStatus("active")], at=AT)
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        preview(chosen, FireTrigger("block"), at=dt.datetime(2026, 2, 1))


# -- applying ---------------------------------------------------------------------------


def test_apply_gives_one_outcome_per_account_and_never_stops(accounts: list[Account]) -> None:
    """Refused accounts are reported; the others change; counts add up."""
    chosen = select(WF, accounts)
    report = apply(chosen, ChangeStatus("active"), at=AT)
    kinds = {o.account_id: o.kind for o in report.outcomes}
    assert kinds == {
        "A-0": OutcomeKind.CHANGED,
        "A-1": OutcomeKind.UNCHANGED,
        "A-2": OutcomeKind.UNCHANGED,
        "A-3": OutcomeKind.CHANGED,
        "A-4": OutcomeKind.REFUSED,
        "A-5": OutcomeKind.UNCHANGED,
    }
    assert "no payment method on file" in str(report.of("refused")[0].reason)
    assert [a.status for a in accounts] == [1, 1, 1, 1, -1, 1]
    assert accounts[3].history[-1].trigger == "unblock"
    assert sum(report.counts.values()) == len(chosen)


def test_batch_runs_leave_the_garbage_collector_as_they_found_it(
    accounts: list[Account],
) -> None:
    """Preview and apply hold the cyclic collector off while they run, and restore it:
    enabled stays enabled, disabled stays disabled, a failing hook included."""

    class Boom(RecordingHooks):
        def deprovision(self, effect: Any, change: Any) -> None:
            raise RuntimeError("switch down")

    was = gc.isenabled()
    try:
        for enabled in (True, False):
            gc.enable() if enabled else gc.disable()
            chosen = select(WF, accounts)
            report = apply(
                preview(chosen, ChangeStatus("blocked"), at=AT), hooks=Hooks.from_object(Boom())
            )
            assert report.of(OutcomeKind.FAILED)
            assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_applying_twice_changes_nothing_twice(accounts: list[Account]) -> None:
    """The second run reports unchanged: history key and ledger key already there."""
    chosen = select(WF, accounts, Selection(statuses="active"))
    change = [FireTrigger("block"), ChargeAccount(Decimal("1.00"))]
    first = apply(chosen, change, at=AT)
    assert first.counts["changed"] == 2  # A-2 cannot pay: refused
    after = [snapshot(a) for a in accounts]
    second = apply(chosen, change, at=AT)
    assert [snapshot(a) for a in accounts] == after
    assert {o.account_id: o.kind for o in second.outcomes if o.kind is OutcomeKind.UNCHANGED} == {
        "A-1": OutcomeKind.UNCHANGED,
        "A-5": OutcomeKind.UNCHANGED,
    }
    assert accounts[1].funds == Decimal("9.00")


def test_applying_a_preview_twice_with_a_shared_ledger(accounts: list[Account]) -> None:
    """A persistent ledger keeps a charge idempotent across selections."""
    ledger: set[str] = set()
    for _ in range(2):
        chosen = select(WF, accounts, Selection(ids="A-1"))
        apply(preview(chosen, ChargeAccount(Decimal("2.00")), at=AT, ledger=ledger), ledger=ledger)
    assert accounts[1].funds == Decimal("8.00")
    assert ledger == {f"A-1/charge:2.00/{AT.isoformat()}"}


def test_best_effort_failure_affects_one_account_only(accounts: list[Account]) -> None:
    """A hook that fails for one account: that one is failed and unchanged, others go on."""

    class Flaky(RecordingHooks):
        def deprovision(self, effect: Any, change: Any) -> None:
            if change.account_id == "A-2":
                raise RuntimeError("switch down")
            super().deprovision(effect, change)

    log = Flaky()
    chosen = select(WF, accounts, Selection(statuses="active"))
    before = snapshot(accounts[2])
    report = apply(chosen, ChangeStatus("blocked"), at=AT, hooks=Hooks.from_object(log))
    assert [o.kind.value for o in report.outcomes] == ["changed", "failed", "changed"]
    failed = report.of(OutcomeKind.FAILED)[0]
    assert "switch down" in str(failed.error)
    assert snapshot(accounts[2]) == before
    assert (accounts[1].status, accounts[5].status) == (-1, -1)


def test_all_or_nothing_refusal_changes_nothing(accounts: list[Account]) -> None:
    """One refusal calls the batch off: the others are skipped, no account changes."""
    before = [snapshot(a) for a in accounts]
    report = apply(select(WF, accounts), FireTrigger("block"), at=AT, mode="all_or_nothing")
    assert [snapshot(a) for a in accounts] == before
    counts = report.counts
    assert counts["changed"] == 0 and counts["skipped"] == 3 and counts["refused"] == 3
    assert "called off because 3 account(s) cannot change (first: 'A-0')" in str(
        report.of("skipped")[0].reason
    )


def test_all_or_nothing_hook_failure_rolls_back(accounts: list[Account]) -> None:
    """A hook failing mid-way: nothing is committed, earlier switch effects are undone."""

    class Flaky(RecordingHooks):
        def deprovision(self, effect: Any, change: Any) -> None:
            if change.account_id == "A-2":
                raise RuntimeError("switch down")
            super().deprovision(effect, change)

    log = Flaky()
    before = [snapshot(a) for a in accounts]
    chosen = select(WF, accounts, Selection(statuses="active"))
    report = apply(
        chosen, FireTrigger("block"), at=AT, mode=Mode.ALL_OR_NOTHING, hooks=Hooks.from_object(log)
    )
    assert [snapshot(a) for a in accounts] == before
    assert [o.kind.value for o in report.outcomes] == ["rolled_back", "failed", "skipped"]
    rolled = report.outcomes[0]
    assert [e.kind for e in rolled.undone] == [e.kind for e in rolled.effects]
    assert any(k.endswith("/undo") for k in log.keys)


def test_apply_refuses_accounts_changed_since_the_preview(accounts: list[Account]) -> None:
    """What was confirmed is what happens: a drifted account is refused, not surprised."""
    chosen = select(WF, accounts, Selection(statuses="active"))
    p = preview(chosen, ChangeStatus("terminated"), at=AT, actor=ADMIN)
    WF.fire(accounts[1], "block", at=T0 + dt.timedelta(days=1))
    report = apply(p)
    by = {o.account_id: o for o in report.outcomes}
    assert by["A-1"].kind is OutcomeKind.REFUSED
    assert "changed since the preview" in str(by["A-1"].reason)
    assert by["A-2"].kind is OutcomeKind.CHANGED and accounts[2].status == -3


def test_apply_refuses_arguments_that_contradict_the_preview(accounts: list[Account]) -> None:
    """A preview is applied as confirmed; other arguments raise before anything happens."""
    p = preview(select(WF, accounts), FireTrigger("block"), at=AT)
    before = [snapshot(a) for a in accounts]
    with pytest.raises(InvalidArgument, match="a preview is applied as confirmed"):
        apply(p, FireTrigger("activate"))
    with pytest.raises(InvalidArgument, match="a preview is applied as confirmed"):
        apply(p, at=AT + dt.timedelta(days=1))
    with pytest.raises(InvalidArgument, match="when applying a selection"):
        apply(select(WF, accounts), FireTrigger("block"))
    assert [snapshot(a) for a in accounts] == before


def test_permission_and_terminal_refusals(accounts: list[Account]) -> None:
    """Terminating needs the permission; a terminated account takes no further operation."""
    chosen = select(WF, accounts, Selection(ids="A-1"))
    refused = apply(chosen, ChangeStatus("terminated"), at=AT)
    assert "permission 'terminate_accounts' is required" in str(refused.outcomes[0].reason)
    apply(chosen, ChangeStatus("terminated"), at=AT, actor=ADMIN)
    later = apply(chosen, SetAvailabilityPeriod(30), at=AT + dt.timedelta(days=1))
    assert later.outcomes[0].kind is OutcomeKind.REFUSED
    assert "terminal: no further operations" in str(later.outcomes[0].reason)


def test_activate_all_inactive(accounts: list[Account]) -> None:
    """Only inactive accounts are activated; the others are not concerned."""
    report = apply(select(WF, accounts), activate_inactive(), at=AT)
    assert report.counts["changed"] == 1 and report.counts["unchanged"] == 5
    assert accounts[0].status == 1


# -- field and balance changes ----------------------------------------------------------


def test_dates_are_days_in_the_customer_time_zone() -> None:
    """A bare date is local midnight in each account's billing time zone (seed 001)."""
    ny = make(0, "active", timezone="America/New_York")
    tokyo = make(1, "active", timezone="Asia/Tokyo")
    apply(select(WF, [ny, tokyo]), SetActivationDate(dt.date(2026, 2, 1)), at=AT)
    assert ny.activated_at is not None and tokyo.activated_at is not None
    assert ny.activated_at.astimezone(dt.UTC).hour == 5
    assert tokyo.activated_at.astimezone(dt.UTC) == dt.datetime(2026, 1, 31, 15, tzinfo=dt.UTC)


def test_a_date_for_an_account_whose_zone_is_not_a_zone_is_refused_per_account() -> None:
    """A ``timezone`` that names no zone is that account's refusal (a typed error), never
    a leaked ``ZoneInfoNotFoundError`` nor a silent UTC; the other account still changes."""
    bad = make(0, "active", timezone="Mars/Olympus_Mons")
    good = make(1, "active", timezone="Asia/Tokyo")
    report = apply(select(WF, [bad, good]), SetActivationDate(dt.date(2026, 2, 1)), at=AT)
    kinds = [o.kind for o in report.outcomes]
    assert OutcomeKind.CHANGED in kinds and len(set(kinds)) == 2
    assert bad.activated_at is None
    assert "InvalidArgument: invalid timezone" in str(report.outcomes[0].reason)
    assert good.activated_at == dt.datetime(2026, 1, 31, 15, tzinfo=dt.UTC)


def test_expiration_must_follow_activation() -> None:
    """An expiration on or before the activation is refused; clearing it is allowed."""
    a = make(0, "active", activated_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    chosen = select(WF, [a])
    refused = apply(chosen, SetExpirationDate(dt.date(2026, 2, 1)), at=AT)
    assert "is not after activation" in str(refused.outcomes[0].reason)
    assert a.expires_at is None
    ok = apply(chosen, SetExpirationDate(dt.datetime(2026, 6, 1, tzinfo=dt.UTC)), at=AT)
    assert ok.outcomes[0].kind is OutcomeKind.CHANGED
    assert apply(chosen, SetExpirationDate(None), at=AT).outcomes[0].kind is OutcomeKind.CHANGED


def test_opening_balance_only_before_first_use(accounts: list[Account]) -> None:
    """Seed 001: the opening balance can change only on an account never used."""
    report = apply(
        select(WF, accounts, Selection(batch_ids="B-7")), SetOpeningBalance(Decimal("15")), at=AT
    )
    assert [o.kind.value for o in report.outcomes] == [
        "changed",
        "refused",
        "refused",
        "refused",
        "refused",
    ]
    assert accounts[0].funds == Decimal("15")
    assert "only before first use" in str(report.outcomes[1].reason)


def test_balance_operations_refuse_what_funds_cannot_cover(accounts: list[Account]) -> None:
    """A charge beyond the funds, or on an account without prepaid funds, is refused."""
    no_funds = make(9, "active", funds=None)
    report = apply(select(WF, [accounts[2], no_funds]), ChargeAccount(Decimal("1")), at=AT)
    reasons = [str(o.reason) for o in report.outcomes]
    assert "funds 0.20 do not cover a charge of 1" in reasons[0]
    assert "has no prepaid funds" in reasons[1]
    assert accounts[2].funds == Decimal("0.20")


def test_balance_effects_reach_the_hooks_with_keys(accounts: list[Account]) -> None:
    """Charge and refund effects run through the hooks, keyed per account and batch."""
    log = RecordingHooks()
    chosen = select(WF, accounts, Selection(ids=["A-1"]))
    apply(
        chosen,
        [ChargeAccount(Decimal("2")), RefundPayment(Decimal("3"))],
        at=AT,
        hooks=Hooks.from_object(log),
    )
    assert log.keys == [f"A-1/charge:2/{AT.isoformat()}", f"A-1/refund:3/{AT.isoformat()}"]
    assert accounts[1].funds == Decimal("5.00")


def test_change_values_validate() -> None:
    """Float money, naive datetimes, bad days and bad triggers are refused on creation."""
    with pytest.raises(InvalidArgument, match="float money"):
        ChargeAccount(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="greater than zero"):
        RefundPayment(Decimal("0"))
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        SetExpirationDate(dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidArgument, match="days >= 1"):
        SetAvailabilityPeriod(0)
    with pytest.raises(InvalidArgument, match="snake_case"):
        FireTrigger("Block!")
    assert isinstance(SetOpeningBalance(Decimal("0")), BatchChange)


# -- properties -------------------------------------------------------------------------

STATUSES = ["inactive", "active", "blocked", "terminated"]
CHANGES: list[BatchChange | list[BatchChange]] = [
    FireTrigger("block"),
    FireTrigger("unblock"),
    ChangeStatus("active"),
    ChangeStatus("terminated"),
    activate_inactive(),
    ChargeAccount(Decimal("3")),
    SetOpeningBalance(Decimal("5")),
    [SetAvailabilityPeriod(30), FireTrigger("activate")],
    [RefundPayment(Decimal("1")), ChangeStatus("blocked")],
]

account_specs = st.lists(
    st.tuples(
        st.sampled_from(STATUSES),
        st.sampled_from([None, "0", "2", "10"]),
        st.booleans(),
        st.booleans(),
    ),
    max_size=12,
)


def build(specs: list[tuple[str, str | None, bool, bool]]) -> list[Account]:
    """Accounts from hypothesis specs: status, funds, used, payment method."""
    return [
        make(i, s, funds=f, used=u, payment_method="visa" if card else None)
        for i, (s, f, u, card) in enumerate(specs)
    ]


@given(account_specs, st.sampled_from(CHANGES), st.sampled_from(list(Mode)), st.booleans())
def test_outcome_counts_add_up_to_the_selection(
    specs: list[tuple[str, str | None, bool, bool]],
    change: Any,
    mode: Mode,
    admin: bool,
) -> None:
    """Whatever the change and mode, there is exactly one outcome per selected account."""
    accounts = build(specs)
    chosen = select(WF, accounts)
    report = apply(chosen, change, at=AT, mode=mode, actor=ADMIN if admin else None)
    assert sum(report.counts.values()) == chosen.counts.selected == len(report.outcomes)
    assert [o.account_id for o in report.outcomes] == [a.id for a in chosen.accounts]


@given(account_specs, st.sampled_from(CHANGES))
def test_all_or_nothing_leaves_everything_untouched_when_one_refuses(
    specs: list[tuple[str, str | None, bool, bool]], change: Any
) -> None:
    """If the preview shows a refusal, all-or-nothing changes no account at all."""
    accounts = build(specs)
    chosen = select(WF, accounts)
    refusing = preview(chosen, change, at=AT).counts["refused"] > 0
    before = [snapshot(a) for a in accounts]
    report = apply(chosen, change, at=AT, mode="all_or_nothing")
    if refusing:
        assert [snapshot(a) for a in accounts] == before
        assert report.counts["changed"] == 0
    else:
        assert report.counts["skipped"] == 0


@given(account_specs, st.sampled_from(CHANGES), st.booleans())
def test_preview_then_apply_gives_exactly_the_previewed_changes(
    specs: list[tuple[str, str | None, bool, bool]], change: Any, admin: bool
) -> None:
    """With nothing changed in between, apply does what each preview line said."""
    accounts = build(specs)
    ledger: set[str] = set()
    actor = ADMIN if admin else None
    p = preview(select(WF, accounts), change, at=AT, actor=actor, ledger=ledger)
    rows = p.rows()
    report = apply(p, ledger=ledger)
    expected = {Action.CHANGE: "changed", Action.UNCHANGED: "unchanged", Action.REFUSED: "refused"}
    for row, outcome, acct in zip(rows, report.outcomes, accounts, strict=True):
        assert outcome.kind.value == expected[row.action]
        if row.action is Action.CHANGE:
            assert outcome.updates == row.updates
            assert outcome.effects == row.effects
            if row.dest is not None:
                assert acct.status == row.dest.code
                assert acct.history[-1].effects == tuple(
                    e for e in row.effects if e.kind not in ("charge", "refund")
                )
            for u in row.updates:
                assert getattr(acct, u.field) == u.new
    # A new selection of the same accounts, with the same ledger: nothing happens twice.
    again = apply(select(WF, accounts), change, at=AT, actor=actor, ledger=ledger)
    assert again.counts["changed"] == 0


def test_a_status_since_that_is_not_an_instant_is_one_refused_account() -> None:
    """A host whose ``status_since`` is not an aware instant (text, naive) takes the
    careful path and is reported refused; it does not stop the batch with a bare
    ``TypeError``, and the other accounts are planned."""
    from types import SimpleNamespace

    from acctstate.presets import isp

    wf = isp.workflow()
    at = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    good = SimpleNamespace(id="A-2", status=1, status_since=at - dt.timedelta(days=3))
    text = SimpleNamespace(id="A-1", status=1, status_since="active")
    naive = SimpleNamespace(id="A-3", status=1, status_since=dt.datetime(2026, 1, 1))
    rows = {
        r.account_id: r
        for r in preview(select(wf, [text, good, naive]), FireTrigger("suspend"), at=at).rows()
    }
    assert rows["A-2"].action.value == "change"
    assert rows["A-1"].action.value == rows["A-3"].action.value == "refused"
    assert text.status == naive.status == 1
