"""Dunning from invoices, column-wise: ``sweep_columns(..., invoices=table)`` with the daily
auto-apply on, against a hand-written NumPy version of the same rules, measured in the
same run, interleaved (target: within 3x at 1,000,000 accounts with 5 open invoices per
account on average).

Both sides do the whole job: apply each account's unapplied funds to its open invoices
oldest first, derive the past-due balance, count and days past due per account, then
run the reference ladder, trial end, contract expiry and archive rules to their fixed
point.

Run: ``.venv/bin/python benchmarks/bench_invoices.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import Figure, Spread, interleave, print_figures, ratios
from bench_sweep import DAY_NS, NOW, NOW_NS, POLICY, book, hand_numpy

from acctstate.automation import sweep_columns

AUTO = attrs.evolve(POLICY, auto_apply=True)


def invoice_book(n: int, seed: int = 11) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sweep benchmark's book with its dunning facts as an invoice table instead:
    5 open invoices per account on average (Poisson). An account the sweep benchmark has
    owing has its oldest invoice due as many days ago as its ``oldest_unpaid_at`` says
    and the others due since; the others' open invoices are not yet due (1 to 30 days
    ahead). One account in five has unapplied funds for the auto-apply."""
    cols = book(n, seed=seed)
    rng = np.random.default_rng(seed)
    per = rng.poisson(5, size=n)
    owes = cols["balance"] > 0
    per[owes] = np.maximum(per[owes], 1)
    acct = np.repeat(np.arange(n, dtype=np.int64), per)
    m = len(acct)
    today = NOW_NS // DAY_NS
    oldest = cols["oldest_unpaid_at"].view(np.int64)
    late = np.where(owes, today - oldest // DAY_NS, 0)
    first = np.ones(m, dtype=bool)
    first[1:] = acct[1:] != acct[:-1]
    due_owing = today - late[acct] + np.where(first, 0, rng.integers(0, 60, size=m))
    due_owing = np.minimum(due_owing, today + 30)
    due = np.where(owes[acct], due_owing, today + rng.integers(1, 31, size=m))
    open_ = rng.integers(1, 10_000, size=m).astype(np.int64)
    unapplied = np.where(rng.random(n) < 0.2, rng.integers(0, 30_000, size=n), 0)
    book_cols = {k: v for k, v in cols.items() if k not in ("oldest_unpaid_at", "unpaid_invoices")}
    # Dunned from invoices, the host leaves `balance` (what the settle guard reads) at 0.
    book_cols["balance"] = np.zeros(n, dtype=np.int64)
    book_cols["unapplied"] = unapplied.astype(np.int64)
    return book_cols, {"account": acct, "due": due.astype("datetime64[D]"), "open": open_}


def hand_invoices(cols: dict[str, Any], inv: dict[str, Any]) -> Any:
    """Auto-apply and the past-due facts in plain NumPy, then the same rules as
    ``hand_numpy``: the final status of every row."""
    n = len(cols["status"])
    acct, due, open_ = inv["account"], inv["due"].view(np.int64), inv["open"]
    funds = cols["unapplied"]
    left = open_.copy()
    # Only accounts with funds need their invoices in order.
    rows = np.flatnonzero(funds[acct] > 0)
    a, d, o = acct[rows], due[rows], open_[rows]
    span = int(d.max()) - int(d.min()) + 1 if len(d) else 1
    order = np.argsort(a * span + (d - (int(d.min()) if len(d) else 0)), kind="stable")
    rows, a, o = rows[order], a[order], o[order]
    cum = np.cumsum(o)
    first = np.ones(len(a), dtype=bool)
    first[1:] = a[1:] != a[:-1]
    starts = np.flatnonzero(first)
    group_base = np.repeat(cum[starts] - o[starts], np.diff(np.append(starts, len(a))))
    before = cum - o - group_base
    left[rows] = o - np.minimum(np.maximum(funds[a] - before, 0), o)
    late = (left > 0) & (due < NOW_NS // DAY_NS)
    balance = np.zeros(n, dtype=np.int64)
    np.add.at(balance, acct[late], left[late])
    oldest = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(oldest, acct[late], due[late])
    nat = np.iinfo(np.int64).min
    facts = dict(cols)
    facts["oldest_unpaid_at"] = np.where(balance > 0, oldest * DAY_NS, nat).view("datetime64[ns]")
    # hand_numpy reads one balance for the ladder and the settle guard: the past-due one
    # (the guard passes wherever nothing is past due, as it does on the host's zero).
    facts["balance"] = balance
    return hand_numpy(facts)


def measure(quick: bool = False) -> list[Figure]:
    """The figure (and print the details)."""
    n = 100_000 if quick else 1_000_000
    rounds = 3 if quick else 5
    cols, inv = invoice_book(n)
    cands = {
        "columns": lambda: sweep_columns(cols, AUTO, now=NOW, invoices=inv),
        "columns, 1 thread": lambda: sweep_columns(cols, AUTO, now=NOW, invoices=inv, workers=1),
        "numpy": lambda: hand_invoices(cols, inv),
    }
    out = {name: fn() for name, fn in cands.items()}
    times = interleave(cands, rounds=rounds)
    same_threads = bool((out["columns"].status == out["columns, 1 thread"].status).all())
    same = bool((out["columns"].status == out["numpy"]).all()) and same_threads
    print(
        f"(e) column-wise sweep with invoices, {n:,} accounts, {len(inv['account']):,} open "
        f"invoices (wall time, {rounds} rounds)"
    )
    for name in cands:
        print(f"    {name:<22} {Spread.of(times[name]).scaled(1e3).text('{:.1f}')} ms")
    r = ratios(times, "columns", "numpy")
    r1 = ratios(times, "columns, 1 thread", "numpy")
    print(f"    ratio columns / NumPy   {r.text()}x   (target <= 3x; default threads)")
    print(f"    ratio 1 thread / NumPy  {r1.text()}x   (NumPy runs on one thread)")
    print(f"    same final statuses: {same}")
    return [
        Figure(
            f"sweep_columns with invoices / NumPy, {n:,}", f"{r.text()}x", "<= 3x", r.median <= 3
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 accounts (smoke test)")
    print_figures(measure(parser.parse_args().quick))


if __name__ == "__main__":
    main()
