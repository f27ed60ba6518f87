"""The sweep benchmark's baselines express the library's own rules: hand-written NumPy,
polars and a plain loop reach the statuses the column-wise and per-account sweeps reach,
on books of several seeds. A rule change that the baselines miss fails here, not as a
quiet "same final statuses: False" in a benchmark run."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_sweep", BENCH / "bench_sweep.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_the_baselines_reach_the_sweeps_statuses(bench, seed: int) -> None:  # type: ignore[no-untyped-def]
    from acctstate.automation import sweep, sweep_columns

    cols = bench.book(3_000, seed=seed)
    columns = sweep_columns(cols, bench.POLICY, now=bench.NOW).status
    assert (bench.hand_numpy(cols) == columns).all()
    frame = bench.polars_frame(cols)
    if frame is not None:
        assert (np.asarray(bench.hand_polars(frame)) == columns).all()
    rows = range(0, 3_000, 7)
    book = bench.accounts(cols, rows)
    loop = bench.hand_loop(book, bench.NOW)
    plan = sweep(book, bench.POLICY, now=bench.NOW)
    assert {
        p.account_id: [(c.trigger, c.dest.code) for c in p.changes] for p in plan if p.changes
    } == {k: [(t, d) for _, t, _, d in v] for k, v in loop.items()}
