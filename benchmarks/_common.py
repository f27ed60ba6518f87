"""What the benchmarks share: interleaved rounds, medians with their spread, and the
figure rows ``benchmarks/run.py`` prints as one table.

Candidates run in turn round by round, so a busy machine slows them alike; a ratio is
taken round by round against the baseline of the same round, and reported as the median
with the min-max spread of those per-round ratios.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Figure", "Spread", "interleave", "print_figures", "ratios"]


@dataclass(frozen=True)
class Spread:
    """A median and the min-max of the values it was taken over."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def scaled(self, k: float) -> Spread:
        return Spread(self.median * k, self.low * k, self.high * k)

    def text(self, fmt: str = "{:.2f}") -> str:
        return f"{fmt.format(self.median)} ({fmt.format(self.low)}-{fmt.format(self.high)})"


@dataclass(frozen=True)
class Figure:
    """One row of the summary table: what was measured, its value, the goal, met or not."""

    name: str
    value: str
    goal: str
    met: bool | None


def interleave(
    candidates: dict[str, Callable[[], Any]],
    *,
    rounds: int,
    number: int = 1,
    clock: Callable[[], float] = time.perf_counter,
    setup: Callable[[], Any] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one value per round, the candidates in turn.

    ``setup`` (untimed) runs before every timed call batch.
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            if setup is not None:
                setup()
            start = clock()
            for _ in range(number):
                fn()
            times[name].append((clock() - start) / number)
    return times


def ratios(times: dict[str, list[float]], of: str, to: str) -> Spread:
    """Round-by-round ``times[of] / times[to]``, as a median and its spread."""
    return Spread.of([a / b for a, b in zip(times[of], times[to], strict=True)])


def print_figures(figures: list[Figure]) -> None:
    """The figures as one plain-text table."""
    width = max(len(f.name) for f in figures)
    vwidth = max(len(f.value) for f in figures)
    for f in figures:
        mark = "" if f.met is None else ("met" if f.met else "NOT met")
        print(f"  {f.name:<{width}}  {f.value:<{vwidth}}  {f.goal:<14} {mark}")


def collected() -> None:
    """A full collection, so one candidate's garbage is not another's cost."""
    gc.collect()
