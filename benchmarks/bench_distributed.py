"""The sweep beyond one machine: Spark (``local[2]``) and a Dask cluster of two worker
processes against the single-process column-wise sweep of the same book, in one run.

For each size the three run in turn, each round, and the best wall time of each is
kept (wall time, not CPU time: the work happens in other processes). The books live
where each engine reads them before the clock starts (a cached Spark DataFrame, a
persisted Dask DataFrame, a pandas DataFrame), and each run ends with every planned
change materialised where the engine keeps it: Spark runs the plan into its ``noop``
sink, Dask persists the result on the workers, the single process builds the frame.
Collecting the result to the driver is timed on its own at the largest size.

The break-even size comes from a straight line ``t = fixed + per_row * n`` fitted to
each engine's times: the size above which it would beat the single process, if its
per-row cost is lower at all.

Run: ``.venv/bin/python benchmarks/bench_distributed.py [--quick]`` (needs Java 17 for
Spark; prints the machine's load average, which the ratios depend on).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from acctstate.automation import AutomationPolicy, reference_ladder, sweep_columns
from acctstate.distributed import dask_sweep, spark_sweep, sweep_frame
from acctstate.presets import isp

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
POLICY = AutomationPolicy(
    isp.workflow(),
    ladder=reference_ladder(),
    trial_end="end_trial",
    contract_expiry="expire_contract",
    archive="archive",
)
LADDER = [10, 11, 12, 13, -11, -12, -13]
CLOSED = [-1, -2, -3, -4]


def book(n: int, seed: int = 7) -> pd.DataFrame:
    """A book shaped like a real one (as in bench_sweep): most accounts active and paid,
    some late, some in dunning, trials and closed accounts; ids and UTC dates."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(5, size=n, p=[0.80, 0.10, 0.05, 0.02, 0.03])
    status = np.ones(n, dtype=np.int64)
    dunning = kind == 2
    status[dunning] = rng.choice(LADDER, size=int(dunning.sum()))
    status[kind == 3] = 41
    status[kind == 4] = rng.choice(CLOSED, size=int((kind == 4).sum()))
    owes = (kind == 1) | (dunning & (rng.random(n) < 0.7))
    now = pd.Timestamp(NOW)
    day = pd.Timedelta(days=1)
    late = pd.to_timedelta(rng.integers(-5, 120, size=n), unit="D")
    return pd.DataFrame(
        {
            "id": [f"A-{i:07d}" for i in range(n)],
            "status": status,
            "balance": np.where(owes, rng.integers(1, 50_000, size=n), 0),
            "unpaid_invoices": np.where(owes, rng.integers(1, 4, size=n), 0),
            "payment_method": rng.random(n) < 0.8,
            "oldest_unpaid_at": pd.Series(now - late).where(owes),
            "status_since": now - pd.to_timedelta(rng.integers(0, 400 * 24, size=n), unit="h"),
            "trial_ends_at": pd.Series(now + rng.integers(-10, 10, size=n) * day).where(kind == 3),
        }
    )


def best_of(candidates: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Each candidate's best wall time, running them in turn each round so a busy
    machine slows them alike instead of skewing the ratio."""
    times = dict.fromkeys(candidates, float("inf"))
    for _ in range(repeat):
        for name, fn in candidates.items():
            t = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - t)
    return times


def fit(sizes: list[int], times: list[float]) -> tuple[float, float]:
    """``(fixed seconds, seconds per row)`` of the least-squares line through the times."""
    per_row, fixed = np.polyfit(np.array(sizes, dtype=float), np.array(times), 1)
    return float(fixed), float(per_row)


def spark_session() -> Any:
    """A local[2] session whose Python workers run this interpreter."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("acctstate-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.default.parallelism", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 300_000, 1_000_000]
    repeat = 2 if args.quick else 3
    partitions = 4  # two per core: what Spark and Dask advise for a start

    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
    warnings.filterwarnings("ignore", "Sending large graph")
    from distributed import Client, LocalCluster, wait

    start = time.perf_counter()
    cluster = LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    )
    client = Client(cluster)
    t_dask_start = time.perf_counter() - start
    start = time.perf_counter()
    spark = spark_session()
    t_spark_start = time.perf_counter() - start

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"start-up: Spark local[2] {t_spark_start:.1f} s, Dask LocalCluster {t_dask_start:.1f} s")
    print(f"{'accounts':>10} {'single':>9} {'Spark':>9} {'Dask':>9} {'Spark/1':>8} {'Dask/1':>7}")
    found: dict[str, list[float]] = {"single": [], "spark": [], "dask": []}
    for n in sizes:
        frame = book(n)
        sdf = spark.createDataFrame(frame).repartition(partitions).cache()
        sdf.count()
        ddf = client.persist(dd_from(frame, partitions))
        wait(ddf)

        def on_spark(sdf: Any = sdf) -> None:
            spark_sweep(sdf, POLICY, now=NOW).write.format("noop").mode("overwrite").save()

        def on_dask(ddf: Any = ddf) -> None:
            wait(client.persist(dask_sweep(ddf, POLICY, now=NOW)))

        def single(frame: pd.DataFrame = frame) -> None:
            sweep_frame(frame, POLICY, now=NOW)

        times = best_of({"single": single, "spark": on_spark, "dask": on_dask}, repeat)
        for name, t in times.items():
            found[name].append(t)
        print(
            f"{n:>10,} {times['single']:>8.2f}s {times['spark']:>8.2f}s {times['dask']:>8.2f}s "
            f"{times['spark'] / times['single']:>7.1f}x {times['dask'] / times['single']:>6.1f}x"
        )
        if n == sizes[-1]:
            t = time.perf_counter()
            columns_only = sweep_columns(frame, POLICY, now=NOW)
            t_columns = time.perf_counter() - t
            t = time.perf_counter()
            got = spark_sweep(sdf, POLICY, now=NOW).toArrow()
            t_spark_collect = time.perf_counter() - t
            t = time.perf_counter()
            dask_rows = dask_sweep(ddf, POLICY, now=NOW).compute()
            t_dask_collect = time.perf_counter() - t
            rows = len(sweep_frame(frame, POLICY, now=NOW))
            print(
                f"at {n:,}: sweep_columns alone {t_columns:.2f} s "
                f"({len(columns_only):,} transitions); with the result collected to the "
                f"driver: Spark {t_spark_collect:.2f} s, Dask {t_dask_collect:.2f} s "
                f"(same {rows:,} rows: {got.num_rows == rows == len(dask_rows)})"
            )
        sdf.unpersist()
        del ddf

    single = fit(sizes, found["single"])
    for name in ("spark", "dask"):
        fixed, per_row = fit(sizes, found[name])
        line = (
            f"{name}: fixed {fixed:.2f} s, {per_row * 1e6:.2f} us/row "
            f"(single process: fixed {single[0]:.2f} s, {single[1] * 1e6:.2f} us/row)"
        )
        if per_row < single[1]:
            even = (fixed - single[0]) / (single[1] - per_row)
            line += f"; break-even at about {max(even, 0):,.0f} accounts"
        else:
            line += "; no break-even on this machine (the per-row cost is not lower)"
        print(line)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    spark.stop()
    client.close()
    cluster.close()


def dd_from(frame: pd.DataFrame, partitions: int) -> Any:
    import dask.dataframe as dd

    return dd.from_pandas(frame, npartitions=partitions)


if __name__ == "__main__":
    main()
