"""The sweep beyond one machine: the column-wise sweep in the partitions of a Spark or
Dask DataFrame.

The column-wise sweep is a pure function of a batch of accounts and an instant, so a
book split into partitions is swept partition by partition with the same answer as in
one piece. [`spark_sweep`][acctstate.distributed.spark_sweep] (``pip install acctstate[spark]``) and
[`dask_sweep`][acctstate.distributed.dask_sweep] (``pip install acctstate[dask]``) run it on those
engines; [`sweep_frame`][acctstate.distributed.sweep_frame] is the function every partition runs, on
a pandas DataFrame.

The policies and their workflow reach the workers as plain text (the workflow in its
file form, see [`dump_workflow`][acctstate.config.dump_workflow]), never as pickled objects: a
workflow whose guards or effect rules a file cannot name is refused before anything
runs.

[`run_partitioned`][acctstate.distributed.run_partitioned] runs the store's nightly run the same
way: N worker processes, each over its own partition of the stored accounts (``pip install
acctstate[sql]``).
"""

from acctstate.world.distributed._dask import dask_sweep
from acctstate.world.distributed._frame import CHANGE_COLUMNS, sweep_frame
from acctstate.world.distributed._partition import run_partitioned
from acctstate.world.distributed._spark import spark_sweep

__all__ = ["CHANGE_COLUMNS", "dask_sweep", "run_partitioned", "spark_sweep", "sweep_frame"]
