"""The store contract, run against every store: in memory, SQLite, and PostgreSQL.

PostgreSQL tests read the server URL from ``ACCTSTATE_PG_URL``; when it is unset or the
server is unreachable they are skipped and the run ends with a line saying so. Each
PostgreSQL test works in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

import acctstate
from acctstate.effects import Effect, Refund
from acctstate.errors import (
    ConcurrentChange,
    GuardRefused,
    IllegalTransition,
    InvalidArgument,
)
from acctstate.graph import Transition
from acctstate.guards import guard
from acctstate.history import ScheduledChange, ScheduleState
from acctstate.presets import isp
from acctstate.store import Store, StoredAccount
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore, create_engine, metadata

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
SEC = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)
PG_ENV = "ACCTSTATE_PG_URL"


def pg_status() -> tuple[str | None, str]:
    """``(url, "")`` when the PostgreSQL server answers, else ``(None, why not)``."""
    url = os.environ.get(PG_ENV)
    if not url:
        return None, f"{PG_ENV} is not set"
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        return None, f"cannot connect to {url}: {type(exc).__name__}: {exc}".splitlines()[0]
    return url, ""


PG_URL, PG_WHY = pg_status()
if PG_URL is None and os.environ.get("ACCTSTATE_PG_REQUIRED"):
    # CI (.ci/run) insists on PostgreSQL: fail loudly rather than skip.
    pytest.fail(f"ACCTSTATE_PG_REQUIRED is set but {PG_WHY}", pytrace=False)
needs_pg = pytest.mark.skipif(PG_URL is None, reason=f"PostgreSQL tests were NOT run: {PG_WHY}")


class _PgNotice:
    """Ends the run with a plain line when PostgreSQL tests were skipped."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(
            f"PostgreSQL tests were NOT run: {PG_WHY} (set {PG_ENV} to run them)",
            yellow=True,
            bold=True,
        )


@pytest.fixture(autouse=True, scope="module")
def _announce_missing_pg(request: pytest.FixtureRequest) -> None:
    """Register the end-of-run notice once when the server is missing."""
    manager = request.config.pluginmanager
    if PG_URL is None and not manager.has_plugin("acctstate-pg-notice"):
        manager.register(_PgNotice(), "acctstate-pg-notice")


@contextlib.contextmanager
def pg_engine() -> Iterator[sa.Engine]:
    """An engine whose tables live in a fresh PostgreSQL schema, dropped afterwards."""
    assert PG_URL is not None
    schema = f"acctstate_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(PG_URL).execution_options(schema_translate_map={None: schema})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@attrs.frozen
class RefundRule:
    """Refunds ``refund`` (event data) or a fixed amount, in euros."""

    amount: Decimal

    @property
    def name(self) -> str:
        return "test_refund"

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"amount": self.amount}

    def __call__(self, ctx: Any, source: Any, dest: Any) -> list[Refund]:
        amount = ctx.value("refund", self.amount)
        return [Refund(amount=amount, currency="EUR", description="unused days")]


@attrs.frozen
class PortOut(Effect):
    """A host-defined effect: hand the number over to another carrier."""

    number: str = ""
    when: dt.datetime | None = None
    tags: Any = ()
    kind: str = attrs.field(init=False, default="port_out")


@attrs.frozen
class PortRule:
    """Ports the number out when an active account is terminated."""

    @property
    def name(self) -> str:
        return "test_port_out"

    @property
    def kwargs(self) -> dict[str, Any]:
        return {}

    def __call__(self, ctx: Any, source: Any, dest: Any) -> list[PortOut]:
        return [PortOut(number=ctx.value("number", ""), when=ctx.at, tags=ctx.value("tags", ()))]


def workflow() -> acctstate.Workflow:
    """The ISP workflow with a fixed clock, a refund on cancelling an active account and a
    port-out on terminating one."""
    base = isp.workflow()
    return base.extend(
        remove=[("cancel", "active"), ("terminate", "active")],
        transitions=[
            Transition("cancel", "active", "canceled", effects=[RefundRule(Decimal("12.34"))]),
            Transition("terminate", "active", "terminated", effects=[PortRule()]),
        ],
    ).with_clock(acctstate.FixedClock(T0 + 365 * DAY))


