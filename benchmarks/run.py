"""Every benchmark in one run, and one table with the goal beside each figure.

Each figure is a ratio against a baseline measured in the same run (interleaved round
by round; the median, with the min-max spread in brackets), or a size. Timings on a
shared machine are noisy: read the spread, and re-run when a figure looks off.

    .venv/bin/python benchmarks/run.py [--quick] [--only engine,sweep,invoices,batch]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_batch
import bench_engine
import bench_holds
import bench_invoices
import bench_scopes
import bench_sweep
from _common import Figure, print_figures

PARTS = {
    "engine": bench_engine,
    "holds": bench_holds,
    "scopes": bench_scopes,
    "sweep": bench_sweep,
    "invoices": bench_invoices,
    "batch": bench_batch,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--only", default=",".join(PARTS), help="parts to run, comma-separated")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="the large batch (default 1,000,000)"
    )
    args = parser.parse_args()
    figures: list[Figure] = []
    for name in args.only.split(","):
        print(f"== {name}")
        start = time.perf_counter()
        if name == "batch":
            figures += bench_batch.measure(args.quick, args.batch_size)
        else:
            figures += PARTS[name].measure(args.quick)
        print(f"   ({time.perf_counter() - start:.0f} s)")
    print()
    print(f"== summary (Python {platform.python_version()}{', quick' if args.quick else ''})")
    print_figures(figures)


if __name__ == "__main__":
    main()
