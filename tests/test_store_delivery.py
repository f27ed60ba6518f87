"""Delivery that never blocks, retries that back off, dead letters and pruning, on every
store (memory, SQLite file, PostgreSQL in a schema of its own per test).

``deliver`` claims an effect in a short transaction and runs its hook outside any, so a
hook writing to the same database never waits on its deliverer; ``transactional=True``
runs the hook inside the transaction that marks the effect done (exactly once for
database writes). ``limit`` counts attempts; a failed effect is retried at the next
call, then backs off exponentially (capped); after ``max_attempts`` it is a dead letter
that holds back its own account only, until an operator retries or skips it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import acctstate
from acctstate.errors import InvalidArgument
from acctstate.presets import isp
from acctstate.store import Delivery
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore, create_engine, metadata
from test_store_sql import needs_pg, pg_engine

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
SEC = dt.timedelta(seconds=1)
outbox = metadata.tables["acctstate_outbox"]
KINDS = ["memory", "sqlite", pytest.param("postgres", marks=needs_pg)]


@contextlib.contextmanager
def make_store(kind: str, tmp: pathlib.Path) -> Iterator[tuple[Any, acctstate.FixedClock]]:
    """A fresh store of ``kind`` on the ISP workflow with a clock the test moves."""
    clock = acctstate.FixedClock(T0 + dt.timedelta(days=1))
    wf = isp.workflow().with_clock(clock)
    if kind == "memory":
        yield MemoryStore(wf), clock
    elif kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp / f'd-{uuid.uuid4().hex[:6]}.db'}")
        store = SqlStore(wf, engine)
        store.create_schema()
        yield store, clock
        engine.dispose()
    else:
        with pg_engine() as engine:
            store = SqlStore(wf, engine)
            store.create_schema()
            yield store, clock


@pytest.fixture(params=KINDS)
def store_clock(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[tuple[Any, acctstate.FixedClock]]:
    """Each store in turn, empty, with its clock."""
    with make_store(request.param, tmp_path) as sc:
        yield sc


class Hooks:
    """Host hooks that record what ran and fail the keys in ``failing`` (every time)."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.ran: list[str] = []
        self.failing = set() if failing is None else failing

    def _run(self, effect: Any, change: acctstate.StatusChange) -> None:
        if effect.key in self.failing:
            raise RuntimeError("billing system down")
        self.ran.append(effect.key)

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = _run

    def hooks(self) -> acctstate.Hooks:
        return acctstate.Hooks.from_object(self)


def ban(store: Any, account_id: str) -> tuple[str, str]:
    """Open an active account and ban it: two effects (stop usage billing, deprovision)."""
    store.open(account_id, "active", at=T0, imported=True)
    change = store.fire(account_id, "ban", at=T0 + SEC)
    first, second = (e.key for e in change.effects)
    return first, second


def test_every_store_keeps_dead_letters(store_clock: Any) -> None:
    """Every store is a `DeadLetterStore` (back-off, dead letters, prune): memory, SQL,
    and the Django store, which runs this module's tests too."""
    from acctstate.store import DeadLetterStore, Store

    store, _ = store_clock
    assert isinstance(store, DeadLetterStore) and isinstance(store, Store)


# -- attempts and backoff -------------------------------------------------------------


def test_limit_counts_attempts_not_successes(store_clock: Any) -> None:
    """With every account's first effect failing, `deliver(limit=1)` tries one effect and
    stops; it does not walk every account."""
    store, _ = store_clock
    firsts = [ban(store, f"A-{i}")[0] for i in range(5)]
    hooks = Hooks(set(firsts))
    report = store.deliver(hooks.hooks(), limit=1)
    assert report.attempts == 1 and len(report.failed) == 1 and hooks.ran == []
    assert report.failed[0][0] == firsts[0]
    assert sum(p.attempts for p in store.pending()) == 1


