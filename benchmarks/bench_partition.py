"""The nightly run in partitions: ``run_partitioned`` with 1 and 2 worker processes.

The book of ``bench_store.py``'s nightly run (accounts whose facts live in a host
``customers`` table, a fifth of them late enough to be suspended: one step, three
effects each), on PostgreSQL (``ACCTSTATE_PG_URL``, default the local test server) and
on an SQLite file. Each round resets the book, then times, on the same book:

* ``run_automation``: one ``SqlStore.run_automation`` in this process (the reference);
* 1 worker: ``run_partitioned(workers=1)`` (in this process: one partition, the whole
  book, plus the set-up every worker does -- load the workflow and policies from their
  text, open the database, read the facts table);
* 2 workers: ``run_partitioned(workers=2)``: two spawned processes, each over its half
  (a hash of the id computed in SQL), process start-up included.

Medians with min-max spread; the speed-up is 1 worker / 2 workers. The CPU line is the
client side's CPU seconds (this process and the workers, not the database server's):
it shows the work split between the workers, whatever the machine's load. On SQLite the writer
holds the database's one write lock for a chunk's whole transaction, so a second worker
can only wait: its figures show the cost of partitioning there, not a gain.

    .venv/bin/python benchmarks/bench_partition.py [--quick] [--accounts N] [--rounds N] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from bench_store import CUSTOMERS, HOST, NOW, load_book, reachable, reset

import acctstate
from acctstate.automation import AutomationPolicy, reference_ladder
from acctstate.distributed import run_partitioned
from acctstate.presets import isp
from acctstate.store.sql import SqlStore, create_engine


@contextmanager
def sqlite_db(tmp: str) -> Iterator[tuple[str, sa.Engine, str | None]]:
    url = f"sqlite:///{tmp}/bench-{uuid.uuid4().hex[:6]}.db"
    engine = create_engine(url)
    try:
        yield url, engine, None
    finally:
        engine.dispose()


@contextmanager
def pg_db(url: str) -> Iterator[tuple[str, sa.Engine, str | None]]:
    schema = f"acctstate_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url).execution_options(schema_translate_map={None: schema})
    try:
        yield url, engine, schema
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def cpu() -> float:
    """CPU seconds of this process and its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and client CPU seconds (this process and the workers; not the
    database server's)."""
    start, used = time.perf_counter(), cpu()
    run()
    return time.perf_counter() - start, cpu() - used


def measure(
    db: tuple[str, sa.Engine, str | None], total: int, late: int, rounds: int
) -> dict[str, list[float]]:
    url, engine, schema = db
    wf = isp.workflow().with_clock(acctstate.FixedClock(NOW))
    policy = AutomationPolicy(wf, ladder=reference_ladder())
    store = SqlStore(wf, engine, facts=CUSTOMERS)
    store.create_schema()
    HOST.create_all(engine)
    load_book(store, total, late)
    facts = "customers" if schema is None else f"{schema}.customers"
    runs: dict[str, Callable[[], object]] = {
        "run_automation": lambda: store.run_automation(policy, now=NOW),
        "1 worker": lambda: run_partitioned(
            url, wf, policy, now=NOW, workers=1, facts=facts, schema=schema
        ),
        "2 workers": lambda: run_partitioned(
            url, wf, policy, now=NOW, workers=2, facts=facts, schema=schema
        ),
    }
    out: dict[str, list[float]] = {name: [] for name in runs}
    out.update({f"{name} cpu": [] for name in runs})
    for _ in range(rounds):
        for name, run in runs.items():
            reset(store)
            with engine.begin() as conn:  # the same state for each: fresh statistics
                if engine.dialect.name == "postgresql":
                    conn.execute(sa.text("ANALYZE"))
            wall, used = timed(run)
            out[name].append(wall)
            out[f"{name} cpu"].append(used)
            assert store.load(f"C-{0:07d}").version == 1  # the late ones moved
    return out


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small book, one round")
    parser.add_argument("--accounts", type=int, help="accounts in the book")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "ACCTSTATE_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="one database only")
    args = parser.parse_args()
    total = args.accounts or (20_000 if args.quick else 200_000)
    late = total // 5
    rounds = 1 if args.quick else args.rounds
    print(
        f"partitioned nightly run: {late:,} of {total:,} stored accounts suspended, "
        f"{rounds} rounds, {os.cpu_count()} CPUs"
    )
    print(
        f"{'backend':<10} {'run_automation':>22} {'1 worker':>22} {'2 workers':>22} {'speed-up':>8}"
    )
    why = reachable(args.pg_url)
    with tempfile.TemporaryDirectory() as tmp:
        backends: list[tuple[str, Callable[[], object]]] = []
        if args.only != "sqlite" and why is None:
            backends.append(("postgres", lambda: pg_db(args.pg_url)))
        if args.only != "postgres":
            backends.append(("sqlite", lambda: sqlite_db(tmp)))
        for name, make in backends:
            with make() as db:  # type: ignore[attr-defined]
                r = measure(db, total, late, rounds)
            gain = statistics.median(r["1 worker"]) / statistics.median(r["2 workers"])
            print(
                f"{name:<10} {spread(r['run_automation']):>22} {spread(r['1 worker']):>22} "
                f"{spread(r['2 workers']):>22} {gain:>7.2f}x"
            )
            cpus = [
                statistics.median(r[f"{k} cpu"])
                for k in ("run_automation", "1 worker", "2 workers")
            ]
            print(f"{'  cpu':<10} {cpus[0]:>20.2f} s {cpus[1]:>20.2f} s {cpus[2]:>20.2f} s")
    print("speed-up = 1 worker time / 2 workers time; cpu = client CPU seconds (median;")
    print("this process and the workers, process start-up included; not the database's)")
    if why is not None and args.only != "sqlite":
        print(f"PostgreSQL not measured ({args.pg_url}): {why}")


if __name__ == "__main__":
    main()
