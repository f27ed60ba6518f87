"""A cascade over a customer's tree: ``Scopes.fire`` against the same changes by hand.

An account with two sites and three subscriptions goes into dunning (every
subscription suspended by the cascade) and back (every one resumed). The baseline
fires the same eight changes one by one with ``Workflow.fire``: no tree to check, no
cascade rules, exemptions or conflicts to read, no change set. The goal: the scoped
fire within 2.5x of that, interleaved round by round.

    .venv/bin/python benchmarks/bench_scopes.py [--quick]
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

from acctstate import Status, Transition
from acctstate.scopes import Cascade, Scope, Scopes
from acctstate.workflow import Workflow

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
SCOPED = "Scopes.fire, cascade to 3 subscriptions"
BY_HAND = "wf.fire, the same 8 changes by hand"
SUBS = ("SUB-1", "SUB-2", "SUB-3")


def _levels() -> tuple[Workflow, Workflow, Workflow]:
    def s(code: int, name: str, backend: str, **flags: Any) -> Status:
        return Status(code=code, name=name, backend=backend, **flags)

    account = Workflow(
        name="account",
        statuses=[
            s(1, "active", "active", provisioned=True, billable=True),
            s(10, "dunning", "active", provisioned=True, billable=True),
            s(-2, "cancelled", "closed", terminal=True),
        ],
        transitions=[
            Transition("escalate_dunning", "active", "dunning"),
            Transition("settle", "dunning", "active"),
            *Transition.many("cancel", ["active", "dunning"], "cancelled"),
        ],
        initial=["active"],
    )
    site = Workflow(
        name="site",
        statuses=[
            s(1, "active", "active", provisioned=True),
            s(-2, "closed", "closed", terminal=True),
        ],
        transitions=[Transition("close", "active", "closed")],
        initial=["active"],
    )
    sub = Workflow(
        name="subscription",
        statuses=[
            s(1, "active", "active", provisioned=True, billable=True),
            s(-1, "suspended", "suspended"),
            s(-2, "cancelled", "closed", terminal=True),
        ],
        transitions=[
            Transition("suspend", "active", "suspended"),
            Transition("resume", "suspended", "active"),
            *Transition.many("cancel", ["active", "suspended"], "cancelled"),
        ],
        initial=["active"],
    )
    return account, site, sub


def measure(quick: bool = False) -> list[Figure]:
    """Run both candidates and return the summary figure (and print the details)."""
    number, rounds = (50, 5) if quick else (300, 21)
    account, site, sub = _levels()
    scopes = Scopes(
        [
            Scope("account", account),
            Scope("site", site, parent="account"),
            Scope("subscription", sub, parent="site"),
        ],
        cascades=[
            Cascade("account", "dunning", "subscription", "suspend"),
            Cascade("account", "active", "subscription", "resume"),
        ],
    )
    box: dict[str, Any] = {}

    def reset() -> None:
        e = scopes.entity
        subs = {i: sub.open(i, "active", at=T0) for i in SUBS}
        box["tree"] = e(
            "account",
            account.open("A-1", "active", at=T0),
            e(
                "site",
                site.open("S-1", "active", at=T0),
                e("subscription", subs["SUB-1"]),
                e("subscription", subs["SUB-2"]),
            ),
            e("site", site.open("S-2", "active", at=T0), e("subscription", subs["SUB-3"])),
        )
        box["acct"] = account.open("A-2", "active", at=T0)
        box["subs"] = [sub.open(f"X-{i}", "active", at=T0) for i in SUBS]

    def scoped() -> None:
        scopes.fire(box["tree"], "A-1", "escalate_dunning", at=T0)
        scopes.fire(box["tree"], "A-1", "settle", at=T0)

    def by_hand() -> None:
        account.fire(box["acct"], "escalate_dunning", at=T0)
        for x in box["subs"]:
            sub.fire(x, "suspend", at=T0)
        account.fire(box["acct"], "settle", at=T0)
        for x in box["subs"]:
            sub.fire(x, "resume", at=T0)

    cands = {BY_HAND: by_hand, SCOPED: scoped}
    reset()
    for fn in cands.values():
        fn()
    times = interleave(cands, rounds=rounds, number=number, clock=timeit.default_timer, setup=reset)
    for name, secs in times.items():
        print(f"  {name:<42} {Spread.of([t * 1e6 for t in secs]).text()} us")
    r = ratios(times, SCOPED, BY_HAND)
    return [Figure("scoped cascade / by hand", f"{r.text()}x", "<= 2.5x", r.median <= 2.5)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    print_figures(measure(parser.parse_args().quick))