WF = workflow()


@contextlib.contextmanager
def make_store(kind: str, tmp: pathlib.Path, wf: acctstate.Workflow = WF) -> Iterator[Any]:
    """A fresh, empty store of ``kind``."""
    if kind == "memory":
        yield MemoryStore(wf)
    elif kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp / f'store-{uuid.uuid4().hex[:6]}.db'}")
        store = SqlStore(wf, engine)
        store.create_schema()
        yield store
        engine.dispose()
    else:
        with pg_engine() as engine:
            store = SqlStore(wf, engine)
            store.create_schema()
            yield store


KINDS = ["memory", "sqlite", pytest.param("postgres", marks=needs_pg)]


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    """Each store in turn, empty, on the test workflow."""
    with make_store(request.param, tmp_path) as s:
        yield s


class Recorder:
    """Host hooks that record each call and can fail chosen keys once."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[tuple[str, acctstate.StatusChange]] = []
        self.fail = set() if fail is None else fail

    def _run(self, effect: Any, change: acctstate.StatusChange) -> None:
        if effect.key in self.fail:
            self.fail.discard(effect.key)
            raise RuntimeError("switch unreachable")
        self.calls.append((effect.key, change))

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = _run

    @property
    def keys(self) -> list[str]:
        return [k for k, _ in self.calls]

    def hooks(self) -> acctstate.Hooks:
        return acctstate.Hooks(billing=self, provisioning=self, refunds=self, notices=self)


def active(store: Any, account_id: str, at: dt.datetime = T0) -> None:
    """Open ``account_id`` directly as active (an imported account)."""
    store.open(account_id, "active", at=at, imported=True)


def snapshot(store: Any, account_id: str) -> tuple[Any, ...]:
    """Everything the store holds about one account."""
    return (
        store.load(account_id),
        list(store.history(account_id)),
        store.pending(account_id=account_id),
    )


# -- basics ---------------------------------------------------------------------------


def test_every_store_satisfies_the_protocol(store: Any) -> None:
    """Both implementations are `Store`s."""
    assert isinstance(store, Store)


def test_open_starts_at_version_zero_with_an_opening_entry(store: Any) -> None:
    """Opening records the account at version 0 and one `open` history entry."""
    got = store.open("A-1", "prospect", at=T0, note="web")
    assert (got.id, got.status, got.version) == ("A-1", 30, 0)
    assert store.load("A-1") == got
    (opening,) = store.history("A-1")
    assert (opening.trigger, opening.dest.name, opening.note) == ("open", "prospect", "web")


def test_open_refuses_a_taken_id_or_a_non_initial_status(store: Any) -> None:
    """A second open of the same id, or an open in a non-initial status, changes nothing."""
    store.open("A-1", "prospect", at=T0)
    before = snapshot(store, "A-1")
    with pytest.raises(InvalidArgument, match="expected an id not yet in the store"):
        store.open("A-1", "prospect", at=T0)
    with pytest.raises(InvalidArgument, match="or imported=True"):
        store.open("A-2", "active", at=T0)
    assert snapshot(store, "A-1") == before
    with pytest.raises(InvalidArgument, match="expected the id of an account in the store"):
        store.load("A-2")


def test_history_round_trips_exactly_as_the_workflow_records_it(store: Any) -> None:
    """A stored history equals the one `Workflow.fire` builds on a plain account: statuses,
    actors, reasons, notes, effects and their Decimal amounts and keys."""
    clerk = acctstate.Actor("u-7", permissions={"edit_account_status"})
    plain = WF.open("A-1", "active", at=T0, imported=True)
    active(store, "A-1")
    steps: list[tuple[str, dict[str, Any]]] = [
        ("deactivate", {"actor": clerk, "note": "holiday"}),
        ("reactivate", {"actor": acctstate.SYSTEM}),
        ("cancel", {"refund": Decimal("7.05"), "reason": None}),
    ]
    for n, (trigger, kwargs) in enumerate(steps):
        at = T0 + (n + 1) * DAY
        expected = WF.fire(plain, trigger, at=at, **kwargs)
        assert store.fire("A-1", trigger, at=at, **kwargs) == expected
    assert list(store.history("A-1"))[1:] == list(plain.history)[1:]
    refund = store.history("A-1")[-1].effects[-1]
    assert (refund.amount, refund.currency) == (Decimal("7.05"), "EUR")
    assert store.load("A-1") == StoredAccount("A-1", -2, T0 + 3 * DAY, 3)


def test_instants_come_back_in_utc(store: Any) -> None:
    """An effective time given in another zone is stored and returned as the same instant, in UTC."""
    active(store, "A-1")
    plus2 = dt.timezone(dt.timedelta(hours=2))
    at = dt.datetime(2026, 1, 6, 11, 0, tzinfo=plus2)
    store.fire("A-1", "deactivate", at=at)
    got = store.load("A-1").status_since
    assert got == at and got.tzinfo == dt.UTC


def test_host_defined_effects_round_trip(store: Any) -> None:
    """An effect class the host defines comes back from the store with its fields intact."""
    active(store, "A-1")
    at = T0 + DAY
    tags = ("vip", (1, Decimal("2.50")))
    change = store.fire("A-1", "terminate", at=at, number="+15550100", tags=tags)
    (port,) = store.history("A-1")[-1].effects[-1:]
    assert port == change.effects[-1]
    assert port == PortOut(key=port.key, number="+15550100", when=at, tags=tags)
    assert store.pending()[-1].effect == port


def test_sql_refuses_an_effect_it_cannot_store_exactly(tmp_path: pathlib.Path) -> None:
    """An effect field the SQL store cannot keep exactly is refused before anything is
    written."""
    with make_store("sqlite", tmp_path) as store:
        active(store, "A-1")
        before = snapshot(store, "A-1")
        with pytest.raises(InvalidArgument, match=r"invalid PortOut\.tags: got \['x'\]"):
            store.fire("A-1", "terminate", at=T0 + DAY, tags=["x"])
        assert snapshot(store, "A-1") == before


# -- refusals change nothing ------------------------------------------------------------


def test_illegal_and_guarded_triggers_change_nothing(store: Any) -> None:
    """Refusals raise the workflow's errors; status, version, history and outbox stay."""
    store.open("A-1", "inactive", at=T0, imported=True)
    store.open("B-1", "active_dunning_pending", at=T0, imported=True)
    before = snapshot(store, "A-1"), snapshot(store, "B-1")
    with pytest.raises(IllegalTransition, match="cannot fire 'suspend' on account 'A-1'"):
        store.fire("A-1", "suspend", at=T0 + DAY)
    with pytest.raises(GuardRefused, match=r"balance 5\.00 is still owed"):
        store.fire("B-1", "settle", at=T0 + DAY, balance=Decimal("5.00"))
    with pytest.raises(acctstate.UnknownTrigger, match="unknown trigger 'bogus'"):
        store.fire("A-1", "bogus", at=T0 + DAY)
    with pytest.raises(acctstate.HistoryConflict, match="back-dated"):
        store.fire("A-1", "reactivate", at=T0 - DAY)
    assert (snapshot(store, "A-1"), snapshot(store, "B-1")) == before


