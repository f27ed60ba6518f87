"""The sweep on Dask: every partition of the accounts runs the column-wise sweep
through ``map_partitions``, on whatever scheduler the caller uses (a
``distributed`` cluster of worker processes, threads, or in process).

Only the job's text and a reference to a module-level function go into the task
graph, so it pickles for worker processes without shipping any code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from acctstate.operations.automation import AutomationPolicy
from acctstate.values.errors import InvalidArgument, MissingDependency
from acctstate.world.distributed._frame import job_text, sweep_job

__all__ = ["dask_sweep"]


def _dask_dataframe() -> Any:
    try:
        import dask.dataframe  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise MissingDependency(
            "dask.dataframe", needed_for="dask_sweep", install="pip install acctstate[dask]"
        ) from None
    return dask.dataframe


def dask_sweep(
    ddf: Any,
    policy: AutomationPolicy | Sequence[AutomationPolicy],
    *,
    now: dt.datetime,
    scale: int = 2,
) -> Any:
    """Plan the sweep of a Dask DataFrame of accounts, partition by partition.

    Every partition runs the column-wise sweep ([`sweep_frame`][acctstate.distributed.sweep_frame]),
    so the result is the one a single machine gives for the same book. The policies and their
    workflow travel to the workers as plain text (the workflow in its file form).

    Args:
        ddf: the accounts (``id``, ``status`` and the columns of
            [`sweep_columns`][acctstate.automation.sweep_columns]).
        policy: one policy, or one per account class.
        now: the instant of the sweep (timezone-aware).
        scale: decimals of integer money columns (2: cents).

    Returns:
        A lazy Dask DataFrame with the columns of
        [`CHANGE_COLUMNS`][acctstate.distributed.CHANGE_COLUMNS], one partition per partition of
        ``ddf``; ``.compute()`` runs it.

    Raises:
        MissingDependency: Dask is not installed (``pip install acctstate[dask]``).
        InvalidArgument: no ``id`` or ``status`` column, a column the sweep refuses
            (checked on the column types before anything runs), a naive ``now``, or
            a policy with the daily auto-apply (the frame has no invoice table).
        ConfigError: the workflow has a guard or effect rule a workflow file cannot
            name (not registered), so it cannot travel.
    """
    _dask_dataframe()
    text = job_text(policy, now=now, scale=scale)
    if not hasattr(ddf, "map_partitions") or not hasattr(ddf, "dtypes"):
        raise InvalidArgument("ddf", type(ddf).__name__, "a Dask DataFrame")
    import pandas as pd  # type: ignore[import-untyped]

    # No rows, the partitions' column types: the same code refuses here, at once, what
    # every worker would refuse, and gives the result's columns and types.
    empty = pd.DataFrame({name: pd.Series([], dtype=t) for name, t in ddf.dtypes.items()})
    meta = sweep_job(empty, text)
    return ddf.map_partitions(sweep_job, text, meta=meta)
