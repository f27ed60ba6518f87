"""Transitions per second through the SQL store, against a bare UPDATE of the status column.

For SQLite (a file, WAL) and PostgreSQL (``ACCTSTATE_PG_URL``, default the local test
server; skipped with a note when unreachable), with one worker and with four worker
threads, each worker toggling its own accounts between active and inactive:

* floor: one transaction per change doing only ``UPDATE acctstate_accounts SET status=...,
  version=version+1 WHERE id=...`` through the same engine;
* store: ``SqlStore.fire`` -- read the row, plan with the workflow (guards, effects),
  compare-and-set the row, insert the history row and three outbox rows, commit;
* deliver: effects per second through ``SqlStore.deliver`` with no-op hooks (for scale).

The ratio is store time per transition over floor time per transition; the aim is < 3x.

Then the nightly run: 100,000 stored accounts whose facts live in a host ``customers``
table, 20,000 of them late enough to be suspended (one step, three effects each):

* floor: hand-written set-based SQL doing the same writes -- one ``UPDATE ... FROM
  customers ... RETURNING`` of the accounts, an ``INSERT ... SELECT`` of their history
  rows and three of their outbox rows -- in one transaction;
* store: ``SqlStore.run_automation`` (chunks of 10,000: read as columns, plan with the
  column-wise sweep and the workflow, one compare-and-set ``UPDATE`` and multi-row
  inserts per chunk).

Rounds alternate floor and store on the same reset book; medians with min-max spread.
The aim is a ratio < 3x; the peak memory of one store run (tracemalloc) is bounded by the
chunk, not the book.

    .venv/bin/python benchmarks/bench_store.py [--quick] [--pg-url URL] [--only fire|nightly]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

import acctstate
from acctstate.automation import AutomationPolicy, reference_ladder
from acctstate.presets import isp
from acctstate.store.sql import SqlStore, UtcDateTime, create_engine, metadata

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
SEC = dt.timedelta(seconds=1)
ACCOUNTS = metadata.tables["acctstate_accounts"]
BARE = (
    ACCOUNTS.update()
    .where(ACCOUNTS.c.id == sa.bindparam("b_id"))
    .values(status=sa.bindparam("status"), version=ACCOUNTS.c.version + 1)
)


class Nop:
    """Hooks that do nothing."""

    def _run(self, effect: Any, change: Any) -> None:
        return None

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = _run


def run_workers(workers: int, job: Callable[[int], None]) -> float:
    """Seconds for ``workers`` threads each running ``job(worker_index)``."""
    threads = [threading.Thread(target=job, args=(w,)) for w in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def measure(store: SqlStore, workers: int, per_worker: int, accounts: int) -> dict[str, float]:
    """Floor, store and delivery throughput for ``workers`` threads."""
    tag = uuid.uuid4().hex[:6]
    ids = [[f"{tag}-{w}-{i}" for i in range(accounts)] for w in range(workers)]
    for group in ids:
        for account_id in group:
            store.open(account_id, "active", at=T0, imported=True)
    engine = store.engine

    def floor(w: int) -> None:
        for n in range(per_worker):
            with engine.begin() as conn:
                conn.execute(BARE, {"b_id": ids[w][n % accounts], "status": 1})

    def fire(w: int) -> None:
        for n in range(per_worker):
            account_id = ids[w][n % accounts]
            step = n // accounts
            trigger = "deactivate" if step % 2 == 0 else "reactivate"
            store.fire(account_id, trigger, at=T0 + (step + 1) * SEC)

    hooks = acctstate.Hooks(billing=Nop(), provisioning=Nop())

    def deliver(w: int) -> None:
        while len(store.deliver(hooks, limit=200)):
            pass

    t_floor = run_workers(workers, floor)
    t_store = run_workers(workers, fire)
    effects = len(store.pending())
    t_deliver = run_workers(workers, deliver)
    total = workers * per_worker
    return {
        "floor": total / t_floor,
        "store": total / t_store,
        "ratio": t_store / t_floor,
        "deliver": effects / t_deliver,
    }


# -- the nightly run -------------------------------------------------------------------

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HISTORY = metadata.tables["acctstate_history"]
OUTBOX = metadata.tables["acctstate_outbox"]
HOST = sa.MetaData()
CUSTOMERS = sa.Table(
    "customers",
    HOST,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("balance", sa.Numeric(12, 2), nullable=False),
    sa.Column("unpaid_invoices", sa.Integer, nullable=False),
    sa.Column("oldest_unpaid_at", UtcDateTime),
    # The billing time zone is a fact the store never guesses (UTC here, so the
    # hand-written SQL's day counts in UTC are the same days).
    sa.Column("timezone", sa.String(50), nullable=False),
)


def load_book(store: SqlStore, total: int, late: int) -> None:
    """``total`` accounts: ``late`` in active dunning 3 and 65 days late, the rest active
    and paid up."""
    since = NOW - 5 * DAY
    opened = NOW - 400 * DAY
    with store.engine.begin() as conn:
        for start in range(0, total, 20_000):
            ids = [
                (f"C-{n:07d}", n % (total // late) == 0)
                for n in range(start, min(total, start + 20_000))
            ]
            conn.execute(
                ACCOUNTS.insert(),
                [
                    {"id": i, "status": 13 if bad else 1, "status_since": since, "version": 0}
                    for i, bad in ids
                ],
            )
            conn.execute(
                HISTORY.insert(),
                [
                    {
                        "account_id": i,
                        "version": 0,
                        "trigger": "open",
                        "source": 13 if bad else 1,
                        "dest": 13 if bad else 1,
                        "at": opened,
                        "recorded_at": opened,
                    }
                    for i, bad in ids
                ],
            )
            conn.execute(
                CUSTOMERS.insert(),
                [
                    {
                        "id": i,
                        "balance": Decimal("50.00") if bad else Decimal("0.00"),
                        "unpaid_invoices": 2 if bad else 0,
                        "oldest_unpaid_at": NOW - 65 * DAY if bad else None,
                        "timezone": "UTC",
                    }
                    for i, bad in ids
                ],
            )


def reset(store: SqlStore) -> None:
    """The book as loaded."""
    with store.engine.begin() as conn:
        conn.execute(OUTBOX.delete())
        conn.execute(HISTORY.delete().where(HISTORY.c.version > 0))
        conn.execute(
            ACCOUNTS.update()
            .where(ACCOUNTS.c.version > 0)
            .values(status=13, status_since=NOW - 5 * DAY, version=0)
        )


def floor_sql(store: SqlStore) -> int:
    """The same writes as hand-written set-based SQL; how many accounts moved."""
    from acctstate.world.store._codec import actor_columns, effect_payload

    wf = store.workflow
    sample = wf.plan(
        wf.open("x", "active_dunning_3", at=NOW - DAY, imported=True),
        "escalate_dunning",
        at=NOW,
        actor=acctstate.SYSTEM,
        note="automation: dunning",
    )
    actor_id, actor_kind, permissions = actor_columns(acctstate.SYSTEM)
    recorded = wf.clock.now()
    suffix = f"/escalate_dunning/{NOW.isoformat()}/13"
    a, c = ACCOUNTS, CUSTOMERS
    with store.engine.begin() as conn:
        moved = conn.execute(
            a.update()
            .where(
                c.c.id == a.c.id,
                a.c.status == 13,
                c.c.balance >= Decimal("0.01"),
                c.c.oldest_unpaid_at <= NOW - 60 * DAY,
            )
            .values(status=-11, status_since=NOW, version=a.c.version + 1)
            .returning(a.c.id)
        ).all()
        changed = a.c.status_since == NOW
        conn.execute(
            HISTORY.insert().from_select(
                [
                    "account_id",
                    "version",
                    "trigger",
                    "source",
                    "dest",
                    "at",
                    "recorded_at",
                    "note",
                    "actor_id",
                    "actor_kind",
                    "actor_permissions",
                ],
                sa.select(
                    a.c.id,
                    a.c.version,
                    sa.literal("escalate_dunning"),
                    sa.literal(13),
                    sa.literal(-11),
                    sa.literal(NOW, UtcDateTime),
                    sa.literal(recorded, UtcDateTime),
                    sa.literal("automation: dunning"),
                    sa.literal(actor_id),
                    sa.literal(actor_kind),
                    sa.literal(permissions),
                ).where(changed),
            )
        )
        for i, effect in enumerate(sample.effects):
            conn.execute(
                OUTBOX.insert().from_select(
                    [
                        "key",
                        "account_id",
                        "version",
                        "position",
                        "kind",
                        "payload",
                        "created_at",
                        "attempts",
                    ],
                    sa.select(
                        a.c.id + sa.literal(f"{suffix}#{i}"),
                        a.c.id,
                        a.c.version,
                        sa.literal(i),
                        sa.literal(effect.kind),
                        sa.literal(effect_payload(effect)),
                        sa.literal(recorded, UtcDateTime),
                        sa.literal(0),
                    ).where(changed),
                )
            )
    return len(moved)


def rows(store: SqlStore) -> list[Any]:
    with store.engine.connect() as conn:
        h = [c for c in HISTORY.c if c.name != "id"]
        o = [c for c in OUTBOX.c if c.name != "seq"]
        return [
            sorted(tuple(r) for r in conn.execute(sa.select(*h).where(HISTORY.c.version > 0))),
            sorted(tuple(r) for r in conn.execute(sa.select(*o))),
            sorted(tuple(r) for r in conn.execute(sa.select(ACCOUNTS))),
        ]


def nightly(store: SqlStore, total: int, late: int, rounds: int) -> dict[str, Any]:
    """Floor and store seconds per round, and the peak memory of one store run."""
    policy = AutomationPolicy(store.workflow, ladder=reference_ladder())
    HOST.create_all(store.engine)
    load_book(store, total, late)
    # The two paths must write the same rows.
    assert floor_sql(store) == late
    want = rows(store)
    reset(store)
    report = store.run_automation(policy, now=NOW)
    assert report.changes == late, report
    assert rows(store) == want, "the store and the hand-written SQL wrote different rows"
    floor: list[float] = []
    runs: list[float] = []
    for _ in range(rounds):
        reset(store)
        start = time.perf_counter()
        floor_sql(store)
        floor.append(time.perf_counter() - start)
        reset(store)
        start = time.perf_counter()
        store.run_automation(policy, now=NOW)
        runs.append(time.perf_counter() - start)
    reset(store)
    tracemalloc.start()
    store.run_automation(policy, now=NOW)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"floor": floor, "store": runs, "peak": peak}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f}s ({min(values):.2f}-{max(values):.2f})"


def reachable(url: str) -> str | None:
    """``None`` when the server answers, else why not."""
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough figures")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "ACCTSTATE_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--only", choices=("fire", "nightly"), help="run one part only")
    args = parser.parse_args()
    per_worker = 30 if args.quick else 300
    accounts = 5 if args.quick else 50
    wf = isp.workflow()

    if args.only != "nightly":
        print(
            f"{'backend':<10} {'workers':>7} {'floor tx/s':>11} {'store tx/s':>11} "
            f"{'ratio':>6} {'effects/s':>10}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        backends: list[tuple[str, Callable[[], tuple[SqlStore, Callable[[], None]]]]] = []

        def sqlite() -> tuple[SqlStore, Callable[[], None]]:
            engine = create_engine(f"sqlite:///{tmp}/bench-{uuid.uuid4().hex[:6]}.db")
            store = SqlStore(wf, engine)
            store.create_schema()
            return store, engine.dispose

        backends.append(("sqlite", sqlite))
        why = reachable(args.pg_url)
        if why is None:

            def postgres() -> tuple[SqlStore, Callable[[], None]]:
                schema = f"acctstate_bench_{uuid.uuid4().hex[:8]}"
                admin = sa.create_engine(args.pg_url)
                with admin.begin() as conn:
                    conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
                engine = create_engine(args.pg_url, pool_size=8).execution_options(
                    schema_translate_map={None: schema}
                )
                store = SqlStore(wf, engine)
                store.create_schema()

                def drop() -> None:
                    engine.dispose()
                    with admin.begin() as conn:
                        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                    admin.dispose()

                return store, drop

            backends.append(("postgres", postgres))
        if args.only != "nightly":
            for name, make in backends:
                for workers in (1, 4):
                    store, close = make()
                    try:
                        r = measure(store, workers, per_worker, accounts)
                    finally:
                        close()
                    print(
                        f"{name:<10} {workers:>7} {r['floor']:>11,.0f} {r['store']:>11,.0f} "
                        f"{r['ratio']:>5.2f}x {r['deliver']:>10,.0f}"
                    )
            print("ratio = store time per transition / bare UPDATE time per transition (aim < 3x)")
        if args.only != "fire":
            total, late, rounds = (20_000, 4_000, 1) if args.quick else (100_000, 20_000, 3)
            print()
            print(f"nightly run: {late:,} of {total:,} stored accounts suspended, {rounds} rounds")
            print(
                f"{'backend':<10} {'floor (set-based SQL)':>24} {'run_automation':>24} "
                f"{'ratio':>6} {'changes/s':>10} {'peak MB':>8}"
            )
            fixed = wf.with_clock(acctstate.FixedClock(NOW + DAY))
            for name, make in backends:
                plain, close = make()
                try:
                    store = SqlStore(fixed, plain.engine, facts=CUSTOMERS)
                    r = nightly(store, total, late, rounds)
                finally:
                    close()
                ratio = statistics.median(r["store"]) / statistics.median(r["floor"])
                rate = late / statistics.median(r["store"])
                print(
                    f"{name:<10} {spread(r['floor']):>24} {spread(r['store']):>24} "
                    f"{ratio:>5.2f}x {rate:>10,.0f} {r['peak'] / 2**20:>8.1f}"
                )
            print("ratio = run_automation time / hand-written set-based SQL time (aim < 3x)")
        if why is not None:
            print(f"PostgreSQL not measured ({args.pg_url}): {why}")


if __name__ == "__main__":
    main()
