"""Regression tests for the issue "Correct at every seam": one meaning per fact (the
minimum past-due amount, depleted), automatic triggers kept to automation, temporary
credit-hold removal that ends, and errors that stay acctstate errors."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acctstate.account import Account
from acctstate.actors import Actor
from acctstate.automation import (
    AutomationPolicy,
    CreditHold,
    HoldRelease,
    PolicyError,
    apply,
    columns_from_accounts,
    reference_ladder,
    sweep,
    sweep_columns,
)
from acctstate.batch import select
from acctstate.clock import FixedClock
from acctstate.config import dump_workflow, load_workflow
from acctstate.errors import ConfigError, GuardRefused, HistoryConflict, InvalidArgument
from acctstate.presets import account_class, isp, portabilling
from acctstate.refunds import Period
from acctstate.schedule import Schedule

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CLERK = Actor("u-7", permissions={account_class.EDIT_STATUS})


# -- minimum past-due amount: "at least", one threshold --------------------------------


def test_min_past_due_is_at_least_for_preset_guard_and_policy() -> None:
    """With the minimum 10.00 and exactly 10.00 owed, the preset's guard and the
    policy's rule agree: the hold is placed (it used to be refused forever)."""
    policy = account_class.policy(past_due_days=30, min_past_due=Decimal("10.00"))
    wf = policy.workflow
    acct = wf.open(
        "C-1",
        "active",
        at=T0,
        imported=True,
        balance=Decimal("10.00"),
        oldest_unpaid_at=T0 - 31 * DAY,
    )
    plan = sweep([acct], policy, now=T0 + DAY)
    assert [(c.rule, c.dest.name) for c in plan.plans[0].changes] == [
        ("credit_hold", "credit_hold")
    ]
    assert not plan.plans[0].blocked
    apply(plan)
    assert wf.catalog[acct.status].name == "credit_hold"


def test_min_past_due_below_the_minimum_is_not_held() -> None:
    """9.99 owed against a 10.00 minimum: neither path places the hold."""
    policy = account_class.policy(min_past_due=Decimal("10.00"))
    acct = policy.workflow.open(
        "C-1", "active", at=T0, imported=True, balance=Decimal("9.99"),
        oldest_unpaid_at=T0 - 40 * DAY,
    )  # fmt: skip
    assert sweep([acct], policy, now=T0 + DAY).plans == ()
    with pytest.raises(GuardRefused, match=r"at least 10\.00 required"):
        policy.workflow.fire(acct, "auto_credit_hold", at=T0 + DAY)


def test_preset_policy_triggers_are_the_presets() -> None:
    """The ready policy names the preset's automatic triggers, so nothing is wired by
    hand, and its thresholds are the workflow's."""
    p = account_class.policy(past_due_days=10, min_past_due=Decimal("5"), inactive_after_days=20)
    hold = p.credit_hold
    assert hold is not None
    assert (hold.place, hold.remove, hold.deactivate, hold.release, hold.restore) == (
        "auto_credit_hold",
        "auto_remove_credit_hold",
        "auto_inactivate",
        "auto_lift_credit_hold",
        "auto_end_temporary_lift",
    )
    assert p.workflow == account_class.workflow(
        past_due_days=10, min_past_due=Decimal("5"), inactive_after_days=20
    )


# -- automatic triggers are automation's -------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "status", "data"),
    [
        ("auto_remove_credit_hold", "credit_hold", {"balance": Decimal("0")}),
        ("auto_inactivate", "credit_hold", {}),
        ("auto_credit_hold", "active", {"balance": Decimal("50")}),
    ],
)
def test_automatic_triggers_refused_to_a_person(
    trigger: str, status: str, data: dict[str, Decimal]
) -> None:
    """A person, even one holding edit_account_status, cannot fire an automatic
    trigger; the refusal says why and nothing changes."""
    wf = account_class.workflow()
    acct = wf.open("C-1", status, at=T0 - 200 * DAY, imported=True, oldest_unpaid_at=T0 - 100 * DAY)
    before = (acct.status, len(acct.history))
    with pytest.raises(GuardRefused, match="actor 'u-7' is a person; only a system actor"):
        wf.fire(acct, trigger, at=T0, actor=CLERK, **data)
    assert (acct.status, len(acct.history)) == before
    system = Actor.system("nightly")
    assert wf.fire(acct, trigger, at=T0, actor=system, **data).trigger == trigger