def test_a_stale_expected_version_is_a_concurrent_change(store: Any) -> None:
    """Two workers read version 0; the first wins, the second gets `ConcurrentChange` with
    both versions, and the account holds exactly the winner's change."""
    active(store, "A-1")
    seen = store.load("A-1")
    store.fire("A-1", "deactivate", at=T0 + SEC, expected_version=seen.version)
    after_win = snapshot(store, "A-1")
    with pytest.raises(ConcurrentChange, match="expected version 0, found 1") as info:
        store.fire("A-1", "deactivate", at=T0 + SEC, expected_version=seen.version)
    assert (info.value.expected_version, info.value.actual_version) == (0, 1)
    assert snapshot(store, "A-1") == after_win


def test_bad_arguments_are_refused(store: Any) -> None:
    """Naive times, negative retries, and retries with an expected version are refused."""
    active(store, "A-1")
    before = snapshot(store, "A-1")
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        store.fire("A-1", "deactivate", at=dt.datetime(2026, 2, 1))
    with pytest.raises(InvalidArgument, match="invalid retries: got -1"):
        store.fire("A-1", "deactivate", at=T0 + DAY, retries=-1)
    with pytest.raises(InvalidArgument, match="0 when expected_version is given"):
        store.fire("A-1", "deactivate", at=T0 + DAY, retries=2, expected_version=0)
    with pytest.raises(InvalidArgument, match="the id of an account in the store"):
        store.fire("Z-9", "deactivate", at=T0 + DAY)
    assert snapshot(store, "A-1") == before


