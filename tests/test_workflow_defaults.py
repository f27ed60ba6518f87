"""Explicit workflow defaults for the billing time zone and the currency.

Money and time are never guessed: a rule that needs the time zone or the currency reads
the account's own fact, else the event data, else the default the workflow was built
with (``Workflow(default_timezone=..., default_currency=...)``), and refuses with
``MissingFact`` naming the fact when none gives one. The default is used the same way by
plain ``fire`` on a host object, by the stores and by both automation sweeps.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

import acctstate
from acctstate.automation import AutomationPolicy, sweep, sweep_columns
from acctstate.errors import InvalidArgument, MissingFact
from acctstate.presets import isp
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore, create_engine

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
BASE = isp.workflow().with_clock(acctstate.FixedClock(T0 + 3650 * DAY))
EURO = BASE.with_defaults(timezone="Asia/Tokyo", currency="EUR")


class Host:
    """A host object that records no time zone and no currency."""

    def __init__(self, account_id: str, status: int, since: dt.datetime, **facts: Any) -> None:
        self.id = account_id
        self.status = status
        self.status_since = since
        for k, v in facts.items():
            setattr(self, k, v)


def canceled_host() -> Host:
    return Host("H-1", BASE.catalog["canceled"].code, T0, payment_method="card",
                period_price=Decimal("30.00"))  # fmt: skip


def charges(change: acctstate.StatusChange) -> list[tuple[Decimal, str]]:
    return [(e.amount, e.currency) for e in change.effects if e.kind == "charge"]


# -- the workflow's defaults ---------------------------------------------------------------


def test_defaults_are_checked_kept_by_copies_and_part_of_equality() -> None:
    """Bad names are refused when the workflow is built; extend and with_clock keep the
    defaults; two workflows differing only in defaults are not equal."""
    with pytest.raises(InvalidArgument, match="invalid default_timezone"):
        BASE.with_defaults(timezone="Mars/Olympus")
    with pytest.raises(InvalidArgument, match=r"invalid default_currency.*ISO 4217"):
        BASE.with_defaults(currency="eur")
    with pytest.raises(InvalidArgument, match="invalid default_timezone"):
        BASE.with_defaults(timezone=dt.UTC)  # type: ignore[arg-type]
    assert (EURO.default_timezone, EURO.default_currency) == ("Asia/Tokyo", "EUR")
    assert (BASE.default_timezone, BASE.default_currency) == (None, None)
    extended = EURO.extend(name="isp2")
    assert (extended.default_timezone, extended.default_currency) == ("Asia/Tokyo", "EUR")
    assert EURO.with_clock(acctstate.FixedClock(T0)).default_currency == "EUR"
    assert EURO != BASE and BASE.with_defaults(timezone="Asia/Tokyo", currency="EUR") == EURO
    assert EURO.with_defaults() == BASE


def test_open_gives_new_accounts_the_defaults_as_their_own_facts() -> None:
    """``Workflow.open`` fills the account's time zone and currency from the defaults;
    fields given explicitly win."""
    acct = EURO.open("A-1", "prospect", at=T0)
    assert (acct.timezone, acct.currency) == ("Asia/Tokyo", "EUR")
    other = EURO.open("A-2", "prospect", at=T0, currency="JPY")
    assert (other.timezone, other.currency) == ("Asia/Tokyo", "JPY")


# -- plain fire on a host object -------------------------------------------------------------


def test_without_a_default_a_host_without_currency_is_refused_naming_it() -> None:
    """A rule that charges needs a currency: with none on the host, in the event data or
    on the workflow, ``MissingFact`` names it and the host is unchanged (it used to be
    silently USD)."""
    host = canceled_host()
    with pytest.raises(MissingFact, match="default_currency") as caught:
        BASE.fire(host, "reinstate_forward", at=T0 + DAY, timezone="UTC")
    assert (caught.value.account_id, caught.value.fact) == ("H-1", "currency")
    assert host.status == BASE.catalog["canceled"].code and not hasattr(host, "history")


def test_without_a_default_a_host_without_time_zone_is_refused_naming_it() -> None:
    """Counting calendar days needs the billing time zone: ``MissingFact`` (it used to be
    silently UTC); the guard names a wrong ``status_since`` before a missing zone."""
    host = Host("H-2", BASE.catalog["suspended"].code, T0)
    with pytest.raises(MissingFact, match="timezone"):
        BASE.may(host, "archive", at=T0 + 200 * DAY)
    assert BASE.may(host, "archive", at=T0 + 200 * DAY, timezone="UTC")


def test_the_default_stands_in_exactly_as_event_data_would() -> None:
    """On a host with no time zone or currency, the workflow's defaults give the same
    change as passing them as event data; the host's own facts and the event data win
    over the defaults."""
    by_default = EURO.plan(canceled_host(), "reinstate_forward", at=T0 + DAY)
    by_data = BASE.plan(
        canceled_host(), "reinstate_forward", at=T0 + DAY, timezone="Asia/Tokyo", currency="EUR"
    )
    assert by_default == by_data
    assert charges(by_default) == [(Decimal("30.00"), "EUR")]
    own = canceled_host()
    own.currency = "GBP"  # type: ignore[attr-defined]
    assert charges(EURO.plan(own, "reinstate_forward", at=T0 + DAY)) == [(Decimal("30.00"), "GBP")]
    given = EURO.plan(canceled_host(), "reinstate_forward", at=T0 + DAY, currency="CHF")
    assert charges(given) == [(Decimal("30.00"), "CHF")]


def test_days_count_in_the_default_zone() -> None:
    """180 days in status from 1 March 23:30 UTC: in Tokyo that is already 2 March, so
    day 180 begins nine hours later than in UTC; the default zone decides, as event data
    would."""
    since = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    host = Host("H-3", BASE.catalog["suspended"].code, since)
    tokyo_day_180 = dt.datetime(2026, 8, 28, 15, 0, tzinfo=dt.UTC)  # 29 Aug 00:00 in Tokyo
    before = tokyo_day_180 - dt.timedelta(seconds=1)
    assert EURO.may(host, "archive", at=tokyo_day_180)
    assert not EURO.may(host, "archive", at=before)
    assert not BASE.may(host, "archive", at=before, timezone="Asia/Tokyo")
    assert BASE.may(host, "archive", at=before, timezone="UTC")


# -- the stores plan like plain fire -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_stores_use_the_default_like_plain_fire(kind: str) -> None:
    """A stored account whose host facts give no time zone or currency is planned with
    the workflow's defaults: the change equals plain ``fire`` on the host object."""
    facts = {"payment_method": "card", "period_price": Decimal("30.00"), "balance": Decimal(0)}
    if kind == "memory":
        store: Any = MemoryStore(EURO, facts={"H-1": facts})
    else:
        import sqlalchemy as sa

        host = sa.MetaData()
        customers = sa.Table(
            "customers",
            host,
            sa.Column("id", sa.String(200), primary_key=True),
            sa.Column("payment_method", sa.String(20)),
            sa.Column("period_price", sa.Numeric(12, 2)),
            sa.Column("balance", sa.Numeric(12, 2)),
            sa.Column("timezone", sa.String(50)),
            sa.Column("currency", sa.String(3)),
        )
        engine = create_engine("sqlite://")
        host.create_all(engine)
        with engine.begin() as conn:
            conn.execute(customers.insert(), {"id": "H-1", **facts})
        store = SqlStore(EURO, engine, facts=customers)
        store.create_schema()
    store.open("H-1", "canceled", at=T0, imported=True)
    stored = store.fire("H-1", "reinstate_forward", at=T0 + DAY)
    plain = EURO.fire(canceled_host(), "reinstate_forward", at=T0 + DAY)
    assert stored.effects == plain.effects and stored.dest == plain.dest
    assert charges(stored) == [(Decimal("30.00"), "EUR")]
    without = MemoryStore(BASE, facts={"H-9": facts})
    without.open("H-9", "canceled", at=T0, imported=True)
    with pytest.raises(MissingFact, match="currency"):
        without.fire("H-9", "reinstate_forward", at=T0 + DAY)
    assert without.load("H-9").version == 0


