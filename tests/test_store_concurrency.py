"""Several threads and processes hammering the same accounts through the SQL store, and
workers killed between commit and delivery.

After each run: every history chain is unbroken, each account's version equals its
number of changes and the changes the workers made, every effect in the outbox ran
exactly once and in order per account, and none is left pending. SQLite always (a file
in ``tmp_path``); PostgreSQL when ``ACCTSTATE_PG_URL`` names a reachable server.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import itertools
import multiprocessing
import os
import pathlib
import random
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import acctstate
from acctstate.errors import ConcurrentChange, HistoryConflict, IllegalTransition
from acctstate.presets import isp
from acctstate.store.sql import SqlStore, create_engine, metadata

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
SEC = dt.timedelta(seconds=1)
PG_ENV = "ACCTSTATE_PG_URL"
ACCOUNTS = ["A-1", "A-2", "A-3"]
outbox = metadata.tables["acctstate_outbox"]


def _pg_url() -> tuple[str | None, str]:
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


PG_URL, PG_WHY = _pg_url()
if PG_URL is None and os.environ.get("ACCTSTATE_PG_REQUIRED"):
    # CI (.ci/run) insists on PostgreSQL: fail loudly rather than skip.
    pytest.fail(f"ACCTSTATE_PG_REQUIRED is set but {PG_WHY}", pytrace=False)
KINDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(PG_URL is None, reason=f"PostgreSQL tests were NOT run: {PG_WHY}"),
    ),
]


def open_store(url: str, schema: str | None) -> SqlStore:
    """A store on ``url`` (tables in ``schema`` when given); used by child processes too."""
    engine = create_engine(url)
    if schema is not None:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return SqlStore(isp.workflow(), engine)


@contextlib.contextmanager
def database(kind: str, tmp: pathlib.Path) -> Iterator[tuple[str, str | None]]:
    """``(url, schema)`` of a fresh database holding three active accounts."""
    if kind == "sqlite":
        url, schema = f"sqlite:///{tmp / 'hammer.db'}", None
    else:
        assert PG_URL is not None
        url, schema = PG_URL, f"acctstate_test_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    store = open_store(url, schema)
    store.create_schema()
    for account_id in ACCOUNTS:
        store.open(account_id, "active", at=T0, imported=True)
    store.engine.dispose()
    try:
        yield url, schema
    finally:
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


class FileHooks:
    """Hooks that append ``account key`` lines to a file (atomic appends across processes)."""

    def __init__(self, path: str, crash_on: str | None = None) -> None:
        self.path = path
        self.crash_on = crash_on

    def _run(self, effect: Any, change: acctstate.StatusChange) -> None:
        with open(self.path, "a") as f:
            f.write(f"{change.account_id} {effect.key}\n")
        if self.crash_on is not None and effect.kind == self.crash_on:
            os._exit(17)  # the worker dies inside the hook, before marking it done

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = _run

    def hooks(self) -> acctstate.Hooks:
        return acctstate.Hooks(billing=self, provisioning=self, refunds=self, notices=self)


def hammer(url: str, schema: str | None, seed: int, rounds: int, log: str) -> tuple[int, int]:
    """Toggle random accounts between active and inactive, delivering now and then.

    Half the rounds fire against the version read (and may lose with ConcurrentChange),
    half fire with retries. Returns ``(changes made, conflicts lost)``.
    """
    store = open_store(url, schema)
    hooks = FileHooks(log).hooks()
    rng = random.Random(seed)
    made = lost = 0
    for _ in range(rounds):
        account_id = rng.choice(ACCOUNTS)
        seen = store.load(account_id)
        trigger = "deactivate" if seen.status == 1 else "reactivate"
        at = seen.status_since + SEC
        try:
            if rng.random() < 0.5:
                store.fire(account_id, trigger, at=at, expected_version=seen.version)
            else:
                store.fire(account_id, trigger, at=at, retries=3)
            made += 1
        except ConcurrentChange:
            lost += 1
        except (IllegalTransition, HistoryConflict):
            pass  # the retry re-planned on a state where this toggle no longer applies
        if rng.random() < 0.3:
            store.deliver(hooks, limit=5)
    store.engine.dispose()
    return made, lost


def deliver_all(url: str, schema: str | None, log: str) -> int:
    """Deliver until nothing is pending; returns how many this worker ran."""
    store = open_store(url, schema)
    n = len(store.deliver(FileHooks(log).hooks(), limit=10_000))
    store.engine.dispose()
    return n


def check(url: str, schema: str | None, log: pathlib.Path, made: int) -> None:
    """The invariants every run must leave."""
    store = open_store(url, schema)
    final = deliver_all(url, schema, str(log))
    assert final >= 0
    with store.engine.connect() as conn:
        keys = [
            (r.account_id, r.key) for r in conn.execute(sa.select(outbox).order_by(outbox.c.seq))
        ]
    total = 0
    for account_id in ACCOUNTS:
        history = list(store.history(account_id))
        for before, after in itertools.pairwise(history):
            assert after.source == before.dest, f"broken chain on {account_id}"
            assert after.at >= before.at
        version = store.load(account_id).version
        assert version == len(history) - 1
        total += version
    assert total == made
    lines = [tuple(line.split()) for line in log.read_text().splitlines()] if log.exists() else []
    counts = collections.Counter(k for _, k in lines)
    assert [k for k, n in counts.items() if n > 1] == [], "an effect ran twice"
    assert set(counts) == {k for _, k in keys}, "an effect was lost"
    for account_id in ACCOUNTS:
        ran = [k for a, k in lines if a == account_id]
        assert ran == [k for a, k in keys if a == account_id], "effects ran out of order"
    assert store.pending() == ()
    store.engine.dispose()


@pytest.mark.parametrize("kind", KINDS)
def test_threads_hammering_the_same_accounts(kind: str, tmp_path: pathlib.Path) -> None:
    """Four threads firing and delivering on three accounts lose nothing and double nothing."""
    log = tmp_path / "effects.log"
    with database(kind, tmp_path) as (url, schema):
        results: list[tuple[int, int]] = []

        def run(seed: int) -> None:
            results.append(hammer(url, schema, seed, 40, str(log)))

        threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 4
        check(url, schema, log, sum(m for m, _ in results))


@pytest.mark.parametrize("kind", KINDS)
def test_processes_hammering_the_same_accounts(kind: str, tmp_path: pathlib.Path) -> None:
    """Three processes firing and delivering on three accounts lose nothing and double
    nothing; concurrent deliverers never run the same effect."""
    log = tmp_path / "effects.log"
    ctx = multiprocessing.get_context("spawn")
    with database(kind, tmp_path) as (url, schema), ctx.Pool(3) as pool:
        results = pool.starmap(hammer, [(url, schema, seed, 40, str(log)) for seed in range(3)])
        check(url, schema, log, sum(m for m, _ in results))


@pytest.mark.parametrize("kind", KINDS)
def test_parallel_deliverers_run_each_effect_once(kind: str, tmp_path: pathlib.Path) -> None:
    """With a backlog queued, three deliverer processes together run every effect exactly
    once and each account's effects in order."""
    log = tmp_path / "effects.log"
    ctx = multiprocessing.get_context("spawn")
    with database(kind, tmp_path) as (url, schema):
        store = open_store(url, schema)
        made = 0
        for n in range(12):
            for account_id in ACCOUNTS:
                trigger = "deactivate" if n % 2 == 0 else "reactivate"
                store.fire(account_id, trigger, at=T0 + (n + 1) * SEC)
                made += 1
        store.engine.dispose()
        with ctx.Pool(3) as pool:
            ran = pool.starmap(deliver_all, [(url, schema, str(log))] * 3)
        assert sum(ran) == made * 3  # three effects per toggle
        check(url, schema, log, made)