# -- temporary credit-hold removal ------------------------------------------------------


def test_temporary_removal_ends_and_the_hold_returns_unless_paid() -> None:
    """The release carries its window: lifted on the first run inside it, back on hold
    on the first run after it; paid meanwhile, the hold is removed instead."""
    start, end = T0 + DAY, T0 + 8 * DAY
    policy = account_class.policy(
        past_due_days=30, releases=[HoldRelease("C-1", start, end), HoldRelease("C-2", start, end)]
    )
    wf = policy.workflow
    owed = wf.open("C-1", "credit_hold", at=T0, imported=True, balance=Decimal("20"))
    paid = wf.open("C-2", "credit_hold", at=T0, imported=True, balance=Decimal("20"))
    apply(sweep([owed, paid], policy, now=start))
    assert {wf.catalog[a.status].name for a in (owed, paid)} == {"credit_hold_lifted"}
    assert sweep([owed, paid], policy, now=end - DAY).plans == ()
    paid.balance = Decimal("0")
    plan = sweep([owed, paid], policy, now=end)
    assert {p.account_id: [(c.rule, c.dest.name) for c in p.changes] for p in plan.plans} == {
        "C-1": [("credit_hold_return", "credit_hold")],
        "C-2": [("credit_hold_removal", "active")],
    }
    apply(plan)
    assert (wf.catalog[owed.status].name, wf.catalog[paid.status].name) == (
        "credit_hold",
        "active",
    )


def test_release_without_a_way_back_is_refused_when_built() -> None:
    """A release into a status no trigger leads back from is refused with the reason."""
    wf = account_class.workflow()
    window = [HoldRelease("C-1", T0, T0 + DAY)]
    with pytest.raises(PolicyError, match="hold would never return") as e:
        AutomationPolicy(
            wf,
            credit_hold=CreditHold(
                releases=window,
                place="auto_credit_hold",
                remove="auto_remove_credit_hold",
                deactivate="auto_inactivate",
                release="auto_lift_credit_hold",
            ),
        )
    assert e.value.rules == {"no-way-back"}


def test_account_class_policy_and_manual_lift_agree() -> None:
    """An account lifted by hand with no registered window returns to the hold on the
    next run: a temporary removal without an end does not exist."""
    policy = account_class.policy()
    wf = policy.workflow
    acct = wf.open("C-1", "credit_hold", at=T0, imported=True, balance=Decimal("20"))
    wf.fire(acct, "lift_credit_hold_temporarily", at=T0 + DAY, actor=CLERK)
    plan = sweep([acct], policy, now=T0 + 2 * DAY)
    assert [c.rule for c in plan.plans[0].changes] == ["credit_hold_return"]


# -- depleted: one definition, one threshold -------------------------------------------


def test_depleted_means_the_same_to_the_guard_and_to_select() -> None:
    """Funds exactly at the availability threshold: PortaBilling's deplete guard and the
    batch counts agree (not depleted); below it, both say depleted."""
    wf = portabilling.workflow(threshold=Decimal("0.50"))
    at = wf.open("P-1", "active", at=T0, imported=True, funds=Decimal("0.50"))
    below = wf.open("P-2", "active", at=T0, imported=True, funds=Decimal("0.49"))
    assert [wf.may(a, "deplete", at=T0 + DAY) for a in (at, below)] == [False, True]
    assert select(wf, [at]).counts.depleted == 0
    assert select(wf, [below]).counts.depleted == 1
    assert select(wf, [at, below]).threshold == Decimal("0.50")


def test_select_refuses_a_second_threshold() -> None:
    """The threshold is set once, on the workflow: another one given to select() is
    refused, naming the workflow's."""
    wf = portabilling.workflow(threshold=Decimal("0.50"))
    acct = wf.open("P-1", "active", at=T0, imported=True, funds=Decimal("0.40"))
    with pytest.raises(InvalidArgument, match=r"availability threshold \(0\.50\)"):
        select(wf, [acct], threshold=Decimal("0.30"))
    assert select(wf, [acct], threshold=Decimal("0.50")).counts.depleted == 1