# -- both sweeps -------------------------------------------------------------------------------


def test_per_account_and_column_wise_sweeps_count_days_in_the_default_zone() -> None:
    """The archive rule over hosts with no time zone: the per-account sweep and the
    column-wise sweep (a book without a time zone column, and one whose cells are
    empty) both count in the workflow's default zone, and agree."""
    np = pytest.importorskip("numpy")
    since = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    now = dt.datetime(2026, 8, 28, 14, 59, tzinfo=dt.UTC)  # day 180 in UTC, 179 in Tokyo
    suspended = BASE.catalog["suspended"].code
    for wf, archived in ((EURO, False), (BASE.with_defaults(timezone="UTC"), True)):
        policy = AutomationPolicy(wf, archive="archive")
        hosts = [Host("H-1", suspended, since)]
        per_account = sweep(hosts, policy, now=now)
        moved = [c.trigger for p in per_account.plans for c in p.changes]
        assert moved == (["archive"] if archived else [])
        code = wf.catalog["archived"].code if archived else suspended
        books = [
            {"status": np.array([suspended]), "status_since": np.array([since], dtype=object)},
            {
                "status": np.array([suspended]),
                "status_since": np.array([since], dtype=object),
                "timezone": np.array([None], dtype=object),
            },
        ]
        for book in books:
            out = sweep_columns(book, policy, now=now)
            assert out.status.tolist() == [code]


