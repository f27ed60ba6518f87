"""Peak memory of a nightly run over a large book: bounded by the chunk, not the book.

A SQLite file holds ``--accounts`` stored accounts (default 1,000,000) with their facts in
a host ``customers`` table, one in five late enough to be suspended (the book of
``bench_store.py --only nightly``). The book is written by a child process; a second
child process runs ``SqlStore.run_automation`` over it and reports its peak resident
set size (``resource.getrusage``) before and after the run, and the peak Python heap
of the run (``tracemalloc``, a second run on the reset book). The aim is a peak RSS
under 300 MB.

    .venv/bin/python benchmarks/bench_memory.py [--accounts N] [--chunk N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _store(path: str) -> object:
    import bench_store as b

    import acctstate
    from acctstate.presets import isp
    from acctstate.store.sql import SqlStore, create_engine

    wf = isp.workflow().with_clock(acctstate.FixedClock(b.NOW + b.DAY))
    return SqlStore(wf, create_engine(f"sqlite:///{path}"), facts=b.CUSTOMERS)


def load(path: str, accounts: int) -> None:
    """Write the book (run in a child process)."""
    import bench_store as b

    from acctstate.world.store._schema import unprotect_history

    store = _store(path)
    store.create_schema()  # type: ignore[attr-defined]
    engine = store.engine  # type: ignore[attr-defined]
    b.HOST.create_all(engine)
    with engine.begin() as conn:
        unprotect_history(conn)
    b.load_book(store, accounts, accounts // 5)  # type: ignore[arg-type]


def run(path: str, chunk: int) -> None:
    """Run the automation twice and print the figures as JSON (a child process)."""
    import bench_store as b

    from acctstate.automation import AutomationPolicy, reference_ladder

    store: object = _store(path)
    policy = AutomationPolicy(store.workflow, ladder=reference_ladder())  # type: ignore[attr-defined]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    report = store.run_automation(policy, now=b.NOW, chunk=chunk)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    b.reset(store)  # type: ignore[arg-type]
    tracemalloc.start()
    store.run_automation(policy, now=b.NOW, chunk=chunk)  # type: ignore[attr-defined]
    heap = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "examined": report.examined,
                "changes": report.changes,
                "seconds": seconds,
                "rss_before_mb": before / 1024,
                "rss_peak_mb": after / 1024,
                "heap_peak_mb": heap / 2**20,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--child", choices=("load", "run"), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "load":
        load(args.path, args.accounts)
        return
    if args.child == "run":
        run(args.path, args.chunk)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "book.db")
        me = [sys.executable, __file__, "--path", path, "--accounts", str(args.accounts)]
        start = time.perf_counter()
        subprocess.run([*me, "--child", "load"], check=True)
        print(f"book of {args.accounts:,} accounts written in {time.perf_counter() - start:.0f}s")
        out = subprocess.run(
            [*me, "--child", "run", "--chunk", str(args.chunk)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"run_automation over {r['examined']:,} accounts ({r['changes']:,} changes, "
            f"chunk {args.chunk:,}) in {r['seconds']:.1f}s: peak RSS {r['rss_peak_mb']:.0f} MB "
            f"(before the run {r['rss_before_mb']:.0f} MB), peak Python heap "
            f"{r['heap_peak_mb']:.0f} MB; aim: peak RSS < 300 MB"
        )


if __name__ == "__main__":
    main()
