"""Firing one trigger: acctstate vs a bare `transitions` trigger vs a hand-written dict.

All three do the same change on the same graph (the reference ISP workflow) with the same
guard call (`balance_settled`): `settle` from active dunning pending back to active, then
`escalate_dunning` to go round again. Prints microseconds per fire and the ratios, then
the memory each approach adds per account.

    .venv/bin/python benchmarks/bench_engine.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import timeit
import tracemalloc
from decimal import Decimal
from typing import Any

from transitions import Machine

from acctstate.guards import GuardContext, balance_settled
from acctstate.presets import isp

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


class Row:
    """A host object: what a billing app's ORM row looks like to us.

    No ``__slots__``: `transitions` injects methods into its models, so it needs a
    ``__dict__`` (acctstate does not).
    """

    def __init__(self, i: int) -> None:
        self.id = f"A-{i}"
        self.status = 10
        self.state = "10"
        self.balance = Decimal(0)


def main(quick: bool) -> None:
    number, repeat = (1_000, 3) if quick else (2_000, 40)
    wf = isp.workflow()
    guard = balance_settled()

    acct = Row(0)

    def through_acctstate() -> None:
        wf.fire(acct, "settle", at=T0)
        wf.fire(acct, "escalate_dunning", at=T0)

    raw_model = Row(1)
    machine = Machine(
        model=raw_model,
        states=[str(s.code) for s in wf.catalog],
        initial="10",
        auto_transitions=False,
        send_event=True,
    )
    for e in wf.transitions:
        conditions = [lambda ev: guard(GuardContext(ev.model, T0)) is None] if e.guards else []
        machine.add_transition(
            e.trigger, str(e.source.code), str(e.dest.code), conditions=conditions
        )

    def through_transitions() -> None:
        raw_model.settle()  # type: ignore[attr-defined]
        raw_model.escalate_dunning()  # type: ignore[attr-defined]

    table: dict[tuple[int, str], tuple[int, Any]] = {}
    for e in wf.transitions:
        table.setdefault((e.source.code, e.trigger), (e.dest.code, guard if e.guards else None))
    hand = Row(2)

    def by_hand() -> None:
        for trig in ("settle", "escalate_dunning"):
            dest, g = table[(hand.status, trig)]
            if g is None or g(GuardContext(hand, T0)) is None:
                hand.status = dest

    # Interleave the candidates round by round and keep each one's best round, so a
    # busy machine slows them alike instead of skewing the ratio.
    candidates = {
        "acctstate wf.fire": through_acctstate,
        "bare transitions trigger": through_transitions,
        "hand-written dict lookup": by_hand,
    }
    results = dict.fromkeys(candidates, float("inf"))
    for _ in range(repeat):
        for name, fn in candidates.items():
            results[name] = min(results[name], timeit.timeit(fn, number=number) / number / 2)
    base = results["bare transitions trigger"]
    print("per fire (best of runs):")
    for name, secs in results.items():
        print(f"  {name:<28} {secs * 1e6:7.2f} us   {secs / base:5.2f}x transitions")
    ratio = results["acctstate wf.fire"] / base
    print(f"fire / bare transitions = {ratio:.2f} (target <= 1.5)")

    n = 2_000 if quick else 20_000
    print(f"memory added per account ({n} accounts, tracemalloc):")
    for label, attach in (("acctstate (fire once each)", False), ("transitions add_model", True)):
        rows = [Row(i) for i in range(n)]
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        if attach:
            for r in rows:
                machine.add_model(r, initial="1")
        else:
            for r in rows:
                wf.fire(r, "settle", at=T0)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(f"  {label:<28} {(after - before) / n:9.1f} bytes/account")
        if attach:
            for r in rows:
                machine.remove_model(r)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    main(parser.parse_args().quick)