def test_refiring_an_identical_change_is_refused_not_doubled(store: Any) -> None:
    """Toggling back and forth at one instant would repeat an effect key: the repeat is
    refused and nothing is recorded, so no effect can run twice."""
    active(store, "A-1")
    store.fire("A-1", "deactivate", at=T0 + SEC)
    store.fire("A-1", "reactivate", at=T0 + SEC)
    before = snapshot(store, "A-1")
    with pytest.raises(InvalidArgument, match="already in the outbox"):
        store.fire("A-1", "deactivate", at=T0 + SEC)
    assert snapshot(store, "A-1") == before


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=needs_pg)])
def test_losing_a_race_raises_or_retries_against_the_new_state(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """A writer that plans while another commits loses the compare-and-set: without retries
    it gets `ConcurrentChange`; with `retries=1` it re-plans on the new state and wins.
    (SQLite takes its write lock first, so there the race cannot happen.)"""
    raced: list[int] = []
    holder: list[Any] = []

    def racing(ctx: acctstate.GuardContext) -> str | None:
        if len(raced) < 1:  # another worker bans and un-bans the account meanwhile
            raced.append(1)
            holder[0].fire("A-1", "ban", at=ctx.at)
            holder[0].fire("A-1", "lift_ban", at=ctx.at)
        return None

    wf = WF.extend(
        remove=[("deactivate", "active")],
        transitions=[
            Transition("deactivate", "active", "inactive", guards=[guard("racing", racing)])
        ],
    )
    with make_store(kind, tmp_path, wf) as store:
        holder.append(store)
        active(store, "A-1")
        with pytest.raises(ConcurrentChange, match="expected version 0, found 2"):
            store.fire("A-1", "deactivate", at=T0 + SEC)
        assert [c.trigger for c in store.history("A-1")] == ["open", "ban", "lift_ban"]
        raced.clear()
        store.fire("A-1", "deactivate", at=T0 + 2 * SEC, retries=1)
        assert [c.trigger for c in store.history("A-1")][-3:] == ["ban", "lift_ban", "deactivate"]
        assert store.load("A-1").version == 5


# -- the outbox -------------------------------------------------------------------------


def test_effects_wait_in_the_outbox_until_delivered_once_in_order(store: Any) -> None:
    """Firing queues the effects; `deliver` runs each once, in planning order per account,
    with the change that implied it, and a second `deliver` finds nothing."""
    active(store, "A-1")
    active(store, "B-1")
    made = [
        store.fire("A-1", "deactivate", at=T0 + SEC),
        store.fire("B-1", "ban", at=T0 + SEC),
        store.fire("A-1", "reactivate", at=T0 + 2 * SEC),
    ]
    queued = [e.key for c in made for e in c.effects]
    assert [p.key for p in store.pending()] == queued
    rec = Recorder()
    report = store.deliver(rec.hooks())
    assert report.ok and list(report.delivered) == rec.keys
    assert sorted(rec.keys) == sorted(queued)
    for account in ("A-1", "B-1"):
        mine = [k for k in queued if k.startswith(account)]
        assert [k for k in rec.keys if k.startswith(account)] == mine
    by_key = {e.key: c for c in made for e in c.effects}
    assert all(change == by_key[key] for key, change in rec.calls)
    assert store.pending() == ()
    assert len(store.deliver(rec.hooks())) == 0 and len(rec.calls) == len(queued)


def test_a_failing_hook_keeps_its_effect_and_holds_back_that_account_only(store: Any) -> None:
    """A hook that raises leaves its effect pending (attempts and error recorded); the same
    account's later effects wait, other accounts' run; the next delivery completes it."""
    active(store, "A-1")
    active(store, "B-1")
    first = store.fire("A-1", "deactivate", at=T0 + SEC).effects
    store.fire("B-1", "ban", at=T0 + SEC)
    rec = Recorder(fail={first[1].key})
    report = store.deliver(rec.hooks())
    assert report.failed == ((first[1].key, "RuntimeError: switch unreachable"),)
    assert first[0].key in rec.keys and first[2].key not in rec.keys
    assert any(k.startswith("B-1") for k in rec.keys)
    (stuck, waiting) = store.pending()
    assert (stuck.key, stuck.attempts, stuck.last_error) == (
        first[1].key,
        1,
        "RuntimeError: switch unreachable",
    )
    assert waiting.key == first[2].key
    assert store.deliver(rec.hooks()).delivered == (first[1].key, first[2].key)
    assert store.pending() == ()


def test_effects_without_a_hook_fail_unless_skipped(store: Any) -> None:
    """An effect no hook handles is not silently dropped: it fails, or is marked done
    without running only when `skip_unhandled=True`."""
    active(store, "A-1")
    change = store.fire("A-1", "ban", at=T0 + SEC)
    rec = Recorder()
    billing_only = acctstate.Hooks(billing=rec)
    stop_usage, deprovision = (e.key for e in change.effects)
    report = store.deliver(billing_only)
    assert report.delivered == (stop_usage,)
    assert report.failed == ((deprovision, "no hook handles 'deprovision' effects"),)
    assert store.deliver(billing_only, skip_unhandled=True).skipped == (deprovision,)
    assert store.pending() == () and rec.keys == [stop_usage]


def test_deliver_needs_hooks_and_honours_limit_and_account(store: Any) -> None:
    """`deliver` refuses to run without hooks, stops at `limit`, and can serve one account."""
    active(store, "A-1")
    active(store, "B-1")
    store.fire("A-1", "deactivate", at=T0 + SEC)
    store.fire("B-1", "deactivate", at=T0 + SEC)
    with pytest.raises(InvalidArgument, match=r"an acctstate\.Hooks"):
        store.deliver()
    rec = Recorder()
    assert len(store.deliver(rec.hooks(), limit=2)) == 2
    assert len(store.deliver(rec.hooks(), account_id="B-1")) == 3
    assert [p.account_id for p in store.pending()] == ["A-1"]


# -- scheduled changes ------------------------------------------------------------------


def test_due_changes_apply_in_chunks_once_each(store: Any) -> None:
    """`apply_due` applies what is due in time order, `chunk` at a time; scheduling the same
    change twice is a no-op; running again applies nothing twice; future ones wait."""
    for i in range(5):
        active(store, f"A-{i}")
        store.schedule(f"A-{i}", "deactivate", at=T0 + (5 - i) * DAY, note="by date")
    store.schedule("A-0", "deactivate", at=T0 + 5 * DAY, note="by date")
    store.schedule("A-0", "reactivate", at=T0 + 30 * DAY)
    now = T0 + 10 * DAY
    first = store.apply_due(at=now, chunk=2, max_chunks=1)
    assert (first.applied, first.chunks, first.more) == (
        ("A-4/deactivate/2026-01-06T09:00:00+00:00", "A-3/deactivate/2026-01-07T09:00:00+00:00"),
        1,
        True,
    )
    rest = store.apply_due(at=now, chunk=2)
    assert (len(rest.applied), rest.chunks, rest.more) == (3, 2, False)
    assert store.apply_due(at=now).applied == ()
    assert all(store.load(f"A-{i}").version == 1 for i in range(5))
    assert store.history("A-2")[-1].note == "by date"
    assert [r.state for r in store.scheduled(account_id="A-0")] == ["applied", "pending"]
    assert store.scheduled(state="applied")[0].version == 1


def test_scheduled_changes_keep_their_data_and_accept_schedule_values(store: Any) -> None:
    """Event data given when scheduling reaches the guards when applied; a `ScheduledChange`
    value is stored under its id; changes without an actor are made by the system."""
    store.open("A-1", "active_dunning_pending", at=T0, imported=True)
    store.open("A-2", "active", at=T0, imported=True)
    store.schedule("A-1", "settle", at=T0 + DAY, balance=Decimal("0.00"))
    entry = ScheduledChange("S-9", "A-2", "deactivate", T0 + DAY, note="holiday")
    assert store.schedule_change(entry).id == "S-9"
    assert store.scheduled(account_id="A-1")[0].data == (("balance", Decimal("0.00")),)
    run = store.apply_due(at=T0 + DAY)
    assert sorted(run.applied) == ["A-1/settle/2026-01-06T09:00:00+00:00", "S-9"]
    assert store.load("A-1").status == 1
    assert store.history("A-2")[-1].note == "holiday" and store.history("A-2")[-1].automatic
    with pytest.raises(InvalidArgument, match="a pending acctstate ScheduledChange"):
        store.schedule_change(entry.settle(ScheduleState.WITHDRAWN, at=T0))


def test_a_refused_scheduled_change_is_marked_failed_with_its_reason(store: Any) -> None:
    """A due change the workflow refuses is kept, marked failed with the error, and the
    account is untouched."""
    store.open("A-1", "inactive", at=T0, imported=True)
    before = snapshot(store, "A-1")
    store.schedule("A-1", "suspend", at=T0 + DAY, id="S-1")
    run = store.apply_due(at=T0 + 2 * DAY)
    assert run.applied == () and run.failed[0][0] == "S-1"
    (record,) = store.scheduled(state="failed")
    assert record.error is not None and record.error.startswith("IllegalTransition: cannot fire")
    assert snapshot(store, "A-1") == before
    with pytest.raises(InvalidArgument, match="one of pending, applied, failed"):
        store.scheduled(state="done")


def test_an_interrupted_schedule_run_resumes_without_doubles(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that dies half-way leaves the applied ones applied and the rest pending; the
    next run finishes the job, applying nothing twice."""
    for i in range(4):
        active(store, f"A-{i}")
        store.schedule(f"A-{i}", "deactivate", at=T0 + DAY)
    real = type(store)._apply_scheduled
    calls: list[str] = []

    def dies_on_third(self: Any, record: Any) -> Any:
        if len(calls) == 2:
            raise KeyboardInterrupt("worker killed")
        calls.append(record.id)
        return real(self, record)

    monkeypatch.setattr(type(store), "_apply_scheduled", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        store.apply_due(at=T0 + DAY, chunk=10)
    monkeypatch.undo()
    assert len(store.scheduled(state="applied")) == 2
    assert len(store.apply_due(at=T0 + DAY).applied) == 2
    assert [store.load(f"A-{i}").version for i in range(4)] == [1, 1, 1, 1]


# -- sweeps ---------------------------------------------------------------------------


def test_a_sweep_runs_in_chunks_and_resumes_from_its_cursor(store: Any) -> None:
    """A sweep stops after `max_chunks` with a cursor, resumes from it, and running it again
    changes nothing because the rule looks at the current status."""
    for i in range(5):
        active(store, f"A-{i}")
    store.open("P-1", "prospect", at=T0)

    def rule(a: StoredAccount) -> str | None:
        return "deactivate" if a.status == 1 else None

    first = store.sweep(rule, at=T0 + DAY, chunk=2, max_chunks=1, actor=acctstate.SYSTEM)
    assert (len(first.changes), first.examined, first.cursor) == (2, 2, "A-1")
    rest = store.sweep(rule, at=T0 + DAY, chunk=2, after=first.cursor, actor=acctstate.SYSTEM)
    assert (len(rest.changes), rest.examined, rest.cursor) == (3, 4, None)
    assert store.sweep(rule, at=T0 + DAY).changes == ()
    assert {a.status for a in store.accounts(statuses=["inactive"])} == {0}
    assert len(store.accounts(statuses=["inactive"])) == 5
    assert store.history("A-3")[-1].automatic


def test_a_sweep_reports_refusals_and_goes_on(store: Any) -> None:
    """A refused change in a sweep is reported with its reason; the other accounts go on."""
    for i in range(3):
        active(store, f"A-{i}")
    run = store.sweep(
        lambda a: "reactivate" if a.id == "A-1" else "bogus_or_not" if a.id == "A-0" else "ban",
        at=T0 + DAY,
        statuses=["active"],
    )
    assert [c.account_id for c in run.changes] == ["A-2"]
    assert [f[0] for f in run.failed] == ["A-0", "A-1"]
    assert run.failed[0][1].startswith("UnknownTrigger")
    assert run.failed[1][1].startswith("IllegalTransition: cannot fire 'reactivate'")
    assert snapshot(store, "A-1")[0].version == 0


# -- SQL specifics --------------------------------------------------------------------


def test_sql_schema_is_plain_metadata(tmp_path: pathlib.Path) -> None:
    """The tables are on one public `MetaData` (for Alembic) with the documented names and
    the unique idempotency key."""
    assert sorted(metadata.tables) == [
        "acctstate_accounts",
        "acctstate_history",
        "acctstate_holds",
        "acctstate_outbox",
        "acctstate_scheduled",
    ]
    assert metadata.tables["acctstate_outbox"].c.key.unique
    engine = create_engine(f"sqlite:///{tmp_path / 's.db'}")
    SqlStore(WF, engine).create_schema()
    assert sorted(sa.inspect(engine).get_table_names()) == sorted(metadata.tables)
    engine.dispose()


def test_sql_fire_can_join_the_callers_transaction(tmp_path: pathlib.Path) -> None:
    """With `connection=`, the change commits or rolls back with the host's own writes."""
    engine = create_engine(f"sqlite:///{tmp_path / 's.db'}")
    store = SqlStore(WF, engine)
    store.create_schema()
    active(store, "A-1")
    with engine.connect() as conn:
        store.fire("A-1", "deactivate", at=T0 + SEC, connection=conn)
        assert store.load("A-1", connection=conn).version == 1
        conn.rollback()
    assert store.load("A-1").version == 0 and store.pending() == ()
    with engine.begin() as conn:
        store.fire("A-1", "deactivate", at=T0 + SEC, connection=conn)
    assert store.load("A-1").version == 1
    with pytest.raises(InvalidArgument, match="0 when a connection is given"):
        store.fire("A-1", "reactivate", at=T0 + 2 * SEC, connection=engine.connect(), retries=1)
    engine.dispose()


def test_sql_store_refuses_a_non_engine() -> None:
    """The SQL store needs an SQLAlchemy engine."""
    with pytest.raises(InvalidArgument, match=r"an sqlalchemy\.Engine"):
        SqlStore(WF, "sqlite://")  # type: ignore[arg-type]


# -- property: the store agrees with the workflow ---------------------------------------

_TOGGLES = ["deactivate", "reactivate", "ban", "lift_ban", "suspend", "cancel", "open_move"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@given(steps=st.lists(st.tuples(st.sampled_from(_TOGGLES), st.integers(1, 3)), max_size=12))
def test_store_and_plain_account_agree(kind: str, steps: list[tuple[str, int]]) -> None:
    """Any sequence of triggers gives the same status, history and refusals through a store
    as through `Workflow.fire` on a plain account; the version counts the changes."""
    with contextlib.ExitStack() as stack:
        if kind == "memory":
            store: Any = MemoryStore(WF)
        else:
            engine = create_engine("sqlite://")
            stack.callback(engine.dispose)
            store = SqlStore(WF, engine)
            store.create_schema()
        plain = WF.open("A-1", "active", at=T0, imported=True)
        active(store, "A-1")
        at = T0
        for trigger, gap in steps:
            at = at + gap * DAY
            try:
                expected = WF.fire(plain, trigger, at=at)
            except acctstate.AcctStateError as exc:
                with pytest.raises(type(exc)):
                    store.fire("A-1", trigger, at=at)
                continue
            assert store.fire("A-1", trigger, at=at) == expected
        assert list(store.history("A-1"))[1:] == list(plain.history)[1:]
        assert store.load("A-1").version == len(plain.history) - 1
        assert store.load("A-1").status == plain.status
