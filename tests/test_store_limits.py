"""What a store cannot keep is refused up front, with the same limits on every store, and
races on PostgreSQL end in the documented outcome, never a raw database error.

The limits (an id of at most 200 characters, a reason of at most 100, no NUL character
and no lone surrogate anywhere) hold on every store: in memory, SQLite, PostgreSQL, and
the Django store (which runs these contract tests too), so an app that moves from SQLite
to PostgreSQL meets no new refusal. The races are replayed deterministically on
PostgreSQL: a listener holds each thread right after it read the row, so both writers
read before either writes.
"""

from __future__ import annotations

import contextlib
import pathlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import acctstate
from acctstate.errors import ConcurrentChange, InvalidArgument
from acctstate.store.sql import SqlStore
from test_store_sql import (
    DAY,
    KINDS,
    SEC,
    T0,
    WF,
    active,
    make_store,
    needs_pg,
    pg_engine,
    snapshot,
)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    """Each store in turn, empty (the Django tests run these with theirs)."""
    with make_store(request.param, tmp_path) as s:
        yield s


NUL = "A\x00B"
SURROGATE = "A\ud800B"

# (what, call, the message naming the limit)
REFUSED: list[tuple[str, Callable[[Any], Any], str]] = [
    ("id of 201", lambda s: s.open("A" * 201, "prospect", at=T0), "at most 200 characters"),
    ("id with NUL", lambda s: s.open(NUL, "prospect", at=T0), "without NUL"),
    ("id with surrogate", lambda s: s.open(SURROGATE, "prospect", at=T0), "lone surrogates"),
    (
        "opening reason of 101",
        lambda s: s.open("A-2", "prospect", at=T0, reason="r" * 101),
        "at most 100 characters",
    ),
    (
        "reason of 101",
        lambda s: s.fire("A-1", "deactivate", at=T0 + DAY, reason="r" * 101),
        "invalid reason.*at most 100 characters",
    ),
    (
        "note with NUL",
        lambda s: s.fire("A-1", "deactivate", at=T0 + DAY, note=NUL),
        "invalid note.*without NUL",
    ),
    (
        "note with surrogate",
        lambda s: s.fire("A-1", "deactivate", at=T0 + DAY, note=SURROGATE),
        "invalid note.*lone surrogates",
    ),
    (
        "reason with surrogate",
        lambda s: s.fire("A-1", "deactivate", at=T0 + DAY, reason=SURROGATE),
        "invalid reason.*lone surrogates",
    ),
    (
        "event data with NUL",
        lambda s: s.fire("A-1", "deactivate", at=T0 + DAY, remark=NUL),
        "invalid remark.*without NUL",
    ),
    (
        "actor id of 201",
        lambda s: s.fire("A-1", "deactivate", at=T0 + DAY, actor=acctstate.Actor("u" * 201)),
        "invalid actor.id.*at most 200 characters",
    ),
    (
        "fire on an id with NUL",
        lambda s: s.fire(NUL, "deactivate", at=T0 + DAY),
        "invalid account_id.*without NUL",
    ),
    (
        "load of an id with surrogate",
        lambda s: s.load(SURROGATE),
        "invalid account_id.*lone surrogates",
    ),
    (
        "history of an id of 201",
        lambda s: s.history("A" * 201),
        "invalid account_id.*at most 200 characters",
    ),
    (
        "scheduled reason of 101",
        lambda s: s.schedule("A-1", "deactivate", at=T0 + DAY, reason="r" * 101),
        "invalid reason.*at most 100 characters",
    ),
    (
        "scheduled note with surrogate",
        lambda s: s.schedule("A-1", "deactivate", at=T0 + DAY, note=SURROGATE),
        "invalid note.*lone surrogates",
    ),
    (
        "scheduled id of 501",
        lambda s: s.schedule("A-1", "deactivate", at=T0 + DAY, id="S" * 501),
        "invalid id.*at most 500 characters",
    ),
    (
        "scheduled data with NUL",
        lambda s: s.schedule("A-1", "deactivate", at=T0 + DAY, remark=("ok", NUL)),
        "invalid remark.*without NUL",
    ),
]