def test_a_failing_effect_backs_off_exponentially_up_to_a_cap(store_clock: Any) -> None:
    """The first retry comes at the next call; then the effect waits `backoff`, doubling,
    capped at `max_backoff`, and a call before then does not try it."""
    store, clock = store_clock
    first, _ = ban(store, "A-1")
    hooks = Hooks({first})
    kw = {"backoff": 10 * SEC, "max_backoff": 25 * SEC, "max_attempts": 99}
    waits = []
    for _ in range(5):
        report = store.deliver(hooks.hooks(), **kw)
        assert [k for k, _ in report.failed] == [first]
        (p,) = [p for p in store.pending() if p.key == first]
        wait = None if p.next_attempt_at is None else p.next_attempt_at - clock.now()
        waits.append(wait)
        if wait is not None:
            assert store.deliver(hooks.hooks(), **kw) == Delivery()  # too early: not tried
            clock.advance(wait)
    assert waits == [None, 10 * SEC, 20 * SEC, 25 * SEC, 25 * SEC]
    hooks.failing.clear()
    assert len(store.deliver(hooks.hooks(), **kw).delivered) == 2
    assert store.pending() == ()


def test_retry_settings_are_checked(store_clock: Any) -> None:
    """Bad retry settings are refused before anything runs."""
    store, _ = store_clock
    ban(store, "A-1")
    hooks = Hooks()
    with pytest.raises(InvalidArgument, match="max_attempts"):
        store.deliver(hooks.hooks(), max_attempts=0)
    with pytest.raises(InvalidArgument, match=r"a positive datetime\.timedelta"):
        store.deliver(hooks.hooks(), backoff=dt.timedelta(0))
    with pytest.raises(InvalidArgument, match=r"at least backoff"):
        store.deliver(hooks.hooks(), backoff=60 * SEC, max_backoff=SEC)
    assert hooks.ran == [] and len(store.pending()) == 2


# -- dead letters ---------------------------------------------------------------------


def test_dead_letters_hold_back_their_own_account_only(store_clock: Any) -> None:
    """After `max_attempts` failed tries an effect is a dead letter: it is listed, its
    account's later effects wait, and other accounts' effects run."""
    store, _ = store_clock
    a_first, a_second = ban(store, "A-1")
    b_first, b_second = ban(store, "B-1")
    hooks = Hooks({a_first})
    one = store.deliver(hooks.hooks(), max_attempts=2)
    assert one.dead == () and hooks.ran == [b_first, b_second]
    two = store.deliver(hooks.hooks(), max_attempts=2)
    assert two.failed == ((a_first, "RuntimeError: billing system down"),)
    assert two.dead == (a_first,)
    (dead,) = store.dead_letters()
    assert (dead.key, dead.state, dead.attempts) == (a_first, "dead", 2)
    assert [p.key for p in store.pending()] == [a_first, a_second]
    hooks.failing.clear()
    assert store.deliver(hooks.hooks(), max_attempts=2) == Delivery()  # nothing moves
    assert store.dead_letters(account_id="B-1") == ()


def test_an_operator_retries_or_skips_a_dead_letter_with_a_recorded_reason(
    store_clock: Any,
) -> None:
    """`retry_dead` sends a dead letter back to the queue with its attempts reset;
    `skip_dead` marks it done unrun and lets the account's later effects go; both record
    the reason and who decided."""
    store, clock = store_clock
    a_first, a_second = ban(store, "A-1")
    b_first, b_second = ban(store, "B-1")
    hooks = Hooks({a_first, b_first})
    store.deliver(hooks.hooks(), max_attempts=1)
    assert [p.key for p in store.dead_letters()] == [a_first, b_first]
    clock.advance(seconds=60)
    ops = acctstate.Actor("ops-7", kind=acctstate.ActorKind.PERSON)
    back = store.retry_dead(a_first, reason="switch repaired", actor=ops)
    assert back.key == a_first and back.state == "dead"  # as it was
    gone = store.skip_dead(b_first, reason="refunded by hand (ticket 88)")
    assert gone.key == b_first
    hooks.failing.clear()
    report = store.deliver(hooks.hooks(), max_attempts=1)
    assert report.delivered == (a_first, a_second, b_second) and store.pending() == ()
    log = [(a.key, a.action, a.reason, a.actor_id) for a in store.dead_letter_log()]
    assert log == [
        (a_first, "dead", "RuntimeError: billing system down", None),
        (b_first, "dead", "RuntimeError: billing system down", None),
        (a_first, "retry", "switch repaired", "ops-7"),
        (b_first, "skip", "refunded by hand (ticket 88)", None),
    ]
    assert [a.at for a in store.dead_letter_log(account_id="B-1")] == [
        T0 + dt.timedelta(days=1),
        T0 + dt.timedelta(days=1, seconds=60),
    ]