# -- missing values in a book of columns; per-account = column-wise ----------------------

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
ISP = isp.workflow()
ISP_POLICY = AutomationPolicy(
    ISP,
    ladder=reference_ladder(),
    trial_end="end_trial",
    contract_expiry="expire_contract",
    expiration="deactivate",
    archive="archive",
)
ISP_CODES = [41, 1, 10, 11, 12, 13, -11, -12, -13, -1, -2, -3, -4, 22, 21, 0, -99]
AC_POLICY = account_class.policy(
    past_due_days=30,
    min_past_due=Decimal("100"),
    inactive_after_days=60,
    releases=[
        HoldRelease("A-2", NOW - 48 * HOUR, NOW + 120 * HOUR),
        HoldRelease("A-1", NOW - 216 * HOUR, NOW - 48 * HOUR),
    ],
)
AC_CODES = [AC_POLICY.workflow.catalog[n].code for n in ("active", "credit_hold")] + [
    AC_POLICY.workflow.catalog[n].code for n in ("credit_hold_lifted", "inactive", "prospect")
]
DATES = ("status_since", "oldest_unpaid_at", "trial_ends_at", "contract_ends_at", "expires_at",
         "first_used_at")  # fmt: skip


def _when(lo: int, hi: int) -> st.SearchStrategy[dt.datetime | None]:
    return st.integers(lo, hi).map(lambda h: NOW + h * HOUR) | st.none()


@st.composite
def books(draw: st.DrawFn) -> tuple[AutomationPolicy, list[Account]]:
    policy, codes = draw(st.sampled_from([(ISP_POLICY, ISP_CODES), (AC_POLICY, AC_CODES)]))
    out = []
    for i in range(draw(st.integers(1, 6))):
        out.append(
            Account(
                id=f"A-{i}",
                status=draw(st.sampled_from(codes[:2]) | st.sampled_from(codes)),
                status_since=NOW - draw(st.integers(0, 400 * 24)) * HOUR,
                balance=Decimal(draw(st.sampled_from([25075, 0, 1, 9999, 10000]))).scaleb(-2),
                unpaid_invoices=draw(st.integers(0, 3)),
                oldest_unpaid_at=draw(_when(-120 * 24, 48)),
                payment_method=draw(st.sampled_from([None, "visa"])),
                trial_ends_at=draw(_when(-48, 48)),
                contract_ends_at=draw(_when(-48, 48)),
                expires_at=draw(_when(-24, 24)),
                first_used_at=draw(_when(-60 * 24, 0)),
                availability_days=draw(st.none() | st.integers(0, 90)),
            )
        )
    return policy, out


def _dict_with_gaps(book: list[Account], gap: object) -> dict[str, Any]:
    """Plain arrays, missing values written as ``gap`` (None, NaN, NaT or pd.NA)."""
    obj = np.array
    return {
        "id": obj([a.id for a in book], dtype=object),
        "status": obj([a.status for a in book]),
        "balance": obj([a.balance for a in book], dtype=object),
        "unpaid_invoices": obj([a.unpaid_invoices for a in book]),
        "payment_method": obj(
            [gap if a.payment_method is None else a.payment_method for a in book], dtype=object
        ),
        "availability_days": obj(
            [-1 if a.availability_days is None else a.availability_days for a in book]
        ),
        **{
            name: obj(
                [gap if getattr(a, name) is None else getattr(a, name) for a in book], dtype=object
            )
            for name in DATES
        },
    }


def _frame(book: list[Account]) -> pd.DataFrame:
    """A DataFrame with pandas' nullable dtypes: string with pd.NA, Int64 with pd.NA,
    aware datetimes with NaT."""
    df = pd.DataFrame(
        {
            "id": pd.array([a.id for a in book], dtype="string"),
            "status": [a.status for a in book],
            "balance": pd.array([int(a.balance * 100) for a in book], dtype="Int64"),
            "unpaid_invoices": pd.array([a.unpaid_invoices for a in book], dtype="Int64"),
            "payment_method": pd.array([a.payment_method for a in book], dtype="string"),
            "availability_days": pd.array([a.availability_days for a in book], dtype="Int64"),
        }
    )
    for name in DATES:
        df[name] = pd.to_datetime(
            pd.Series([getattr(a, name) for a in book], dtype=object), utc=True
        )
    return df


