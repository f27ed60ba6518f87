"""Sweep a partitioned book on a Dask cluster of worker processes (``dask_sweep``).

The column-wise sweep is a pure function of a batch of accounts, so each partition is
swept on its own, in another process, and the results concatenated: the same decisions
as sweeping the whole book at once on this machine (checked at the end). The policy and
its workflow reach the workers as text (the workflow in its file form), never as pickled
objects. The cluster here is local (two worker processes); point a
``distributed.Client`` at a real one to scale out.
"""

from __future__ import annotations

import datetime as dt

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster

from acctstate.automation import AutomationPolicy, reference_ladder
from acctstate.distributed import dask_sweep, sweep_frame
from acctstate.presets import isp

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def make_book(n: int, seed: int = 11) -> pd.DataFrame:
    """A small book: mostly active accounts, some late, some in dunning, some closed."""
    rng = np.random.default_rng(seed)
    status = rng.choice([1, 1, 1, 1, 10, 12, -12, -2], size=n)
    owes = rng.random(n) < 0.3
    late = pd.to_timedelta(rng.integers(0, 100, size=n), unit="D")
    return pd.DataFrame(
        {
            "id": [f"A-{i:05d}" for i in range(n)],
            "status": status,
            "balance": np.where(owes, rng.integers(1, 20_000, size=n), 0),
            "unpaid_invoices": np.where(owes, 1, 0),
            "payment_method": rng.random(n) < 0.7,
            "oldest_unpaid_at": pd.Series(pd.Timestamp(NOW) - late).where(owes),
            "status_since": pd.Timestamp(NOW)
            - pd.to_timedelta(rng.integers(0, 400, size=n), unit="D"),
        }
    )


def plain(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    """The rows as tuples, missing values as None (whatever dtypes the engine chose)."""
    values = frame.reset_index(drop=True).astype(object)
    return list(values.where(values.notna(), None).itertuples(index=False, name=None))


def main() -> None:
    policy = AutomationPolicy(isp.workflow(), ladder=reference_ladder(), archive="archive")
    book = make_book(4_000)
    with (
        LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        frame = dd.from_pandas(book, npartitions=4)
        changes = dask_sweep(frame, policy, now=NOW).compute()
        workers = len(client.scheduler_info()["workers"])
    whole = sweep_frame(book, policy, now=NOW)
    same = plain(changes) == plain(whole)
    print(f"swept {len(book):,} accounts in {frame.npartitions} partitions on {workers} workers")
    moved = changes[changes["kind"] == "change"]
    print(f"{len(moved):,} transitions planned for {moved['id'].nunique():,} accounts")
    for rule, count in moved["rule"].value_counts().sort_index().items():
        print(f"  {rule:<14} {count:>6,}")
    print(f"same as one sweep of the whole book: {same}")
    if not same:
        raise SystemExit("partitioned sweep disagrees with the whole-book sweep")


if __name__ == "__main__":
    main()
