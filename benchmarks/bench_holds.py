"""Firing on a held account: the same change with no hold and with three standing holds.

The goal: ``fire`` on an account with three standing holds (billing and service held)
within 1.3x of the same fire on an account with none, interleaved round by round.

    .venv/bin/python benchmarks/bench_holds.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import Figure, Spread, interleave, print_figures, ratios

from acctstate.holds import STANDARD_HOLDS, place_hold
from acctstate.presets import isp

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
NONE = "wf.fire, Account, no holds"
THREE = "wf.fire, Account, three holds"


def measure(quick: bool = False) -> list[Figure]:
    """Run both candidates and return the summary figure (and print the details)."""
    number, rounds = (300, 5) if quick else (2_000, 21)
    wf = isp.workflow().with_holds(STANDARD_HOLDS)
    box: dict[str, Any] = {}

    def reset() -> None:
        box["free"] = wf.open("A-1", "active", at=T0, imported=True)
        held = box["held"] = wf.open("A-2", "active", at=T0, imported=True)
        for name in ("manual", "credit", "vacation"):
            place_hold(wf, held, name, at=T0)

    def free() -> None:
        wf.fire(box["free"], "ban", at=T0)
        wf.fire(box["free"], "lift_ban", at=T0)

    def held() -> None:
        wf.fire(box["held"], "ban", at=T0)
        wf.fire(box["held"], "lift_ban", at=T0)

    cands = {NONE: free, THREE: held}
    reset()
    for fn in cands.values():
        fn()
    times = interleave(cands, rounds=rounds, number=number, clock=timeit.default_timer, setup=reset)
    for name, secs in times.items():
        print(f"  {name:<32} {Spread.of([t / 2 * 1e6 for t in secs]).text()} us")
    r = ratios(times, THREE, NONE)
    return [Figure("fire, three holds / no holds", f"{r.text()}x", "<= 1.3x", r.median <= 1.3)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    print_figures(measure(parser.parse_args().quick))