def _per_account(policy: AutomationPolicy, book: list[Account], now: dt.datetime) -> Any:
    index = {a.id: i for i, a in enumerate(book)}
    changes: dict[int, Any] = {}
    blocked: dict[int, Any] = {}
    for p in sweep(book, policy, now=now):
        i = index[p.account_id]
        if p.changes:
            changes[i] = [(c.rule, c.trigger, c.source.code, c.dest.code) for c in p.changes]
        if p.blocked:
            blocked[i] = [(b.rule, b.trigger) for b in p.blocked]
    return changes, blocked


@settings(max_examples=40, deadline=None)
@given(books(), st.integers(-72, 72), st.sampled_from([None, float("nan"), pd.NaT, pd.NA]))
def test_per_account_sweep_equals_column_wise_over_every_book_form(
    case: tuple[AutomationPolicy, list[Account]], shift: int, gap: object
) -> None:
    """A list of accounts, a dict of arrays with gaps (None, NaN, NaT or pd.NA) and a
    DataFrame with nullable dtypes: the column-wise sweep decides as the per-account one."""
    policy, book = case
    now = NOW + shift * HOUR
    changes, blocked = _per_account(policy, book, now)
    for columns in (columns_from_accounts(book), _dict_with_gaps(book, gap), _frame(book)):
        out = sweep_columns(columns, policy, now=now)
        assert out.decisions() == changes
        assert out.refusals() == blocked


@pytest.mark.parametrize("gap", [None, float("nan"), pd.NA])
def test_ended_trial_without_a_card_is_canceled_in_a_dataframe(gap: object) -> None:
    """A missing payment method in a DataFrame (NaN, None, pd.NA; object or string dtype)
    is no card: the ended trial is canceled, as the per-account sweep does, and the
    string dtype raises no bare TypeError."""
    policy = AutomationPolicy(ISP, trial_end="end_trial")
    ended = NOW - HOUR
    for dtype in ("object", "string"):
        df = pd.DataFrame(
            {
                "id": ["A", "B"],
                "status": [41, 41],
                "payment_method": pd.array([gap, "visa"], dtype=dtype),
                "trial_ends_at": pd.to_datetime([ended, ended], utc=True),
            }
        )
        out = sweep_columns(df, policy, now=NOW)
        assert [ISP.catalog[c].name for c in out.status.tolist()] == ["canceled", "active"]


# -- only acctstate errors leave the public API -------------------------------------------

T1 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class _NoId:
    """A host object with a status but no id."""

    status = 1
    status_since = T1


def test_host_object_without_id_is_refused_by_plan_fire_and_schedule() -> None:
    """No ``id``: an InvalidArgument naming what is missing, not an AttributeError; and
    nothing is scheduled."""
    host = _NoId()
    for call in (
        lambda: ISP.plan(host, "suspend", at=T1),
        lambda: ISP.fire(host, "suspend", at=T1),
        lambda: ISP.schedule(host, "suspend", at=T1 + DAY, book=Schedule(ISP)),
    ):
        with pytest.raises(InvalidArgument, match="an object with an `id` attribute"):
            call()
    assert host.status == 1


def test_account_id_none_or_not_text_is_refused() -> None:
    """``wf.open(42, ...)`` and ``Account(id=None)`` are InvalidArgument, not attrs'
    TypeError; a host id of None is refused rather than keying effects as 'None'."""
    with pytest.raises(InvalidArgument, match=r"invalid Account\.id: got 42"):
        ISP.open(42, "prospect", at=T1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"invalid Account\.id: got None"):
        Account(id=None, status=1)  # type: ignore[arg-type]

    class Host:
        id = None
        status = 1
        status_since = T1

    host = Host()
    with pytest.raises(InvalidArgument, match="not None"):
        ISP.fire(host, "suspend", at=T1 + DAY)
    assert host.status == 1


