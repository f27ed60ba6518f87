"""Holds in the Django store: the hold contract of ``test_store_holds.py`` run on the
example's ``Customer`` model (SQLite and, with ``ACCTSTATE_PG_URL``, PostgreSQL), the
differential test plain objects == DjangoStore, the hold rows, and the automation placing
and releasing holds as MemoryStore and SqlStore do."""

from __future__ import annotations

import inspect
import sys
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("django")
pytest.importorskip("pytest_django")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import _django
import test_automation_holds as auto
import test_store_holds as holds_contract
from test_store_holds import CLERK, DAY, HOUR, OPS, T0, WF
from test_store_sql import needs_pg

_django.configure()

from billing.models import Customer  # noqa: E402
from django.db import transaction  # noqa: E402

from acctstate.automation import AutomationPolicy, CreditHold, apply, sweep  # noqa: E402
from acctstate.contrib.django import models as dj_models  # noqa: E402
from acctstate.contrib.django.store import DjangoStore  # noqa: E402
from acctstate.errors import ConcurrentChange, HistoryConflict, InvalidArgument  # noqa: E402
from acctstate.holds import place_hold  # noqa: E402
from acctstate.store.memory import MemoryStore  # noqa: E402

pytestmark = pytest.mark.django_db(databases="__all__")

ALIASES = ["default", pytest.param("postgres", marks=needs_pg)]


@pytest.fixture(params=ALIASES, ids=["django-sqlite", "django-postgres"])
def store(request: pytest.FixtureRequest) -> DjangoStore:
    """A store on the holds workflow over the example's ``Customer`` model."""
    return DjangoStore(WF, Customer, using=request.param)


# -- the hold contract, as every store runs it ------------------------------------------

CONTRACT = {
    name: test
    for name, test in vars(holds_contract).items()
    if name.startswith("test_") and "store" in inspect.signature(test).parameters
}
globals().update(CONTRACT)


def test_the_hold_contract_is_shared_not_copied() -> None:
    """This module runs the hold contract of test_store_holds.py itself, not a copy."""
    assert len(CONTRACT) >= 4
    assert all(globals()[name] is test for name, test in CONTRACT.items())


# -- what is the Django store's own -----------------------------------------------------


def test_hold_rows_keep_every_placement_and_release(store: DjangoStore) -> None:
    """One row per hold: released rows stay with the version and instant of their
    release, and a released id may be placed again."""
    store.open("A-1", "active", at=T0, imported=True)
    store.place_hold("A-1", "manual", at=T0 + HOUR, hold_id="X")
    store.release_hold("A-1", "X", at=T0 + 2 * HOUR)
    store.place_hold("A-1", "manual", at=T0 + 3 * HOUR, hold_id="X")
    rows = dj_models.Hold.objects.using(store.using).order_by("seq")
    assert [
        (r.account_model, r.hold_id, r.placed_version, r.released_version, r.released_at)
        for r in rows
    ] == [
        ("billing.customer", "X", 1, 2, T0 + 2 * HOUR),
        ("billing.customer", "X", 3, None, None),
    ]
    assert [h.id for h in store.holds("A-1")] == ["X"]


def test_a_refused_hold_change_writes_no_row(store: DjangoStore) -> None:
    """A stale version, a taken hold id, an unknown account or a change dated before the
    latest one are refused with nothing written (rows, history, outbox)."""
    store.open("A-1", "active", at=T0, imported=True)
    store.place_hold("A-1", "manual", at=T0 + DAY, hold_id="X")
    before = list(dj_models.Hold.objects.using(store.using).values())
    history = store.history("A-1")
    with pytest.raises(ConcurrentChange):
        store.release_hold("A-1", "X", at=T0 + 2 * DAY, expected_version=0)
    with pytest.raises(InvalidArgument, match="an id no standing hold has"):
        store.place_hold("A-1", "credit", at=T0 + 2 * DAY, hold_id="X")
    with pytest.raises(InvalidArgument, match="the id of an account in the store"):
        store.place_hold("B-9", "credit", at=T0 + 2 * DAY)
    with pytest.raises(HistoryConflict):
        store.fire("A-1", "suspend", at=T0 + HOUR, actor=CLERK)
    assert list(dj_models.Hold.objects.using(store.using).values()) == before
    assert store.history("A-1") == history


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, status=st.sampled_from(["active", "suspended", "active_non_billable"]))
def test_holds_on_objects_and_in_the_django_store_agree(
    ops: list[tuple[str, Any, Any]], status: str
) -> None:
    """For random placements, releases and status changes, plain objects, MemoryStore
    and the Django store give the same outcomes, effects, standing holds, effective
    capability and history (each example rolled back)."""
    with transaction.atomic():
        holds_contract._run_differential([MemoryStore(WF), DjangoStore(WF, Customer)], ops, status)
        transaction.set_rollback(True)


