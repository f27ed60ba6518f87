"""Layer 4, the outside world: workflow files, presets, stores, export (diagrams, frames,
notebook views), the sweep on Spark and Dask, simulation, the testing kit and the command
line.

Public paths: ``acctstate.config``, ``acctstate.presets``, ``acctstate.store``,
``acctstate.export``, ``acctstate.distributed``, ``acctstate.simulation``,
``acctstate.testing`` and ``acctstate.cli``.
"""

__all__: list[str] = []
