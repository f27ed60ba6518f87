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

    .venv/bin/python benchmarks/bench_store.py [--quick] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

import acctstate
from acctstate.presets import isp
from acctstate.store.sql import SqlStore, create_engine, metadata

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
    args = parser.parse_args()
    per_worker = 30 if args.quick else 300
    accounts = 5 if args.quick else 50
    wf = isp.workflow()

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
        if why is not None:
            print(f"PostgreSQL not measured ({args.pg_url}): {why}")
    print("ratio = store time per transition / bare UPDATE time per transition (aim < 3x)")


if __name__ == "__main__":
    main()
