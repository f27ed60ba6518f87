"""Firing on a held account: the same change with no hold and with three standing holds.

Three candidates, interleaved round by round, each the same two fires (``ban``, then
``lift_ban``) on an ``Account`` with history:

* a workflow declaring no hold types (the workflow as it was before holds);
* the same workflow with the standard hold types declared, no hold standing;
* that workflow, on an account with three standing holds (billing and service held).

The goals: declaring hold types costs an account with no hold nothing (within 1.05x of
the workflow with none), and three standing holds stay within 1.3x of no hold.

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
BARE = "wf.fire, Account, no hold types"
NONE = "wf.fire, Account, no holds"
THREE = "wf.fire, Account, three holds"


def measure(quick: bool = False) -> list[Figure]:
    """Run the candidates and return the summary figures (and print the details)."""
    number, rounds = (300, 5) if quick else (2_000, 21)
    plain = isp.workflow()
    wf = plain.with_holds(STANDARD_HOLDS)
    box: dict[str, Any] = {}

    def reset() -> None:
        box["bare"] = plain.open("A-0", "active", at=T0, imported=True)
        box["free"] = wf.open("A-1", "active", at=T0, imported=True)
        held = box["held"] = wf.open("A-2", "active", at=T0, imported=True)
        for name in ("manual", "credit", "vacation"):
            place_hold(wf, held, name, at=T0)

    def bare() -> None:
        plain.fire(box["bare"], "ban", at=T0)
        plain.fire(box["bare"], "lift_ban", at=T0)

    def free() -> None:
        wf.fire(box["free"], "ban", at=T0)
        wf.fire(box["free"], "lift_ban", at=T0)

    def held() -> None:
        wf.fire(box["held"], "ban", at=T0)
        wf.fire(box["held"], "lift_ban", at=T0)

    cands = {BARE: bare, NONE: free, THREE: held}
    reset()
    for fn in cands.values():
        fn()
    times = interleave(cands, rounds=rounds, number=number, clock=timeit.default_timer, setup=reset)
    for name, secs in times.items():
        print(f"  {name:<32} {Spread.of([t / 2 * 1e6 for t in secs]).text()} us")
    declared = ratios(times, NONE, BARE)
    r = ratios(times, THREE, NONE)
    return [
        Figure(
            "fire, hold types but no hold / no hold types",
            f"{declared.text()}x",
            "<= 1.05x",
            declared.median <= 1.05,
        ),
        Figure("fire, three holds / no holds", f"{r.text()}x", "<= 1.3x", r.median <= 1.3),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    print_figures(measure(parser.parse_args().quick))
