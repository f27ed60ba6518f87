"""Run the column-wise sweep over a partitioned book with Dask (``map_partitions``).

The sweep is a pure function of a batch of accounts, so each partition is swept on its
own and the results concatenated: the same decisions as sweeping the whole book at once
(checked at the end). A synchronous local scheduler keeps this example fast; point
``dask.config.set(scheduler=...)`` or a ``distributed.Client`` at a cluster to scale out.
"""

from __future__ import annotations

import datetime as dt

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from acctstate.automation import AutomationPolicy, reference_ladder, sweep_columns
from acctstate.presets import isp

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
CHANGES = pd.DataFrame(
    {
        "id": pd.Series([], dtype=object),
        "hop": pd.Series([], dtype="int64"),
        "rule": pd.Series([], dtype=object),
        "trigger": pd.Series([], dtype=object),
        "source": pd.Series([], dtype="int64"),
        "dest": pd.Series([], dtype="int64"),
    }
)


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


def sweep_partition(part: pd.DataFrame, policy: AutomationPolicy) -> pd.DataFrame:
    """The function each worker runs: a partition in, its planned changes out."""
    return sweep_columns(part, policy, now=NOW).to_frame(ids=part["id"].to_numpy())


def main() -> None:
    policy = AutomationPolicy(isp.workflow(), ladder=reference_ladder(), archive="archive")
    book = make_book(4_000)
    frame = dd.from_pandas(book, npartitions=4)
    with dask.config.set(scheduler="synchronous"):
        changes = frame.map_partitions(sweep_partition, policy, meta=CHANGES).compute()
    whole = sweep_partition(book, policy)
    same = changes.reset_index(drop=True).equals(whole.reset_index(drop=True))
    print(f"swept {len(book):,} accounts in {frame.npartitions} partitions")
    print(f"{len(changes):,} transitions planned for {changes['id'].nunique():,} accounts")
    for rule, count in changes["rule"].value_counts().sort_index().items():
        print(f"  {rule:<14} {count:>6,}")
    print(f"same as one sweep of the whole book: {same}")
    if not same:
        raise SystemExit("partitioned sweep disagrees with the whole-book sweep")


if __name__ == "__main__":
    main()
