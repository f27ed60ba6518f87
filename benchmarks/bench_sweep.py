"""Sweep benchmarks: ratios against baselines measured in the same run, interleaved.

(a) per-account rule evaluation (``sweep``) vs a hand-written Python loop doing the same
    rules on the same accounts (for information);
(d) automation ``apply`` vs the per-account sweep's planning cost, over the same accounts
    (those a sweep changes; target: apply within 2x);
(b) the column-wise sweep vs a hand-written NumPy expression of the same rules (target:
    within 1.5x at 10,000 accounts and 1.3x at 1,000,000) and vs a polars lazy
    expression of them (target: faster);
(c) peak memory (tracemalloc) of the column-wise sweep of 1,000,000 accounts.

Run: ``.venv/bin/python benchmarks/bench_sweep.py [--quick]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import Figure, Spread, interleave, print_figures, ratios

from acctstate.account import Account
from acctstate.automation import (
    AutomationPolicy,
    apply,
    reference_ladder,
    sweep,
    sweep_columns,
)
from acctstate.presets import isp

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY_NS = 86_400 * 10**9
NOW_NS = int(np.datetime64("2026-06-01T02:00:00", "ns").astype(np.int64))
LADDER = np.array([1, 10, 11, 12, 13, -11, -12, -13])
STEP_DAYS = np.array([1, 15, 30, 45, 60, 75, 90])
CLOSED = np.array([-1, -2, -3, -4])

WF = isp.workflow()
POLICY = AutomationPolicy(
    WF,
    ladder=reference_ladder(),
    trial_end="end_trial",
    contract_expiry="expire_contract",
    archive="archive",
)


def book(n: int, seed: int = 7) -> dict[str, Any]:
    """A book shaped like a real one: most accounts active and paid, some late."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(5, size=n, p=[0.80, 0.10, 0.05, 0.02, 0.03])
    status = np.ones(n, dtype=np.int64)
    dunning = kind == 2
    status[dunning] = rng.choice(LADDER[1:], size=int(dunning.sum()))
    status[kind == 3] = 41
    status[kind == 4] = rng.choice(CLOSED, size=int((kind == 4).sum()))
    owes = (kind == 1) | (dunning & (rng.random(n) < 0.7))
    balance = np.where(owes, rng.integers(1, 50_000, size=n), 0).astype(np.int64)
    late_days = rng.integers(-5, 120, size=n)
    nat = np.iinfo(np.int64).min
    oldest = np.where(owes, NOW_NS - late_days * DAY_NS, nat)
    since = NOW_NS - rng.integers(0, 400 * 24, size=n) * (DAY_NS // 24)
    trial = np.where(kind == 3, NOW_NS + rng.integers(-10, 10, size=n) * DAY_NS, nat)
    contract = np.where(
        (kind == 0) & (rng.random(n) < 0.05), NOW_NS + rng.integers(-30, 300, size=n) * DAY_NS, nat
    )
    return {
        "status": status,
        "balance": balance,
        "unpaid_invoices": np.where(owes, rng.integers(1, 4, size=n), 0),
        "payment_method": rng.random(n) < 0.8,
        "oldest_unpaid_at": oldest.view("datetime64[ns]"),
        "status_since": since.view("datetime64[ns]"),
        "trial_ends_at": trial.view("datetime64[ns]"),
        "contract_ends_at": contract.view("datetime64[ns]"),
    }


def accounts(cols: dict[str, Any], rows: range) -> list[Account]:
    """The same accounts as objects."""

    def when(name: str, i: int) -> dt.datetime | None:
        v = int(cols[name][i].astype(np.int64))
        if v == np.iinfo(np.int64).min:
            return None
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=v // 1000)

    return [
        Account(
            id=f"A-{i}",
            status=int(cols["status"][i]),
            status_since=when("status_since", i),
            balance=Decimal(int(cols["balance"][i])).scaleb(-2),
            unpaid_invoices=int(cols["unpaid_invoices"][i]),
            payment_method="card" if cols["payment_method"][i] else None,
            oldest_unpaid_at=when("oldest_unpaid_at", i),
            trial_ends_at=when("trial_ends_at", i),
            contract_ends_at=when("contract_ends_at", i),
        )
        for i in rows
    ]


# -- baselines written by hand --------------------------------------------------------------

_POS = {int(c): i for i, c in enumerate(LADDER)}
_STEP_STATUS = [int(c) for c in LADDER]


_ACTIVE_DUNNING = (10, 11, 12, 13)
_SUSPENDED_DUNNING = (-11, -12, -13)
_CLOSED = (-1, -2, -3, -4)
_PAID = Decimal(0)
_MIN_BALANCE = Decimal("0.01")


# N-days rules count calendar days in the billing time zone (UTC here): day N begins at
# midnight, so the baselines count days between dates, not 24-hour periods.


def hand_loop(book_: list[Account], now: dt.datetime) -> dict[str, list[tuple[str, str, int, int]]]:
    """The same rules as POLICY, written directly for the ISP workflow: for each account
    that changes, its changes as ``(rule, trigger, from, to)``, to the same fixed point."""
    out: dict[str, list[tuple[str, str, int, int]]] = {}
    for a in book_:
        s = a.status
        bal = a.balance
        since = a.status_since
        target = 0
        if bal > 0 and a.oldest_unpaid_at is not None:
            days = (now.date() - a.oldest_unpaid_at.date()).days
            for i, d in enumerate((1, 15, 30, 45, 60, 75, 90), start=1):
                if days >= d and bal >= _MIN_BALANCE:
                    target = i
            if target == 0:
                target = -3  # owing below every step: not clear, stays where it is
        changes: list[tuple[str, str, int, int]] = []
        while True:
            if s == 41 and a.trial_ends_at is not None and now >= a.trial_ends_at:
                d = 1 if a.payment_method else -2
                changes.append(("trial_end", "end_trial", s, d))
            elif s == 1 and a.contract_ends_at is not None and now >= a.contract_ends_at:
                d = -4
                changes.append(("contract_expiry", "expire_contract", s, d))
            elif s in _ACTIVE_DUNNING and target == 0 and bal <= _PAID:
                d = 1
                changes.append(("dunning_clear", "settle", s, d))
            elif s in _SUSPENDED_DUNNING and target == 0 and a.payment_method:
                d = 22
                changes.append(("dunning_clear", "reinstate_back", s, d))
            elif s == 22 and target == 0 and bal <= _PAID:
                d = 1
                changes.append(("dunning_clear", "complete_reinstatement", s, d))
            elif s in _POS and target > _POS[s]:
                d = _STEP_STATUS[_POS[s] + 1]
                changes.append(("dunning", "escalate_dunning", s, d))
            elif s in _POS and 0 < target < _POS[s]:
                d = _STEP_STATUS[_POS[s] - 1]
                changes.append(("dunning_down", "deescalate_dunning", s, d))
            elif s in _CLOSED and since is not None and (now.date() - since.date()).days >= 180:
                d = -99
                changes.append(("archive", "archive", s, d))
            else:
                break
            s, since = d, now
        if changes:
            out[a.id] = changes
    return out


def hand_numpy(cols: dict[str, Any]) -> Any:
    """The same rules as POLICY in plain NumPy: the final status of every row."""
    s = cols["status"].copy()
    start = cols["status"]
    bal = cols["balance"]
    pm = cols["payment_method"]
    nat = np.iinfo(np.int64).min
    oldest = cols["oldest_unpaid_at"].view(np.int64)
    days = NOW_NS // DAY_NS - oldest // DAY_NS
    owes = (bal > 0) & (oldest != nat)
    target = np.zeros(len(s), dtype=np.int8)
    for i, d in enumerate(STEP_DAYS, start=1):
        target[owes & (days >= d)] = i
    trial = cols["trial_ends_at"].view(np.int64)
    m = (s == 41) & (trial != nat) & (trial <= NOW_NS)
    s[m] = np.where(pm[m], 1, -2)
    clear = (target == 0) & ~owes  # owing below every step is not clear
    s[(s >= 10) & (s <= 13) & clear & (bal <= 0)] = 1
    m = (s >= -13) & (s <= -11) & clear & pm
    s[m] = np.where(bal[m] <= 0, 1, 22)
    contract = cols["contract_ends_at"].view(np.int64)
    s[(s == 1) & (contract != nat) & (contract <= NOW_NS)] = -4
    pos = np.full(len(s), -1)
    for i, c in enumerate(LADDER):
        pos[s == c] = i
    # Up to the target, or (a partial payment) down to it.
    m = (pos >= 0) & (target > 0) & (target != pos)
    s[m] = LADDER[target[m]]
    since = cols["status_since"].view(np.int64)
    closed = (s == start) & (s >= -4) & (s <= -1)
    s[closed & (since != nat) & (NOW_NS // DAY_NS - since // DAY_NS >= 180)] = -99
    return s


def hand_polars(frame: Any) -> Any:
    """The same rules as POLICY as one polars lazy expression: the final status of
    every row (``frame`` is a ``polars.LazyFrame`` of the book's columns)."""
    import polars as pl

    now = pl.lit(NOW_NS, dtype=pl.Int64)
    s0 = pl.col("status")
    bal = pl.col("balance")
    pm = pl.col("payment_method")

    def ns(name: str) -> Any:
        return pl.col(name).cast(pl.Int64)

    days = NOW_NS // DAY_NS - ns("oldest_unpaid_at") // DAY_NS
    owes = (bal > 0) & ns("oldest_unpaid_at").is_not_null()
    target = pl.lit(0, dtype=pl.Int64)
    for d in STEP_DAYS.tolist():
        target = target + (owes & (days >= d)).cast(pl.Int64)
    trial = ns("trial_ends_at")
    s1 = (
        pl.when((s0 == 41) & trial.is_not_null() & (trial <= now))
        .then(pl.when(pm).then(1).otherwise(-2))
        .otherwise(s0)
    )
    clear = (pl.col("_target") == 0) & ~owes  # owing below every step is not clear
    s2 = (
        pl.when(pl.col("_s").is_between(10, 13) & clear & (bal <= 0))
        .then(1)
        .when(pl.col("_s").is_between(-13, -11) & clear & pm)
        .then(pl.when(bal <= 0).then(1).otherwise(22))
        .otherwise(pl.col("_s"))
    )
    contract = ns("contract_ends_at")
    s3 = (
        pl.when((pl.col("_s") == 1) & contract.is_not_null() & (contract <= now))
        .then(-4)
        .otherwise(pl.col("_s"))
    )
    ladder = LADDER.tolist()
    pos = pl.col("_s").replace_strict(ladder, list(range(len(ladder))), default=-1)
    climbed = (
        pl.when((pos >= 0) & (pl.col("_target") > 0) & (pl.col("_target") != pos))
        .then(pl.col("_target").replace_strict(list(range(len(ladder))), ladder, default=0))
        .otherwise(pl.col("_s"))
    )
    since = ns("status_since")
    archived = (
        pl.when(
            (pl.col("_s") == s0)
            & pl.col("_s").is_between(-4, -1)
            & since.is_not_null()
            & (NOW_NS // DAY_NS - since // DAY_NS >= 180)
        )
        .then(-99)
        .otherwise(pl.col("_s"))
    )
    return (
        frame.with_columns(_target=target, _s=s1)
        .with_columns(_s=s2)
        .with_columns(_s=s3)
        .with_columns(_s=climbed)
        .select(archived.alias("status"))
        .collect()
        .get_column("status")
        .to_numpy()
    )


def polars_frame(cols: dict[str, Any]) -> Any:
    """The book as a polars LazyFrame (NaT becomes null), or ``None`` without polars."""
    try:
        import polars as pl
    except ImportError:
        return None
    return pl.DataFrame(cols).lazy()


def measure_apply(n: int, rounds: int) -> Figure:
    """Goal 2: apply's cost per account against the sweep's planning cost per account,
    over the same accounts (those of a book the sweep changes)."""
    cols = book(n * 8, seed=4)
    probe = accounts(cols, range(n * 8))
    changing = [i for i, a in enumerate(probe) if sweep([a], POLICY, now=NOW).changes][:n]
    box: dict[str, Any] = {}

    def setup() -> None:
        objs = [probe[i] for i in changing]
        box["objs"] = accounts(cols, changing) if "plan" in box else objs
        box["plan"] = sweep(box["objs"], POLICY, now=NOW)

    times = interleave(
        {
            "sweep": lambda: sweep(box["objs"], POLICY, now=NOW),
            "apply": lambda: apply(box["plan"]),
        },
        rounds=rounds,
        clock=time.process_time,
        setup=setup,
    )
    r = ratios(times, "apply", "sweep")
    k = len(changing)
    sweep_us = Spread.of(times["sweep"]).scaled(1e6 / k)
    apply_us = Spread.of(times["apply"]).scaled(1e6 / k)
    print(f"(d) apply vs sweep over the {k:,} accounts a sweep changes")
    print(f"    sweep (planning)        {sweep_us.text()} us/account")
    print(f"    apply (decide + commit) {apply_us.text()} us/account")
    print(f"    ratio apply / sweep     {r.text()}x   (target <= 2x)")
    return Figure("automation apply / sweep planning", f"{r.text()}x", "<= 2x", r.median <= 2)


def measure_columns(n_rows: int, rounds: int, *, goal: float) -> list[Figure]:
    """Goal 4: the column-wise sweep against hand NumPy and polars at ``n_rows``."""
    cols = book(n_rows, seed=2)
    frame = polars_frame(cols)
    cands: dict[str, Any] = {
        "columns": lambda: sweep_columns(cols, POLICY, now=NOW),
        "numpy": lambda: hand_numpy(cols),
    }
    if n_rows >= 200_000:  # for information: the same sweep on one thread
        cands["columns, 1 thread"] = lambda: sweep_columns(cols, POLICY, now=NOW, workers=1)
    if frame is not None:
        cands["polars"] = lambda: hand_polars(frame)
    for fn in cands.values():
        fn()
    out = {name: fn() for name, fn in cands.items()}
    number = max(1, 200_000 // n_rows)
    numpy_only = {"numpy": cands["numpy"]}
    times = interleave(cands, rounds=rounds, number=number)
    same = bool((out["columns"].status == out["numpy"]).all())
    print(f"(b) column-wise sweep of {n_rows:,} accounts (wall time, {rounds} rounds)")
    for name in cands:
        print(f"    {name:<22} {Spread.of(times[name]).scaled(1e3).text('{:.3f}')} ms")
    r = ratios(times, "columns", "numpy")
    print(f"    ratio columns / NumPy   {r.text()}x   (target <= {goal}x)")
    if "columns, 1 thread" in cands:
        r1 = ratios(times, "columns, 1 thread", "numpy")
        print(f"    one thread / NumPy      {r1.text()}x   (for information)")
    else:
        # CPU time of this process, which the machine's other work barely moves.
        cpu = interleave(
            {"columns": lambda: sweep_columns(cols, POLICY, now=NOW, workers=1), **numpy_only},
            rounds=rounds,
            number=number,
            clock=time.process_time,
        )
        rc = ratios(cpu, "columns", "numpy")
        print(f"    CPU time / NumPy        {rc.text()}x   (one thread, for information)")
    figures = [
        Figure(
            f"sweep_columns / NumPy, {n_rows:,}", f"{r.text()}x", f"<= {goal}x", r.median <= goal
        )
    ]
    if frame is not None:
        same = same and bool((out["polars"] == out["numpy"]).all())
        rp = ratios(times, "columns", "polars")
        print(f"    ratio columns / polars  {rp.text()}x   (target < 1x)")
        figures.append(
            Figure(f"sweep_columns / polars, {n_rows:,}", f"{rp.text()}x", "< 1x", rp.median < 1)
        )
    print(f"    same final statuses: {same}")
    return figures


def measure(quick: bool = False) -> list[Figure]:
    """Every sweep figure (and print the details)."""
    n_objects = 2_000 if quick else 10_000
    big = 100_000 if quick else 1_000_000
    rounds = 3 if quick else 7

    small = book(n_objects, seed=1)
    objs = accounts(small, range(n_objects))
    times = interleave(
        {"sweep": lambda: sweep(objs, POLICY, now=NOW), "hand": lambda: hand_loop(objs, NOW)},
        rounds=rounds,
        clock=time.process_time,
    )
    plan = sweep(objs, POLICY, now=NOW)
    planned = {
        p.account_id: [(c.rule, c.trigger, c.source.code, c.dest.code) for c in p.changes]
        for p in plan
        if p.changes
    }
    r = ratios(times, "sweep", "hand")
    print(f"(a) per-account sweep of {n_objects:,} accounts")
    print(
        f"    sweep / hand loop       {r.text()}x  (same decisions: {planned == hand_loop(objs, NOW)})"
    )
    figures = [measure_apply(500 if quick else 2_000, rounds)]
    figures += measure_columns(10_000, rounds * 3, goal=1.5)
    figures += measure_columns(big, rounds * 2, goal=1.3)

    tracemalloc.start()
    cols = book(big, seed=3)
    sweep_columns(cols, POLICY, now=NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"(c) peak memory, {big:,} accounts in columns + sweep: {peak / 2**20:.1f} MB")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    print_figures(measure(parser.parse_args().quick))
