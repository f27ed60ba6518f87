"""Tenants: two SQL stores on the same tables with different tenants (two workflows, or two
brands on one workflow) never see or change each other's accounts, history, effects,
scheduled changes or holds, even under the same account and hold ids; a bad tenant is
refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import acctstate
from acctstate.automation import AutomationPolicy, reference_ladder
from acctstate.batch import FireTrigger, Selection
from acctstate.errors import GuardRefused, InvalidArgument
from acctstate.holds import STANDARD_HOLDS, UnknownHold
from acctstate.presets import isp
from acctstate.store.sql import SqlStore, create_engine
from test_store_sql import needs_pg, pg_engine

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
ISP = isp.workflow().with_clock(acctstate.FixedClock(T0 + 400 * DAY))
# A second workflow on the same tables: the ISP one with one status more.
OTHER = ISP.extend(
    statuses=[acctstate.Status(70, "on_hold", backend="suspended")],
    transitions=[
        acctstate.Transition("hold", "active", "on_hold"),
        acctstate.Transition("release", "on_hold", "active"),
    ],
    name="isp_with_hold",
)


@contextlib.contextmanager
def engine_of(kind: str, tmp: pathlib.Path) -> Iterator[sa.Engine]:
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp / 'shared.db'}")
        yield engine
        engine.dispose()
    else:
        with pg_engine() as engine:
            yield engine


def everything(store: SqlStore, ids: list[str]) -> Any:
    """All a store can see."""
    return (
        store.accounts(),
        [list(store.history(i)) for i in ids],
        store.pending(),
        store.scheduled(),
        store.dead_letters(),
    )


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_two_tenants_share_the_tables_and_never_meet(kind: str, tmp_path: pathlib.Path) -> None:
    """Same ids, same tables: each store sees and changes only its own tenant's rows."""
    with engine_of(kind, tmp_path) as engine:
        a = SqlStore(ISP, engine, tenant="brand-a")
        b = SqlStore(OTHER, engine, tenant="brand-b")
        a.create_schema()
        assert (a.tenant, b.tenant) == ("brand-a", "brand-b")
        for store in (a, b):
            store.open("A-1", "active", at=T0, imported=True)
            store.open("A-2", "active", at=T0, imported=True)
        a.fire("A-1", "suspend", at=T0 + DAY)
        b.fire("A-1", "hold", at=T0 + DAY)
        b.schedule("A-2", "suspend", at=T0 + 2 * DAY)
        seen_b = everything(b, ["A-1", "A-2"])

        # What A does never shows in B, and the other way round.
        assert a.load("A-1").status == -1 and b.load("A-1").status == 70
        assert [c.trigger for c in a.history("A-1")] == ["open", "suspend"]
        assert [c.trigger for c in b.history("A-1")] == ["open", "hold"]
        assert {p.account_id for p in a.pending()} == {"A-1"}
        assert a.scheduled() == () and len(b.scheduled()) == 1
        assert a.apply_due(at=T0 + 3 * DAY).applied == ()
        report = a.apply_batch(
            Selection(statuses="active"), FireTrigger("suspend"), at=T0 + 3 * DAY
        )
        assert [o.account_id for o in report.outcomes] == ["A-2"]
        assert a.select().counts.selected == 2
        policy = AutomationPolicy(ISP, ladder=reference_ladder(), archive="archive")
        assert a.run_automation(policy, now=T0 + 300 * DAY).examined == 2
        rec = acctstate.RecordingHooks()
        delivered = a.deliver(acctstate.Hooks.from_object(rec))
        assert delivered.delivered and all(k.startswith("A-") for k in delivered.delivered)
        assert a.prune(before=T0 + 1000 * DAY) > 0
        assert everything(b, ["A-1", "A-2"]) == seen_b
        assert b.apply_due(at=T0 + 3 * DAY).applied != ()
        assert a.load("A-2").version == 1  # B's scheduled change stayed in B
        with pytest.raises(InvalidArgument, match="an account in the store"):
            SqlStore(ISP, engine, tenant="brand-c").load("A-1")


HELD = ISP.with_holds(STANDARD_HOLDS)
CLERK = acctstate.Actor("u-7", permissions={"place_fraud_hold"})
host = sa.MetaData()
customers = sa.Table(
    "customers",
    host,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("balance", sa.Numeric(12, 2), nullable=False),
    sa.Column("timezone", sa.String(50)),
    sa.Column("currency", sa.String(3)),
)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_two_tenants_never_see_each_others_holds(kind: str, tmp_path: pathlib.Path) -> None:
    """A hold placed in one tenant neither shows, blocks, nor is released in the other,
    under the same account and hold ids: ``holds``, ``why_blocked``, ``fire``, a store
    batch, and the nightly run (chunk read and time-bound holds ending) read their own."""
    with engine_of(kind, tmp_path) as engine:
        a = SqlStore(HELD, engine, tenant="brand-a", facts=customers)
        b = SqlStore(HELD, engine, tenant="brand-b", facts=customers)
        a.create_schema()
        host.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                customers.insert(),
                [
                    {"id": i, "balance": 0, "timezone": "UTC", "currency": "USD"}
                    for i in ("A-1", "A-2")
                ],
            )
        for store in (a, b):
            store.open("A-1", "active", at=T0, imported=True)
            store.open("A-2", "active", at=T0, imported=True)
        a.place_hold("A-1", "fraud", at=T0 + DAY, actor=CLERK)
        a.place_hold("A-2", "vacation", at=T0 + DAY, until=T0 + 10 * DAY)
        b.place_hold("A-2", "vacation", at=T0 + DAY, until=T0 + 20 * DAY)
        (theirs,), (mine,) = a.holds("A-2"), b.holds("A-2")
        assert theirs.id == mine.id and (theirs.until, mine.until) == (T0 + 10 * DAY, T0 + 20 * DAY)

        assert b.holds("A-1") == () and a.holds("A-1")[0].type == "fraud"
        assert a.why_blocked("A-1", "changes") and not b.why_blocked("A-1", "changes")
        with pytest.raises(UnknownHold):
            b.release_hold("A-1", a.holds("A-1")[0].id, at=T0 + 2 * DAY)
        with pytest.raises(GuardRefused, match="hold:fraud"):
            a.fire("A-1", "cancel", at=T0 + 2 * DAY)
        assert b.fire("A-1", "cancel", at=T0 + 2 * DAY).trigger == "cancel"
        refused = a.apply_batch(
            Selection(statuses="active"), FireTrigger("cancel"), at=T0 + 3 * DAY
        )
        assert [(o.account_id, "hold:fraud" in (o.reason or "")) for o in refused.outcomes] == [
            ("A-1", True),
            ("A-2", False),
        ]

        # Each nightly run ends its own tenant's time-bound holds only.
        policy = AutomationPolicy(HELD, archive="archive")
        b.run_automation(policy, now=T0 + 15 * DAY)
        assert a.holds("A-2") == (theirs,) and b.holds("A-2") == (mine,)
        a.run_automation(policy, now=T0 + 15 * DAY)
        assert a.holds("A-2") == () and b.holds("A-2") == (mine,)
        assert [c.trigger for c in b.history("A-2")] == ["open", "place_hold"]
        assert len(a.holds("A-1")) == 1


@pytest.mark.parametrize("tenant", [None, 7, "x" * 101, "a\x00b"])
def test_a_bad_tenant_is_refused(tenant: Any) -> None:
    """A tenant is text of at most 100 characters."""
    with pytest.raises(InvalidArgument, match="tenant"):
        SqlStore(ISP, create_engine("sqlite://"), tenant=tenant)