def test_plan_refuses_hooks_and_a_bad_timezone_in_event_data() -> None:
    """``plan(..., hooks=x)`` is refused rather than taken as event data; so is
    ``timezone=5``, which rules would otherwise ignore and read as UTC."""
    acct = ISP.open("A-1", "active", at=T1, imported=True)
    with pytest.raises(InvalidArgument, match="plan\\(\\) runs no effects"):
        ISP.plan(acct, "suspend", at=T1 + DAY, hooks=object())
    for bad in (5, "Mars/Olympus"):
        with pytest.raises(InvalidArgument, match="an IANA time zone name"):
            ISP.plan(acct, "suspend", at=T1 + DAY, timezone=bad)
    assert ISP.plan(acct, "suspend", at=T1 + DAY, timezone="Europe/Paris").dest.name == (
        "suspended"
    )
    assert (acct.status, len(acct.history)) == (1, 1)


def test_schedule_refuses_event_data_bound_to_fail_when_due() -> None:
    """Money as text, or a cancel date outside the period the data gives, fails at the
    effective time whatever happens meanwhile: refused when scheduled; a fact still
    missing (no period yet) is left to the effective time."""
    acct = ISP.open("A-1", "active", at=T1, imported=True)
    book = Schedule(ISP)
    period = Period(T1, T1 + 30 * DAY)
    with pytest.raises(InvalidArgument, match=r"invalid paid: got '30\.00'"):
        ISP.schedule(acct, "cancel", at=T1 + 10 * DAY, book=book, refund="full", paid="30.00")
    with pytest.raises(InvalidArgument, match="within the paid period"):
        ISP.schedule(
            acct, "cancel", at=T1 + 40 * DAY, book=book, refund="prorated",
            paid=Decimal("30.00"), period=period,
        )  # fmt: skip
    assert len(book) == 0
    ISP.schedule(acct, "cancel", at=T1 + 10 * DAY, book=book, refund="prorated",
                 paid=Decimal("30.00"))  # fmt: skip
    assert len(book) == 1


def test_guard_argument_of_the_wrong_type_fails_at_load() -> None:
    """``{ name = "has_payment_method", attr = 5 }`` in a workflow file is a ConfigError
    naming the key path when loaded, not a TypeError at the first fire."""
    text = dump_workflow(ISP, format="toml").replace(
        'name = "has_payment_method"', 'name = "has_payment_method", attr = 5'
    )
    with pytest.raises(ConfigError, match="invalid attr: got 5") as e:
        load_workflow(text)
    assert e.value.path.startswith("transitions[") and "guards" in e.value.path


def test_config_error_for_a_lone_surrogate_key_is_writable_to_a_utf8_log() -> None:
    """A JSON key holding a lone surrogate: the ConfigError's message escapes it, so a
    UTF-8 log can write it."""
    doc = json.loads(dump_workflow(ISP, format="json"))
    doc["\ud800"] = 1
    with pytest.raises(ConfigError) as e:
        load_workflow(json.dumps(doc), format="json")
    assert "\\ud800" in str(e.value)
    str(e.value).encode("utf-8")


# -- the docs say what the code does -------------------------------------------------------


def test_at_is_optional_where_the_clock_supplies_it() -> None:
    """``plan``, ``fire`` and ``move_to`` without ``at`` use the workflow's clock, as its
    ``clock`` parameter says."""
    now = T1 + 3 * DAY
    wf = ISP.with_clock(FixedClock(now))
    acct = wf.open("A-1", "active", at=T1, imported=True)
    assert wf.plan(acct, "suspend").at == now
    assert wf.fire(acct, "suspend").at == now
    assert wf.move_to(acct, "terminated").at == now


def test_effect_keys_carry_the_source_status_as_documented() -> None:
    """effects.md: ``{account}/{trigger}/{effective time in UTC}/{source status code}#{n}``."""
    acct = ISP.open("A-1", "active", at=T1, imported=True)
    change = ISP.plan(acct, "suspend", at=T1 + DAY)
    assert change.effects[0].key == "A-1/suspend/2026-01-02T00:00:00+00:00/1#0"


def test_back_dated_change_at_the_same_instant_is_accepted() -> None:
    """history.md: a change at the instant of the latest one is accepted; an earlier one
    is refused with a message saying so."""
    acct = ISP.open("A-1", "active", at=T1, imported=True)
    ISP.fire(acct, "suspend", at=T1 + DAY)
    assert ISP.fire(acct, "terminate", at=T1 + DAY).dest.name == "terminated"
    with pytest.raises(HistoryConflict, match="or to the same instant"):
        ISP.fire(acct, "archive", at=T1)