def fire_then_die(url: str, schema: str | None) -> None:
    """Commit a change, then die before delivering its effects."""
    store = open_store(url, schema)
    store.fire("A-1", "deactivate", at=T0 + SEC)
    os._exit(17)


def fire_uncommitted_then_die(url: str, schema: str | None) -> None:
    """Make a change inside an open transaction, then die before committing."""
    store = open_store(url, schema)
    conn = store.engine.connect()
    store.fire("A-2", "deactivate", at=T0 + SEC, connection=conn)
    os._exit(17)


def deliver_then_die(url: str, schema: str | None, log: str) -> None:
    """Die inside the deprovision hook, before the effect is marked done."""
    store = open_store(url, schema)
    store.deliver(FileHooks(log, crash_on="deprovision").hooks())
    os._exit(0)  # pragma: no cover - the hook exits first


@pytest.mark.parametrize("kind", KINDS)
def test_a_worker_killed_after_commit_loses_no_effect(kind: str, tmp_path: pathlib.Path) -> None:
    """A worker killed between commit and effect execution leaves the change and its
    pending effects; a crash before commit leaves nothing; delivery on restart runs each
    effect once."""
    log = tmp_path / "effects.log"
    ctx = multiprocessing.get_context("spawn")
    with database(kind, tmp_path) as (url, schema):
        for target in (fire_then_die, fire_uncommitted_then_die):
            p = ctx.Process(target=target, args=(url, schema))
            p.start()
            p.join()
            assert p.exitcode == 17
        store = open_store(url, schema)
        assert store.load("A-1").version == 1
        assert store.load("A-2").version == 0 and store.pending(account_id="A-2") == ()
        keys = [p.key for p in store.pending()]
        assert len(keys) == 3 and not log.exists()
        store.engine.dispose()
        check(url, schema, log, made=1)


@pytest.mark.parametrize("kind", KINDS)
def test_a_deliverer_killed_inside_a_hook_leaves_the_effect_pending(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """A deliverer that dies inside a hook has not marked the effect done: it is still
    pending, the effects before it are done, and the restart delivers it with the same
    idempotency key (so an idempotent hook sees a repeat, never a loss)."""
    log = tmp_path / "effects.log"
    ctx = multiprocessing.get_context("spawn")
    with database(kind, tmp_path) as (url, schema):
        store = open_store(url, schema)
        change = store.fire("A-1", "deactivate", at=T0 + SEC)
        p = ctx.Process(target=deliver_then_die, args=(url, schema, str(log)))
        p.start()
        p.join()
        assert p.exitcode == 17
        stop_billing, stop_usage, deprovision = (e.key for e in change.effects)
        assert [e.key for e in store.pending()] == [deprovision]
        assert deliver_all(url, schema, str(log)) == 1
        seen = [line.split()[1] for line in log.read_text().splitlines()]
        assert seen == [stop_billing, stop_usage, deprovision, deprovision]
        assert store.pending() == ()
        store.engine.dispose()