def test_the_defaults_travel_with_the_policy_to_other_processes() -> None:
    """A partitioned or distributed sweep rebuilds its policies from plain data: the
    workflow's defaults go with them, so the workers count days in the same zone."""
    from acctstate.world.distributed._document import (
        policies_from_document,
        policies_to_document,
    )

    policies = (
        AutomationPolicy(EURO, archive="archive"),
        AutomationPolicy(BASE, archive="archive"),
    )
    doc = policies_to_document(policies)
    back = policies_from_document(doc)
    assert [p.workflow for p in back] == [EURO, BASE]
    assert (back[0].workflow.default_timezone, back[0].workflow.default_currency) == (
        "Asia/Tokyo",
        "EUR",
    )
    assert len(doc["workflows"]) == 2  # the same graph, once per set of defaults


def test_workflow_files_carry_the_defaults() -> None:
    """A workflow file states the defaults as ``default_timezone`` and
    ``default_currency`` (an extension keeps its base's unless it says otherwise); a dump
    writes them back; a bad one is a ConfigError naming the key."""
    from acctstate.config import dump_workflow, load_workflow
    from acctstate.errors import ConfigError

    text = '{"extends": "isp", "default_timezone": "Asia/Tokyo", "default_currency": "EUR"}'
    wf = load_workflow(text, format="json")
    assert (wf.default_timezone, wf.default_currency) == ("Asia/Tokyo", "EUR")
    again = load_workflow(dump_workflow(wf, format="json"), format="json")
    assert (again.default_timezone, again.default_currency) == ("Asia/Tokyo", "EUR")
    assert load_workflow(dump_workflow(wf, format="toml"), format="toml") == again
    with pytest.raises(ConfigError, match="default_currency"):
        load_workflow('{"extends": "isp", "default_currency": "euro"}', format="json")
    with pytest.raises(ConfigError, match="default_timezone"):
        load_workflow('{"extends": "isp", "default_timezone": 5}', format="json")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_nightly_runs_count_days_in_the_default_zone(kind: str) -> None:
    """``run_automation`` over stored accounts whose facts give no time zone: the
    workflow's default zone decides the archive day, in memory and in the set-based SQL
    run alike (the same answer as the sweeps above)."""
    since = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    now = dt.datetime(2026, 8, 28, 14, 59, tzinfo=dt.UTC)  # day 180 in UTC, 179 in Tokyo
    for wf, archived in ((EURO, False), (BASE.with_defaults(timezone="UTC"), True)):
        store: Any = (
            MemoryStore(wf) if kind == "memory" else SqlStore(wf, create_engine("sqlite://"))
        )
        if kind == "sqlite":
            store.create_schema()
        store.open("H-1", "suspended", at=since, imported=True)
        report = store.run_automation(AutomationPolicy(wf, archive="archive"), now=now)
        assert report.failed == ()
        assert (store.load("H-1").status == wf.catalog["archived"].code) is archived
