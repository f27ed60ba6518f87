"""The sweep on Spark: every partition of the accounts runs the column-wise sweep
through ``mapInArrow``.

Each task receives its rows as Arrow record batches and the job as text; it converts
the batches to pandas with nullable integer and boolean columns (so a missing value
stays missing instead of turning an integer column into floats), sweeps them, and
returns the planned changes as Arrow batches. Nothing but that text and a reference to
the module-level function below is shipped to the executors.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from acctstate.operations.automation import AutomationPolicy
from acctstate.values.errors import InvalidArgument, MissingDependency
from acctstate.world.distributed._frame import job_text, sweep_job

__all__ = ["spark_sweep", "sweep_batches"]

# Rows handed to one column-wise sweep: Spark cuts a partition into Arrow batches of
# 10,000 rows by default; gathering them amortises the fixed cost of a sweep while
# bounding a task's memory.
ROWS_PER_SWEEP = 1 << 18


def _pyspark_types() -> Any:
    try:
        import pyspark.sql.types  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise MissingDependency(
            "PySpark", needed_for="spark_sweep", install="pip install acctstate[spark]"
        ) from None
    return pyspark.sql.types


def _pyarrow() -> Any:
    try:
        import pyarrow  # type: ignore[import-untyped, unused-ignore]
    except ImportError:  # pragma: no cover - PySpark's Arrow path needs it too
        raise MissingDependency(
            "pyarrow", needed_for="spark_sweep", install="pip install acctstate[spark]"
        ) from None
    return pyarrow


def _nullable(arrow_type: Any) -> Any:
    """pandas nullable dtypes for Arrow integers and booleans (``None``: the default)."""
    import pandas as pd  # type: ignore[import-untyped]
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None


def _frame(table: Any) -> Any:
    return table.to_pandas(types_mapper=_nullable)


def _result_schema(id_type: Any) -> Any:
    pa = _pyarrow()
    return pa.schema(
        [
            ("id", id_type),
            ("kind", pa.string()),
            ("hop", pa.int64()),
            ("rule", pa.string()),
            ("trigger", pa.string()),
            ("source", pa.int64()),
            ("dest", pa.int64()),
            ("reason", pa.string()),
        ]
    )


def _sweep_table(text: str, batches: list[Any]) -> Any:
    pa = _pyarrow()
    table = pa.Table.from_batches(batches)
    out = sweep_job(_frame(table), text)
    schema = _result_schema(table.schema.field("id").type)
    return pa.RecordBatch.from_pandas(out, schema=schema, preserve_index=False)


def sweep_batches(text: str, batches: Iterable[Any]) -> Iterator[Any]:
    """Arrow record batches of accounts in, Arrow batches of planned changes out: the
    function every Spark task runs (``text`` is the job, see ``job_text``)."""
    pending: list[Any] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= ROWS_PER_SWEEP:
            yield _sweep_table(text, pending)
            pending, rows = [], 0
    if rows:
        yield _sweep_table(text, pending)


def _empty_frame(schema: Any) -> Any:
    """No rows, with the column types a task will see (to check them on the driver)."""
    import pandas as pd

    types = _pyspark_types()
    columns: dict[str, Any] = {}
    for field in schema.fields:
        t = field.dataType
        if isinstance(t, types.IntegralType):
            dtype: Any = "Int64"
        elif isinstance(t, types.BooleanType):
            dtype = "boolean"
        elif isinstance(t, types.TimestampNTZType):
            dtype = "datetime64[us]"
        elif isinstance(t, types.TimestampType):
            dtype = "datetime64[us, UTC]"
        elif isinstance(t, types.FractionalType) and not isinstance(t, types.DecimalType):
            dtype = "float64"
        else:
            dtype = object
        columns[field.name] = pd.Series([], dtype=dtype)
    return pd.DataFrame(columns)


def spark_sweep(
    df: Any,
    policy: AutomationPolicy | Sequence[AutomationPolicy],
    *,
    now: dt.datetime,
    scale: int = 2,
) -> Any:
    """Plan the sweep of a Spark DataFrame of accounts, partition by partition.

    Every partition runs the column-wise sweep ([`sweep_frame`][acctstate.distributed.sweep_frame]),
    so the result is the one a single machine gives for the same book. The policies and their
    workflow travel to the executors as plain text (the workflow in its file form); the
    executors need ``acctstate[spark]`` installed, not the host's code.

    Args:
        df: the accounts: an ``id`` column, ``status`` and the facts the rules read
            (see [`sweep_columns`][acctstate.automation.sweep_columns]): integer codes and
            counts, money as integer minor units or decimals, dates as ``TIMESTAMP``.
            Missing values (nulls) read as "no value".
        policy: one policy, or one per account class.
        now: the instant of the sweep (timezone-aware); every partition decides as of
            it, so a re-run of a failed task plans the same changes.
        scale: decimals of integer money columns (2: cents).

    Returns:
        A Spark DataFrame (lazy, like any transformation) with the columns of
        [`CHANGE_COLUMNS`][acctstate.distributed.CHANGE_COLUMNS]: ``id`` keeps the accounts' id
        type, ``hop``, ``source`` and ``dest`` are ``BIGINT``, the rest ``STRING``.

    Raises:
        MissingDependency: PySpark is not installed (``pip install acctstate[spark]``).
        InvalidArgument: no ``id`` or ``status`` column, a column of a type the sweep
            refuses (a ``DOUBLE`` balance, a ``TIMESTAMP_NTZ`` date ...), a naive
            ``now``, or a policy with the daily auto-apply (no invoice table).
        ConfigError: the workflow has a guard or effect rule a workflow file cannot
            name (not registered), so it cannot travel.
    """
    _pyspark_types()
    text = job_text(policy, now=now, scale=scale)
    names = [f.name for f in df.schema.fields]
    if "id" not in names:
        raise InvalidArgument("columns", sorted(names), "an 'id' column naming each account")
    # What every task would refuse, refused here at once with the same code.
    sweep_job(_empty_frame(df.schema), text)
    id_type = df.schema["id"].dataType.simpleString()
    schema = (
        f"id {id_type}, kind string, hop bigint, rule string, trigger string, "
        "source bigint, dest bigint, reason string"
    )
    return df.mapInArrow(functools.partial(sweep_batches, text), schema)