def test_operator_actions_refuse_what_is_not_a_dead_letter(store_clock: Any) -> None:
    """Retrying or skipping a key that is not a dead letter, or without a reason, is
    refused and changes nothing."""
    store, _ = store_clock
    first, _ = ban(store, "A-1")
    before = store.pending()
    with pytest.raises(InvalidArgument, match=r"the key of a dead letter \(see dead_letters"):
        store.retry_dead(first, reason="why not")
    with pytest.raises(InvalidArgument, match=r"the key of a dead letter"):
        store.skip_dead("no-such-key", reason="typo")
    store.deliver(Hooks({first}).hooks(), max_attempts=1)
    dead = store.pending()
    with pytest.raises(InvalidArgument, match=r"a non-empty str saying why"):
        store.skip_dead(first, reason=" ")
    assert store.pending() == dead and store.dead_letter_log()[0].action == "dead"
    assert [p.key for p in before] == [p.key for p in dead]


# -- pruning --------------------------------------------------------------------------


def test_prune_deletes_only_effects_carried_out_before_the_instant(store_clock: Any) -> None:
    """`prune(before=...)` forgets delivered (and skipped) effects done before `before`;
    pending effects and dead letters stay, and so do the status changes."""
    store, clock = store_clock
    a_first, a_second = ban(store, "A-1")
    b_first, _ = ban(store, "B-1")
    store.deliver(Hooks({b_first}).hooks(), max_attempts=1)
    done_at = clock.now()
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        store.prune(before=dt.datetime(2030, 1, 1))
    assert store.prune(before=done_at) == 0
    assert store.prune(before=done_at + SEC) == 2
    assert [p.key for p in store.pending()] == [b_first, *[p.key for p in store.pending()][1:]]
    assert [p.key for p in store.dead_letters()] == [b_first]
    assert [c.trigger for c in store.history("A-1")] == ["open", "ban"]
    assert store.prune(before=done_at + SEC) == 0
    assert {a_first, a_second}.isdisjoint(p.key for p in store.pending())


# -- never blocking -------------------------------------------------------------------


def sql_kinds() -> list[Any]:
    return ["sqlite", pytest.param("postgres", marks=needs_pg)]


@pytest.mark.parametrize("kind", sql_kinds())
def test_a_hook_writing_to_the_same_database_never_waits(kind: str, tmp_path: pathlib.Path) -> None:
    """While a hook runs, nothing is locked: the hook writes to a host table and even to
    the outbox row of its own effect on a connection of its own, with lock waits of
    100 ms at most, and delivery completes."""
    with make_store(kind, tmp_path) as (store, _):
        host = sa.MetaData()
        sent = sa.Table("host_sent", host, sa.Column("key", sa.String, primary_key=True))
        host.create_all(store.engine)
        first, second = ban(store, "A-1")
        own = sa.create_engine(
            store.engine.url,
            connect_args={"timeout": 0.1} if kind == "sqlite" else {},
        ).execution_options(**store.engine.get_execution_options())

        class Writer(Hooks):
            def _run(self, effect: Any, change: acctstate.StatusChange) -> None:
                with own.begin() as conn:
                    if kind == "postgres":
                        conn.exec_driver_sql("SET LOCAL lock_timeout = '100ms'")
                    conn.execute(sent.insert(), {"key": effect.key})
                    conn.execute(
                        outbox.update()
                        .where(outbox.c.key == effect.key)
                        .values(last_error=outbox.c.last_error)
                    )
                self.ran.append(effect.key)

            stop_usage_billing = deprovision = _run

        writer = Writer()
        report = store.deliver(writer.hooks())
        assert report.ok and report.delivered == (first, second)
        with store.engine.connect() as conn:
            assert sorted(conn.execute(sa.select(sent.c.key)).scalars()) == sorted([first, second])
        own.dispose()