@needs_pg
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_holds_on_objects_and_in_the_django_store_on_postgres_agree(
    ops: list[tuple[str, Any, Any]],
) -> None:
    """The same differential on PostgreSQL."""
    with transaction.atomic(using="postgres"):
        holds_contract._run_differential(
            [DjangoStore(WF, Customer, using="postgres")], ops, "active"
        )
        transaction.set_rollback(True, using="postgres")


# -- the automation -------------------------------------------------------------------

AUTO_WF = WF.with_defaults(timezone="UTC", currency="EUR")
POLICY = AutomationPolicy(
    AUTO_WF,
    archive="archive",
    credit_hold=CreditHold(past_due_days=20, min_past_due=Decimal("50"), hold="credit"),
)


def test_the_django_store_automates_holds_as_the_memory_store_does(
    store: DjangoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_automation`` ends time-bound holds, places a credit hold as a hold and
    releases it once paid, with the same changes, histories, holds and reports as
    MemoryStore (the rules read the row's fields and properties); a second run at the
    same instant changes nothing."""
    # The host's own properties: when the oldest unpaid invoice fell due, and the
    # billing time zone (the credit hold's days are counted there).
    unpaid = property(lambda c: T0 if c.balance > 0 else None)
    monkeypatch.setattr(Customer, "oldest_unpaid_at", unpaid, raising=False)
    monkeypatch.setattr(Customer, "timezone", "UTC", raising=False)
    dj = DjangoStore(AUTO_WF, Customer, using=store.using)
    now = T0 + 60 * DAY
    books = {"A-1": Decimal("80"), "A-2": Decimal("0"), "A-3": Decimal("80")}
    facts = {
        k: {"balance": v, "oldest_unpaid_at": T0 if v else None, "timezone": "UTC"}
        for k, v in books.items()
    }
    memory = MemoryStore(AUTO_WF, facts=facts)
    for s in (memory, dj):
        for account_id, balance in books.items():
            defaults = {"balance": balance} if s is dj else None
            if s is dj:
                s.open(account_id, "active", at=T0, imported=True, defaults=defaults)
            else:
                s.open(account_id, "active", at=T0, imported=True)
        s.place_hold("A-2", "vacation", at=T0 + DAY, until=T0 + 10 * DAY)
        s.place_hold("A-3", "manual", at=T0 + DAY, actor=CLERK)
    by_memory = memory.run_automation(POLICY, now=now)
    by_django = dj.run_automation(POLICY, now=now)
    assert by_django == by_memory, (by_django, by_memory)
    assert by_django.changes >= 2 and not by_django.failed
    for account_id in books:
        assert dj.holds(account_id) == memory.holds(account_id)
        assert [(str(c), c.note, c.reason, c.effects) for c in dj.history(account_id)] == [
            (str(c), c.note, c.reason, c.effects) for c in memory.history(account_id)
        ]
        assert dj.load(account_id) == memory.load(account_id)
    assert [h.type for h in dj.holds("A-1")] == ["credit"]
    assert dj.holds("A-2") == ()
    assert dj.run_automation(POLICY, now=now).changes == 0
    Customer.objects.using(store.using).filter(pk="A-1").update(balance=Decimal("0"))
    released = dj.run_automation(POLICY, now=now + DAY)
    assert released.changes == 1
    assert dj.holds("A-1") == ()
    assert dj.history("A-1")[-1].trigger == "release_hold"


def test_the_facts_carry_the_holds_so_explain_names_them(store: DjangoStore) -> None:
    """``store.facts`` (what the admin asks the workflow about) carries the standing
    holds and the history: ``explain`` refuses what ``fire`` refuses, for the hold."""
    store.open("A-1", "active", at=T0, imported=True)
    store.place_hold("A-1", "fraud", at=T0 + HOUR, actor=CLERK)
    facts = store.facts("A-1")
    assert facts.holds == store.holds("A-1") and len(facts.history) == 2
    explained = WF.explain(facts, "suspend", at=T0 + DAY, actor=CLERK)
    assert not explained.allowed and "hold:fraud" in str(explained)
    assert "suspend" not in WF.allowed_triggers(facts, at=T0 + DAY, actor=CLERK)


def test_a_status_change_on_a_held_django_account_matches_an_object(store: DjangoStore) -> None:
    """A row-backed account with a billing hold plans the effects of effective
    capability, as ``fire`` on an object does."""
    store.open("A-1", "active", at=T0, imported=True)
    store.place_hold("A-1", "manual", at=T0 + HOUR)
    acct = WF.open("A-1", "active", at=T0, imported=True)
    place_hold(WF, acct, "manual", at=T0 + HOUR)
    assert (
        store.fire("A-1", "suspend", at=T0 + DAY, actor=CLERK).effects
        == WF.fire(acct, "suspend", at=T0 + DAY, actor=CLERK).effects
    )


# -- random books: the Django store automates as objects and MemoryStore do -------------

BOOK_FACTS: dict[str, dict[str, Any]] = {}
"""The facts the random books' customers give beyond their row (read by properties)."""


def _fact(name: str) -> property:
    return property(lambda c: BOOK_FACTS.get(c.pk, {}).get(name))


@pytest.mark.parametrize("alias", ALIASES, ids=["django-sqlite", "django-postgres"])
def test_plain_apply_memory_store_and_django_store_automate_holds_alike(alias: str) -> None:
    """On random books with holds, the per-account sweep carried out on objects,
    ``MemoryStore.run_automation`` and ``DjangoStore.run_automation`` make the same
    changes, histories, effects, holds and reports; a second run changes nothing (each
    example rolled back)."""

    @settings(
        max_examples=20 if alias == "default" else 6,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(book=auto.book_st, chunk=st.sampled_from([1, 3, 100]))
    def check(book: list[dict[str, Any]], chunk: int) -> None:
        _automate_alike(alias, book, chunk)

    check()


def _automate_alike(alias: str, book: list[dict[str, Any]], chunk: int) -> None:
    accounts = auto.plain_book(book)
    outcome = apply(sweep(accounts, auto.POLICY, now=auto.NOW))
    assert not outcome.failed
    facts = {f"A-{n:04d}": auto.facts_of(a) for n, a in enumerate(book)}
    memory = MemoryStore(auto.WF, facts=facts)
    auto.load(memory, book)
    with pytest.MonkeyPatch.context() as patch, transaction.atomic(using=alias):
        for name in ("unpaid_invoices", "oldest_unpaid_at", "timezone", "currency"):
            patch.setattr(Customer, name, _fact(name), raising=False)
        patch.setattr(sys.modules[__name__], "BOOK_FACTS", facts)
        dj = DjangoStore(auto.WF, Customer, using=alias)
        for n, a in enumerate(book):
            account_id = f"A-{n:04d}"
            dj.open(
                account_id,
                a["start"],
                at=auto.T0,
                imported=True,
                defaults={"balance": a["balance"]},
            )
            for t, at, until in auto.holds_of(a):
                dj.place_hold(account_id, t, at=at, until=until)
        by_memory = memory.run_automation(auto.POLICY, now=auto.NOW, chunk=chunk)
        by_django = dj.run_automation(auto.POLICY, now=auto.NOW, chunk=chunk)
        assert by_django == by_memory
        assert by_django.changes == outcome.changes
        for acct in accounts:
            assert auto.shown(dj.history(acct.id)) == auto.shown(acct.history)
            assert dj.holds(acct.id) == acct.holds
            assert dj.load(acct.id).status == acct.status
            assert dj.load(acct.id).version == len(acct.history) - 1
        assert dj.run_automation(auto.POLICY, now=auto.NOW, chunk=chunk).changes == 0
        transaction.set_rollback(True, using=alias)
