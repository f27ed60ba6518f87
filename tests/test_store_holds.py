"""Holds in the stores: one row per hold, placement and release in the history and outbox,
and the same answers as placing holds on plain objects (in memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

import acctstate
from acctstate.actors import Actor
from acctstate.errors import AcctStateError, ConcurrentChange, GuardRefused, PermissionDenied
from acctstate.holds import (
    STANDARD_HOLDS,
    Hold,
    UnknownHold,
    effective_capability,
    place_hold,
    release_hold,
)
from acctstate.presets import isp
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore, create_engine, metadata
from acctstate.testing import guard_inputs
from test_store_sql import needs_pg, pg_engine

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
CLERK = Actor("u-7", permissions={"place_fraud_hold"})
WF = isp.workflow().with_holds(STANDARD_HOLDS).with_clock(acctstate.FixedClock(T0 + 400 * DAY))
KINDS = ["memory", "sqlite", pytest.param("postgres", marks=needs_pg)]
holds_table = metadata.tables["acctstate_holds"]


@contextlib.contextmanager
def make_store(kind: str, tmp: pathlib.Path, wf: acctstate.Workflow = WF) -> Iterator[Any]:
    """A fresh, empty store of ``kind`` on ``wf``."""
    if kind == "memory":
        yield MemoryStore(wf)
    elif kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp / f'holds-{uuid.uuid4().hex[:6]}.db'}")
        store = SqlStore(wf, engine)
        store.create_schema()
        yield store
        engine.dispose()
    else:
        with pg_engine() as engine:
            store = SqlStore(wf, engine)
            store.create_schema()
            yield store


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    with make_store(request.param, tmp_path) as s:
        yield s


def kinds(change: acctstate.StatusChange) -> list[str]:
    return [e.kind for e in change.effects]


def utc(h: Hold) -> Hold:
    return attrs.evolve(
        h,
        since=h.since.astimezone(dt.UTC),
        until=None if h.until is None else h.until.astimezone(dt.UTC),
    )


def test_placing_and_releasing_in_a_store_records_changes_effects_and_rows(store: Any) -> None:
    """A placement and a release are each one version, one history entry and their
    effects in the outbox; the status and status_since stay; the hold stands in between."""
    store.open("A-1", "active", at=T0, imported=True)
    paris = dt.timezone(dt.timedelta(hours=1))
    placed = store.place_hold(
        "A-1", "manual", at=(T0 + DAY).astimezone(paris), reason="disputed", actor=CLERK
    )
    assert kinds(placed) == ["stop_billing", "stop_usage_billing"]
    assert placed.trigger == "place_hold" and placed.source == placed.dest
    stored = store.load("A-1")
    assert (stored.version, stored.status_since) == (1, T0)
    (hold,) = store.holds("A-1")
    assert (hold.id, hold.type, hold.since, hold.reason, hold.placed_by) == (
        "H1",
        "manual",
        T0 + DAY,
        "disputed",
        CLERK,
    )
    assert hold.since.tzinfo is dt.UTC
    second = store.place_hold("A-1", "credit", at=T0 + 2 * DAY, until=T0 + 9 * DAY)
    assert kinds(second) == ["deprovision"]
    assert [h.id for h in store.holds("A-1")] == ["H1", "H2"]
    assert store.holds("A-1")[1].until == T0 + 9 * DAY
    assert kinds(store.release_hold("A-1", "H1", at=T0 + 3 * DAY, actor=CLERK)) == []
    released = store.release_hold("A-1", store.holds("A-1")[0], at=T0 + 4 * DAY)
    assert kinds(released) == ["provision", "start_billing", "start_usage_billing"]
    assert store.holds("A-1") == ()
    history = store.history("A-1")
    assert [c.trigger for c in history] == [
        "open",
        "place_hold",
        "place_hold",
        "release_hold",
        "release_hold",
    ]
    assert history[-1].effects == released.effects
    pending = {p.key for p in store.pending(account_id="A-1")}
    assert pending == {e.key for c in history for e in c.effects}
    assert (store.load("A-1").version, store.load("A-1").status_since) == (4, T0)


def test_a_status_change_in_a_store_follows_the_standing_holds(store: Any) -> None:
    """Firing on a held stored account plans the effects of effective capability, as
    ``fire`` on an object does: suspending a billing-held account stops no billing."""
    store.open("A-1", "active", at=T0, imported=True)
    store.place_hold("A-1", "manual", at=T0 + HOUR)
    acct = WF.open("A-1", "active", at=T0, imported=True)
    place_hold(WF, acct, "manual", at=T0 + HOUR)
    stored = store.fire("A-1", "suspend", at=T0 + DAY, actor=CLERK)
    plain = WF.fire(acct, "suspend", at=T0 + DAY, actor=CLERK)
    assert kinds(stored) == kinds(plain)
    assert "stop_billing" not in kinds(stored)
    assert [e.key for e in stored.effects] == [e.key for e in plain.effects]


def test_refused_hold_changes_in_a_store_change_nothing(store: Any) -> None:
    """An unknown hold type or hold, a missing permission, a stale version and a hold
    blocking changes are refused with nothing written."""
    store.open("A-1", "active", at=T0, imported=True)
    store.place_hold("A-1", "fraud", at=T0 + HOUR, actor=CLERK)
    before = (store.load("A-1"), store.holds("A-1"), store.history("A-1"), store.pending())
    with pytest.raises(UnknownHold, match="unknown hold type 'nope'"):
        store.place_hold("A-1", "nope", at=T0 + DAY)
    with pytest.raises(UnknownHold, match="unknown hold 'H9'"):
        store.release_hold("A-1", "H9", at=T0 + DAY)
    with pytest.raises(PermissionDenied):
        store.release_hold("A-1", "H1", at=T0 + DAY, actor=Actor("u-8"))
    with pytest.raises(ConcurrentChange):
        store.place_hold("A-1", "manual", at=T0 + DAY, expected_version=0)
    with pytest.raises(GuardRefused, match="hold:fraud"):
        store.fire("A-1", "suspend", at=T0 + DAY, actor=CLERK)
    after = (store.load("A-1"), store.holds("A-1"), store.history("A-1"), store.pending())
    assert after == before


def test_hold_rows_keep_every_placement_and_release(tmp_path: pathlib.Path) -> None:
    """The holds table keeps one row per hold: released rows stay with the version and
    instant of their release, and a released id may be placed again."""
    with make_store("sqlite", tmp_path) as store:
        store.open("A-1", "active", at=T0, imported=True)
        store.place_hold("A-1", "manual", at=T0 + HOUR, hold_id="X")
        store.release_hold("A-1", "X", at=T0 + 2 * HOUR)
        store.place_hold("A-1", "manual", at=T0 + 3 * HOUR, hold_id="X")
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    holds_table.c.hold_id,
                    holds_table.c.placed_version,
                    holds_table.c.released_version,
                    holds_table.c.released_at,
                ).order_by(holds_table.c.seq)
            ).all()
        assert [tuple(r) for r in rows] == [("X", 1, 2, T0 + 2 * HOUR), ("X", 3, None, None)]
        assert [h.id for h in store.holds("A-1")] == ["X"]


# -- the differential test: plain objects == MemoryStore == SqlStore ------------------

# The store never defaults the time zone or currency: both paths are given them.
FACTS = {"timezone": "UTC", "currency": "EUR"}
# What the guards read that a plain Account has and a store reads from the host's facts.
GUARDED = sorted(set(guard_inputs(WF)) - {"status_since"})
TRIGGERS = sorted({e.trigger for e in WF.transitions})
OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("place"),
            st.sampled_from([t.name for t in STANDARD_HOLDS]),
            st.sampled_from([None, 2, 30]),
        ),
        st.tuples(st.just("release"), st.integers(0, 5), st.none()),
        st.tuples(st.just("fire"), st.integers(0, 20), st.none()),
        st.tuples(st.just("fire"), st.sampled_from(TRIGGERS), st.none()),
    ),
    max_size=14,
)


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except AcctStateError as exc:
        return type(exc).__name__, None


def _plain_step(acct: Any, op: tuple[str, Any, Any], at: dt.datetime) -> tuple[str, Any]:
    what, arg, extra = op
    if what == "place":
        until = None if extra is None else at + extra * HOUR
        return _outcome(
            lambda: place_hold(WF, acct, arg, at=at, until=until, actor=CLERK, reason="r")
        )
    if what == "release":
        hid = acct.holds[arg % len(acct.holds)].id if acct.holds else "H99"
        return _outcome(lambda: release_hold(WF, acct, hid, at=at, actor=CLERK))
    return _outcome(lambda: WF.fire(acct, arg, at=at, actor=CLERK, **FACTS, **extra))


def _store_step(store: Any, op: tuple[str, Any, Any], at: dt.datetime) -> tuple[str, Any]:
    what, arg, extra = op
    if what == "place":
        until = None if extra is None else at + extra * HOUR
        return _outcome(
            lambda: store.place_hold("A-1", arg, at=at, until=until, actor=CLERK, reason="r")
        )
    if what == "release":
        standing = store.holds("A-1")
        hid = standing[arg % len(standing)].id if standing else "H99"
        return _outcome(lambda: store.release_hold("A-1", hid, at=at, actor=CLERK))
    return _outcome(lambda: store.fire("A-1", arg, at=at, actor=CLERK, **FACTS, **extra))


def _same(change: Any, other: Any) -> None:
    assert (change is None) == (other is None)
    if change is None:
        return
    assert str(change) == str(other)
    assert (change.trigger, change.reason, change.note, change.actor) == (
        other.trigger,
        other.reason,
        other.note,
        other.actor,
    )
    assert change.effects == other.effects


def _run_differential(stores: list[Any], ops: list[tuple[str, Any, Any]], status: str) -> None:
    acct = WF.open("A-1", status, at=T0, imported=True)
    for s in stores:
        s.open("A-1", status, at=T0, imported=True)
    for i, op in enumerate(ops, start=1):
        at = T0 + i * HOUR
        if op[0] == "fire" and isinstance(op[1], int):  # a trigger the account allows
            allowed = sorted(WF.allowed_triggers(acct)) or TRIGGERS
            op = ("fire", allowed[op[1] % len(allowed)], None)
        if op[0] == "fire":  # the facts the guards read, the same on every path
            facts = {n: getattr(acct, n, None) for n in GUARDED}
            op = ("fire", op[1], {k: v for k, v in facts.items() if v is not None})
        kind, plain = _plain_step(acct, op, at)
        for s in stores:
            got, change = _store_step(s, op, at)
            assert got == kind, (op, got, kind)
            _same(plain, change)
            assert s.holds("A-1") == tuple(utc(h) for h in acct.holds)
            assert s.load("A-1").status == acct.status
            cap = effective_capability(WF.catalog[s.load("A-1").status], s.holds("A-1"))
            assert cap == effective_capability(WF.status_of(acct), acct.holds)
    for s in stores:
        history = s.history("A-1")
        assert len(history) == len(acct.history)
        for a, b in zip(acct.history, history, strict=True):
            _same(a, b)
        assert s.load("A-1").version == len(acct.history) - 1


@settings(max_examples=25, deadline=None)
@given(ops=OPS, status=st.sampled_from(["active", "suspended", "active_non_billable"]))
def test_holds_on_objects_in_memory_and_in_sqlite_agree(
    ops: list[tuple[str, Any, Any]], status: str
) -> None:
    """For random placements, releases and status changes, plain objects, MemoryStore and
    SqlStore on SQLite give the same outcomes, effects, standing holds, effective
    capability and history."""
    with tempfile.TemporaryDirectory() as tmp, make_store("sqlite", pathlib.Path(tmp)) as sql:
        _run_differential([MemoryStore(WF), sql], ops, status)


@needs_pg
@settings(max_examples=8, deadline=None)
@given(ops=OPS)
def test_holds_on_objects_and_on_postgres_agree(ops: list[tuple[str, Any, Any]]) -> None:
    """The same differential on PostgreSQL."""
    with make_store("postgres", pathlib.Path(".")) as pg:
        _run_differential([pg], ops, "active")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_the_async_store_keeps_holds_as_the_sql_store_does(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """The async store's hold methods are the SQL store's: the same contract passes."""
    from test_store_async import adapted

    for check in (
        test_placing_and_releasing_in_a_store_records_changes_effects_and_rows,
        test_a_status_change_in_a_store_follows_the_standing_holds,
        test_refused_hold_changes_in_a_store_change_nothing,
        test_a_store_says_why_an_account_is_blocked,
    ):
        with adapted(kind, tmp_path, WF) as store:
            check(store)


@needs_pg
def test_every_query_on_the_holds_uses_an_index() -> None:
    """Placing, releasing, listing, firing on a held account and the nightly run read
    and write the holds table through an index (``EXPLAIN`` with sequential scans off,
    as the outbox and history are checked)."""
    from acctstate.automation import AutomationPolicy, CreditHold
    from test_store_schema import Recorder

    with pg_engine() as engine:
        store = SqlStore(WF, engine)
        store.create_schema()
        rec = Recorder()
        sa.event.listen(engine, "before_cursor_execute", rec)
        for i in range(3):
            store.open(f"A-{i}", "active", at=T0, imported=True)
        store.place_hold("A-0", "manual", at=T0 + HOUR, until=T0 + DAY)
        store.place_hold("A-1", "credit", at=T0 + HOUR)
        store.fire("A-0", "suspend", at=T0 + 2 * HOUR, actor=CLERK)
        store.release_hold("A-1", "H1", at=T0 + 3 * HOUR)
        store.holds("A-0")
        policy = AutomationPolicy(WF, credit_hold=CreditHold(past_due_days=5, hold="credit"))
        store.run_automation(policy, now=T0 + 2 * DAY)
        sa.event.remove(engine, "before_cursor_execute", rec)
        assert store.holds("A-0") == ()

        checked = 0
        scans: list[str] = []
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SET enable_seqscan = off")
            for statement, params in rec.seen:
                head = statement.lstrip().split(None, 1)[0].upper()
                if head not in ("SELECT", "UPDATE", "DELETE") or "acctstate_holds" not in statement:
                    continue
                cur.execute("EXPLAIN " + statement, params)
                plan = "\n".join(r[0] for r in cur.fetchall())
                checked += 1
                if "Seq Scan on acctstate_holds" in plan:
                    scans.append(f"{statement}\n{plan}")
            raw.rollback()
        finally:
            raw.close()
        assert checked >= 5
        assert scans == [], "\n\n".join(scans)


def test_a_store_says_why_an_account_is_blocked(store: Any) -> None:
    """``store.why_blocked`` names the status and every standing hold, as
    ``wf.why_blocked`` does on the same account as an object."""
    store.open("A-1", "active", at=T0, imported=True)
    store.place_hold("A-1", "manual", at=T0 + HOUR, reason="disputed", actor=CLERK)
    store.place_hold("A-1", "vacation", at=T0 + 2 * HOUR, until=T0 + DAY)
    acct = WF.open("A-1", "active", at=T0, imported=True)
    place_hold(WF, acct, "manual", at=T0 + HOUR, reason="disputed", actor=CLERK)
    place_hold(WF, acct, "vacation", at=T0 + 2 * HOUR, until=T0 + DAY)
    for capability in ("billing", "service", "changes"):
        assert str(store.why_blocked("A-1", capability)) == str(WF.why_blocked(acct, capability))
    assert [h.id for h in store.why_blocked("A-1", "billing").holds] == ["H1", "H2"]
    assert not store.why_blocked("A-1", "changes")


@settings(max_examples=15, deadline=None)
@given(
    types=st.lists(st.sampled_from([t.name for t in STANDARD_HOLDS]), min_size=1, max_size=5),
    data=st.data(),
)
def test_releasing_stored_holds_in_any_order_ends_in_the_same_state(
    types: list[str], data: st.DataObject
) -> None:
    """In a store too, releasing the same holds in any order ends with no hold, the
    status's own capability, and every stop in the outbox met by a start."""
    with tempfile.TemporaryDirectory() as tmp, make_store("sqlite", pathlib.Path(tmp)) as sql:
        ends = []
        for store in (MemoryStore(WF), sql):
            store.open("A-1", "active", at=T0, imported=True)
            for i, t in enumerate(types):
                store.place_hold("A-1", t, at=T0 + i * HOUR, actor=CLERK)
            order = data.draw(st.permutations([h.id for h in store.holds("A-1")]))
            for hid in order:
                store.release_hold("A-1", hid, at=T0 + DAY, actor=CLERK)
            kinds_ = [p.effect.kind for p in store.pending(account_id="A-1")]
            assert kinds_.count("stop_billing") == kinds_.count("start_billing")
            assert kinds_.count("deprovision") == kinds_.count("provision")
            status = WF.catalog[store.load("A-1").status]
            ends.append((store.holds("A-1"), effective_capability(status, store.holds("A-1"))))
        assert ends[0] == ends[1] == ((), effective_capability(WF.catalog["active"]))