@pytest.mark.parametrize("kind", sql_kinds())
def test_transactional_hooks_commit_or_roll_back_with_the_effect(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """With `transactional=True` the hook gets the connection that marks its effect done:
    a hook that writes and then fails leaves neither its row nor a done effect; when it
    succeeds its row and the "done" are committed together, once."""
    with make_store(kind, tmp_path) as (store, _):
        host = sa.MetaData()
        ledger = sa.Table("host_ledger", host, sa.Column("key", sa.String, primary_key=True))
        host.create_all(store.engine)
        first, second = ban(store, "A-1")
        fail = {first}

        class Ledger:
            def _run(self, effect: Any, change: Any, *, connection: sa.Connection) -> None:
                connection.execute(ledger.insert(), {"key": effect.key})
                if effect.key in fail:
                    raise RuntimeError("ledger rejected it")

            stop_usage_billing = deprovision = _run

        hooks = acctstate.Hooks.from_object(Ledger())
        report = store.deliver(hooks, transactional=True)
        assert report.failed == ((first, "RuntimeError: ledger rejected it"),)

        def rows() -> list[str]:
            with store.engine.connect() as conn:
                return sorted(conn.execute(sa.select(ledger.c.key)).scalars())

        assert rows() == [] and store.pending()[0].attempts == 1
        fail.clear()
        assert store.deliver(hooks, transactional=True).delivered == (first, second)
        assert rows() == sorted([first, second]) and store.pending() == ()
        assert store.deliver(hooks, transactional=True) == Delivery()


@pytest.mark.parametrize("kind", sql_kinds())
def test_delivery_can_join_the_callers_transaction(kind: str, tmp_path: pathlib.Path) -> None:
    """With `connection=`, delivery happens inside the caller's transaction: rolled back,
    the effects are pending again."""
    with make_store(kind, tmp_path) as (store, _):
        first, second = ban(store, "A-1")
        hooks = Hooks()
        with store.engine.connect() as conn:
            if kind == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            assert store.deliver(hooks.hooks(), connection=conn).delivered == (first, second)
            assert store.pending(connection=conn) == ()
            conn.rollback()
        assert [p.key for p in store.pending()] == [first, second]


@pytest.mark.parametrize("kind", sql_kinds())
def test_a_claim_left_by_a_deliverer_elsewhere_waits_for_its_lease(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """An effect claimed by a deliverer on another host is not taken over until the
    claim's lease has run out; then it is delivered (again, with the same key)."""
    with make_store(kind, tmp_path) as (store, clock):
        first, second = ban(store, "A-1")
        with store.engine.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.key == first)
                .values(claimed_by="elsewhere:1:abc", claimed_until=clock.now() + 60 * SEC)
            )
        hooks = Hooks()
        assert store.deliver(hooks.hooks()) == Delivery()
        clock.advance(seconds=60)
        assert store.deliver(hooks.hooks()).delivered == (first, second)


def test_a_memory_store_refuses_transactional_delivery() -> None:
    """A `MemoryStore` has no transaction to share with a hook: refused, nothing run."""
    store = MemoryStore(isp.workflow())
    ban(store, "A-1")
    hooks = Hooks()
    with pytest.raises(InvalidArgument, match="no transaction to share"):
        store.deliver(hooks.hooks(), transactional=True)
    assert hooks.ran == [] and len(store.pending()) == 2


@pytest.mark.parametrize("kind", sql_kinds())
def test_schedule_apply_due_and_history_can_join_the_callers_transaction(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """`schedule`, `apply_due` and `history` take `connection=`: inside the caller's
    transaction a refused change is marked failed without undoing the others, everything
    is visible there, and a rollback leaves nothing."""
    with make_store(kind, tmp_path) as (store, _):
        store.open("A-1", "active", at=T0, imported=True)
        store.open("B-1", "active", at=T0, imported=True)
        with store.engine.connect() as conn:
            if kind == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            store.schedule("A-1", "deactivate", at=T0 + SEC, connection=conn)
            store.schedule("B-1", "bogus", at=T0 + SEC, connection=conn)
            run = store.apply_due(at=T0 + 2 * SEC, connection=conn)
            assert run.applied == (f"A-1/deactivate/{(T0 + SEC).isoformat()}",)
            assert [f[0] for f in run.failed] == [f"B-1/bogus/{(T0 + SEC).isoformat()}"]
            history = store.history("A-1", connection=conn)
            assert [c.trigger for c in history] == ["open", "deactivate"]
            conn.rollback()
        assert store.scheduled() == () and [c.trigger for c in store.history("A-1")] == ["open"]