@pytest.mark.parametrize(("what", "call", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_what_some_store_cannot_keep_is_refused_by_every_store(
    store: Any, what: str, call: Callable[[Any], Any], message: str
) -> None:
    """NUL characters, lone surrogates, a 201-character id or a 101-character reason are
    refused before anything is written, as ``InvalidArgument`` naming the limit, by every
    store alike (SQLite would keep them; PostgreSQL raised a raw ``DataError``)."""
    active(store, "A-1")
    before = snapshot(store, "A-1")
    with pytest.raises(InvalidArgument, match=message):
        call(store)
    assert snapshot(store, "A-1") == before
    assert store.scheduled() == ()
    assert [a.id for a in store.accounts()] == ["A-1"]


def test_values_at_the_limits_are_kept_exactly(store: Any) -> None:
    """A 100-character reason, a note beyond the Basic Multilingual Plane and an id of the
    store's longest length are stored and read back unchanged."""
    longest = 200 if not hasattr(store, "model") else 40  # the example model's own key
    account_id = "A" * longest
    active(store, account_id)
    note = "paid in 💶, thanks — ok"
    change = store.fire(account_id, "deactivate", at=T0 + DAY, reason="r" * 100, note=note)
    assert (change.reason, change.note) == ("r" * 100, note)
    last = store.history(account_id)[-1]
    assert (last.account_id, last.reason, last.note) == (account_id, "r" * 100, note)


# -- races on PostgreSQL -----------------------------------------------------------------


@contextlib.contextmanager
def held_after_read(engine: sa.Engine, table: str, parties: int) -> Iterator[Callable[[], None]]:
    """Each armed thread waits, right after its first ``SELECT`` from ``table``, until
    ``parties`` threads have read: every writer reads before any writes. Yields ``arm``,
    which a thread calls to take part."""
    barrier = threading.Barrier(parties, timeout=20)
    armed = threading.local()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        select = statement.lstrip().upper().startswith("SELECT")
        if getattr(armed, "on", False) and select and table in statement:
            armed.on = False
            barrier.wait()

    def arm() -> None:
        armed.on = True

    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield arm
    finally:
        sa.event.remove(engine, "after_cursor_execute", after)


def in_threads(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run each call in its own thread; ``("ok", result)`` or ``("error", exception)``."""
    out: list[tuple[str, Any]] = [("missing", None)] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            out[i] = ("ok", call())
        except BaseException as exc:
            out[i] = ("error", exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


@contextlib.contextmanager
def pg_store(isolation: str | None = None) -> Iterator[SqlStore]:
    """A SQL store on PostgreSQL in a schema of its own (at ``isolation`` when given)."""
    with pg_engine() as engine:
        if isolation is not None:
            engine = engine.execution_options(isolation_level=isolation)
        store = SqlStore(WF, engine)
        store.create_schema()
        yield store


@needs_pg
def test_two_threads_opening_the_same_id_one_wins_one_is_told_the_id_is_taken() -> None:
    """Both threads read the id as free, then both insert: one opens the account, the
    other gets the documented ``InvalidArgument`` (the id is taken), not a raw
    ``IntegrityError``; one opening entry is recorded."""
    with pg_store() as store:
        with held_after_read(store.engine, "acctstate_accounts", 2) as arm:

            def opening() -> Any:
                arm()
                return store.open("A-1", "prospect", at=T0)

            results = in_threads(opening, opening)
        kinds = sorted(k for k, _ in results)
        assert kinds == ["error", "ok"], results
        error = next(v for k, v in results if k == "error")
        assert isinstance(error, InvalidArgument)
        assert "an id not yet in the store" in str(error)
        assert len(store.history("A-1")) == 1


@needs_pg
def test_two_threads_scheduling_the_same_change_is_one_scheduled_change() -> None:
    """Both threads find the change not yet scheduled, then both insert: scheduling twice
    is a no-op, so both get the same record and one row is stored."""
    with pg_store() as store:
        active(store, "A-1")
        with held_after_read(store.engine, "acctstate_scheduled", 2) as arm:

            def scheduling() -> Any:
                arm()
                return store.schedule("A-1", "deactivate", at=T0 + DAY, note="holiday")

            results = in_threads(scheduling, scheduling)
        assert [k for k, _ in results] == ["ok", "ok"], results
        assert results[0][1] == results[1][1]
        (only,) = store.scheduled()
        assert (only.trigger, only.note, only.state) == ("deactivate", "holiday", "pending")


@needs_pg
@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
def test_a_serialization_failure_is_a_concurrent_change_that_retries_replans(
    isolation: str,
) -> None:
    """At ``REPEATABLE READ`` or ``SERIALIZABLE`` a writer whose snapshot predates another
    writer's commit is refused by the database: the store raises ``ConcurrentChange``
    (nothing written), and ``retries=`` plans again against the new state."""
    for retries in (0, 1):
        with pg_store(isolation) as store:
            active(store, "A-1")
            kind, value = terminate_after_a_suspend(store, retries)
            if retries == 0:
                assert kind == "error" and isinstance(value, ConcurrentChange), value
                assert [c.trigger for c in store.history("A-1")][1:] == ["suspend"]
            else:
                assert kind == "ok", value
                assert (value.source.name, value.dest.name) == ("suspended", "terminated")
                assert [c.trigger for c in store.history("A-1")][1:] == ["suspend", "terminate"]
            assert store.load("A-1").version == len(store.history("A-1")) - 1


def terminate_after_a_suspend(store: SqlStore, retries: int) -> tuple[str, Any]:
    """A thread fires ``terminate`` and, once it has read the account, the main thread
    suspends it and commits; then the thread writes. Its outcome."""
    read, go = threading.Event(), threading.Event()
    late = threading.local()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if getattr(late, "on", False) and "acctstate_accounts" in statement:
            late.on = False
            read.set()  # the snapshot is taken; let the other writer commit
            assert go.wait(20)

    def terminate() -> Any:
        late.on = True
        return store.fire("A-1", "terminate", at=T0 + 2 * SEC, retries=retries)

    box: list[tuple[str, Any]] = []
    sa.event.listen(store.engine, "after_cursor_execute", after)
    try:
        worker = threading.Thread(target=lambda: box.extend(in_threads(terminate)))
        worker.start()
        assert read.wait(20)
        store.fire("A-1", "suspend", at=T0 + SEC)
        go.set()
        worker.join(60)
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", after)
    ((kind, value),) = box
    return kind, value
