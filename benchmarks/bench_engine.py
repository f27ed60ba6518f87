"""Firing one trigger: acctstate against a bare `transitions` trigger on the same graph.

The workload users run: the reference ISP workflow, ``ban`` then ``lift_ban`` (active ->
temporary ban -> active) on an ``acctstate.Account`` with a history, two flag effects per
fire (stop/start billing usage and deprovision/provision), hooks absent. Measured in the
same run, the candidates interleaved round by round:

* floor: a dict lookup and the edge's (empty) guard list, by hand;
* bare ``transitions`` trigger: a model attached to a ``Machine`` with the same states
  and edges, no callbacks, no conditions (``model.ban()``);
* python-statemachine: the same graph as a ``StateMachine`` class, ``sm.send("ban")``
  (skipped when the package is absent);
* ``wf.plan`` on the Account (nothing changes);
* ``wf.fire`` on a host object with no history (edges with effects);
* ``wf.fire`` on a host object, edges with no effects and a guard (``escalate_dunning``
  and ``settle``);
* ``wf.fire`` on the Account with history (the goal: <= 1.5x the bare trigger);
* the same, with a fresh instant per fire (no effect-key prefix can be reused).

Ratios are taken round by round against the bare trigger of the same round; the table
gives the median with the min-max spread. Then the memory an Account with ten changes
of history holds (tracemalloc), and the memory a host object gains from being fired.

    .venv/bin/python benchmarks/bench_engine.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import timeit
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from transitions import Machine

sys.path.insert(0, str(Path(__file__).parent))

from _common import Figure, Spread, interleave, print_figures, ratios

import acctstate
from acctstate.presets import isp

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
BARE = "bare transitions trigger"
HEADLINE = "wf.fire, Account with history"


class Row:
    """A host object: what a billing app's ORM row looks like to us.

    No ``__slots__``: `transitions` injects methods into its models, so it needs a
    ``__dict__`` (acctstate does not).
    """

    def __init__(self, i: int, status: int = 1) -> None:
        self.id = f"A-{i}"
        self.status = status
        self.state = str(status)
        self.balance = Decimal(0)


def _statemachine(wf: acctstate.Workflow) -> Any | None:
    """The ISP graph as a python-statemachine class, or ``None`` when not installed."""
    try:
        from statemachine import State, StateMachine
    except ImportError:
        return None
    names = {s.code: f"s{s.code}".replace("-", "m") for s in wf.catalog}
    terminal = {s.code for s in wf.catalog if s.terminal}
    states = {c: State(value=c, initial=(c == 1), final=c in terminal) for c in names}
    body: dict[str, Any] = {names[c]: s for c, s in states.items()}
    # statuses only an import can start in are not reachable from the initial one
    body["validate_disconnected_states"] = False
    events: dict[str, Any] = {}
    for e in wf.transitions:
        t = states[e.source.code].to(states[e.dest.code])
        events[e.trigger] = t if e.trigger not in events else events[e.trigger] | t
    body.update(events)
    try:
        cls = type("ISP", (StateMachine,), body)
        return cls(allow_event_without_transition=False)
    except Exception as exc:  # the comparison is optional; say why it is missing
        print(f"(python-statemachine skipped: {type(exc).__name__}: {exc})")
        return None


def candidates(wf: acctstate.Workflow) -> tuple[dict[str, Callable[[], None]], Callable[[], None]]:
    """The candidates (each does two fires) and the per-round reset."""
    table = {(e.source.code, e.trigger): (e.dest.code, e.guards) for e in wf.transitions}
    hand = Row(0)

    def floor() -> None:
        for trig in ("ban", "lift_ban"):
            dest, guards = table[(hand.status, trig)]
            if all(g(hand) is None for g in guards):
                hand.status = dest

    raw = Row(1)
    machine = Machine(
        model=raw,
        states=[str(s.code) for s in wf.catalog],
        initial="1",
        auto_transitions=False,
    )
    for e in wf.transitions:
        machine.add_transition(e.trigger, str(e.source.code), str(e.dest.code))

    def bare() -> None:
        raw.ban()  # type: ignore[attr-defined]
        raw.lift_ban()  # type: ignore[attr-defined]

    out: dict[str, Callable[[], None]] = {"floor: dict lookup + guards": floor, BARE: bare}
    sm = _statemachine(wf)
    if sm is not None:

        def psm() -> None:
            sm.send("ban")
            sm.send("lift_ban")

        out["python-statemachine event"] = psm

    box: dict[str, Any] = {}

    def reset() -> None:
        box["acct"] = wf.open("A-1", "active", at=T0, imported=True)
        box["fresh"] = wf.open("A-2", "active", at=T0, imported=True)
        box["row"] = Row(2)
        box["ladder"] = Row(3)
        box["at"] = iter([T0 + dt.timedelta(microseconds=i) for i in range(1, 5_000)])

    reset()

    def plan() -> None:
        wf.plan(box["acct"], "ban", at=T0)
        wf.plan(box["acct"], "ban", at=T0)

    def host_effects() -> None:
        row = box["row"]
        wf.fire(row, "ban", at=T0)
        wf.fire(row, "lift_ban", at=T0)

    def host_no_effects() -> None:
        row = box["ladder"]
        wf.fire(row, "escalate_dunning", at=T0)
        wf.fire(row, "settle", at=T0)

    def headline() -> None:
        acct = box["acct"]
        wf.fire(acct, "ban", at=T0)
        wf.fire(acct, "lift_ban", at=T0)

    def fresh_instants() -> None:
        acct = box["fresh"]
        ats = box["at"]
        wf.fire(acct, "ban", at=next(ats))
        wf.fire(acct, "lift_ban", at=next(ats))

    out.update(
        {
            "wf.plan, Account with history": plan,
            "wf.fire, host object, no history": host_effects,
            "wf.fire, host object, no effects": host_no_effects,
            HEADLINE: headline,
            "wf.fire, Account, fresh instant": fresh_instants,
        }
    )
    return out, reset


def account_memory(wf: acctstate.Workflow, n: int = 200) -> float:
    """Bytes an Account with ten changes of history and effects holds (tracemalloc).

    The instants are the caller's and made beforehand; everything else the account
    keeps (history, changes, effects, keys, recorded times) is counted.
    """
    ats = [T0 + dt.timedelta(hours=i) for i in range(11)]

    def make() -> acctstate.Account:
        a = wf.open("A-1", "active", at=ats[0], imported=True)
        for i in range(10):
            wf.fire(a, "ban" if i % 2 == 0 else "lift_ban", at=ats[i + 1])
        return a

    make()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep = [make() for _ in range(n)]
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del keep
    return (after - before) / n


def host_memory(wf: acctstate.Workflow, n: int) -> float:
    """Bytes a host object gains from being fired once (nothing is attached to it)."""
    rows = [Row(i) for i in range(n)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for r in rows:
        wf.fire(r, "ban", at=T0)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n


def measure(quick: bool = False) -> list[Figure]:
    """Run the candidates and return the summary figures (and print the details)."""
    number, rounds = (300, 5) if quick else (2_000, 21)
    wf = isp.workflow()
    cands, reset = candidates(wf)
    for fn in cands.values():  # warm up, and check every candidate runs
        reset()
        fn()
    times = interleave(cands, rounds=rounds, number=number, clock=timeit.default_timer, setup=reset)
    print(f"per fire, {rounds} interleaved rounds of {number} x 2 fires (median, min-max):")
    for name, secs in times.items():
        us = Spread.of([t / 2 * 1e6 for t in secs])
        r = ratios(times, name, BARE)
        print(f"  {name:<34} {us.text():<22} us   {r.text()} x bare trigger")
    fire = ratios(times, HEADLINE, BARE)
    plan = ratios(times, "wf.plan, Account with history", BARE)
    mem = account_memory(wf)
    host = host_memory(wf, 2_000 if quick else 20_000)
    print(f"Account with ten changes of history: {mem:,.0f} bytes (tracemalloc)")
    print(f"memory a host object gains from a fire: {host:,.1f} bytes")
    return [
        Figure("fire / bare transitions trigger", f"{fire.text()}x", "<= 1.5x", fire.median <= 1.5),
        Figure("plan / bare transitions trigger", f"{plan.text()}x", "<= 0.7x", plan.median <= 0.7),
        Figure("Account, 10 changes of history", f"{mem / 1024:.2f} KB", "<= 2.8 KB", mem <= 2867),
        Figure("memory added per host object", f"{host:.0f} B", "0 B", host < 1),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    print_figures(measure(parser.parse_args().quick))
