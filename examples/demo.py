"""The full demo: a simulated book of 10,000 accounts over 180 days through the reference
ISP workflow, with payments and late payments, dunning automation, cancellations with
refunds, reinstatements and archiving.

Prints a summary table and writes, to ``$ACCTSTATE_OUT`` (default ``./out``):

* ``isp-workflow.mmd``: the workflow as a Mermaid diagram (always);
* ``isp-workflow.svg``: the same through Graphviz (when the ``diagrams`` extra and the
  ``dot`` program are installed);
* ``status-over-time.png``: accounts per status over time (with matplotlib), else
  ``status-over-time.csv``;
* ``account-path.mmd``: the path of one account that went through dunning;
* ``acctstate-demo.db``: a SQLite file (the embedded default store) holding the book as
  it ended, beside a host ``customers`` table of facts, after one nightly automation run
  and the delivery of its effects to recording hooks (with the ``sql`` extra).

Deterministic for a seed: ``python examples/demo.py --seed 7 --accounts 2000``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import pathlib
import sys
import time

from acctstate.effects import Hooks, RecordingHooks
from acctstate.errors import AcctStateError
from acctstate.presets import isp
from acctstate.simulation import SimulationResult, simulate


def _write_diagrams(out: pathlib.Path, result: SimulationResult) -> list[str]:
    wf = isp.workflow()
    notes = []
    mmd = out / "isp-workflow.mmd"
    mmd.write_text(wf.to_mermaid(), encoding="utf-8")
    notes.append(f"diagram (Mermaid):          {mmd}")
    try:
        from acctstate.export import to_mermaid, to_svg
    except ImportError:  # an installation without the export views: text diagrams only
        notes.append("diagram (SVG):              skipped (acctstate.export is not available)")
        return notes
    try:
        svg = out / "isp-workflow.svg"
        svg.write_text(to_svg(wf), encoding="utf-8")
        notes.append(f"diagram (SVG):              {svg}")
    except AcctStateError as exc:  # Graphviz missing: say what to install
        notes.append(f"diagram (SVG):              skipped ({exc})")
    walked = next(
        (a for a in result.accounts if any(c.trigger == "reinstate_back" for c in a.history)),
        None,
    )
    if walked is not None:
        path = out / "account-path.mmd"
        path.write_text(to_mermaid(wf, path=walked), encoding="utf-8")
        notes.append(f"path of account {walked.id}:  {path}")
    return notes


def _write_chart(out: pathlib.Path, result: SimulationResult) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        table = out / "status-over-time.csv"
        rows = result.to_rows()
        with table.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return f"status over time (CSV):     {table}  (install matplotlib for a chart)"
    chart = out / "status-over-time.png"
    try:
        from acctstate.export import plot_status_counts

        ax = plot_status_counts(
            result.daily,
            workflow=isp.workflow(),
            by="backend",
            title=f"{len(result.accounts):,} accounts over {result.days} days (seed {result.seed})",
        )
        fig = ax.figure
    except ImportError:
        fig, ax = plt.subplots(figsize=(10, 4.5))
        days = sorted(result.daily)
        seen = result.seen()
        ax.stackplot(days, [result.series(s) for s in seen], labels=list(seen))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    fig.savefig(chart, dpi=120)
    plt.close(fig)
    return f"status over time (chart):   {chart}"


def _store_night(out: pathlib.Path, result: SimulationResult) -> list[str]:
    """The book as it ended, in the embedded store beside the host's facts, then one
    nightly run and the delivery of its effects."""
    try:
        import sqlalchemy as sa

        from acctstate.automation import AutomationPolicy, reference_ladder
        from acctstate.store.sql import SqlStore, UtcDateTime, create_engine
    except ImportError:
        return ["(the store needs the 'sql' extra: pip install 'acctstate[sql]')"]
    path = (out / "acctstate-demo.db").resolve()
    path.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    host = sa.MetaData()
    customers = sa.Table(
        "customers",
        host,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("balance", sa.Numeric(12, 2)),
        sa.Column("unpaid_invoices", sa.Integer),
        sa.Column("oldest_unpaid_at", UtcDateTime),
        sa.Column("payment_method", sa.String),
        sa.Column("timezone", sa.String),
        sa.Column("currency", sa.String),
    )
    host.create_all(engine)
    wf = isp.workflow()  # the workflow the simulation ran (its default)
    store = SqlStore(wf, engine, facts=customers)
    store.create_schema()
    with engine.begin() as conn:  # the host's book and the store's accounts, one transaction
        rows = []
        for a in result.accounts:
            store.open(a.id, a.status, at=a.status_since, imported=True, connection=conn)
            unpaid = a.oldest_unpaid_at if isinstance(a.oldest_unpaid_at, dt.datetime) else None
            rows.append(
                {
                    "id": a.id,
                    "balance": a.balance,
                    "unpaid_invoices": a.unpaid_invoices,
                    "oldest_unpaid_at": unpaid,
                    "payment_method": a.payment_method,
                    "timezone": a.timezone,
                    "currency": a.currency,
                }
            )
        conn.execute(customers.insert(), rows)
    night = result.start + dt.timedelta(days=result.days)
    policy = AutomationPolicy(wf, ladder=reference_ladder(), archive="archive")
    report = store.run_automation(policy, now=night)
    hooks = Hooks.from_object(RecordingHooks())
    delivered = 0
    while batch := store.deliver(hooks, limit=1000):
        delivered += len(batch)
    engine.dispose()
    return [
        f"store (SQLite):             {path}",
        f"  a host 'customers' table of facts; the nightly run at {night.isoformat()} changed "
        f"{report.changed:,} accounts ({report.changes:,} changes, {report.blocked:,} blocked, "
        f"{len(report.failed):,} failed); {delivered:,} effects delivered to recording hooks",
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    out = pathlib.Path(os.environ.get("ACCTSTATE_OUT") or "out")
    out.mkdir(parents=True, exist_ok=True)

    began = time.perf_counter()
    result = simulate(accounts=args.accounts, days=args.days, seed=args.seed)
    took = time.perf_counter() - began
    print(
        f"Simulated {args.accounts:,} accounts (plus {len(result.accounts) - args.accounts:,} "
        f"sign-ups) for {result.days} days from {result.start.date()} with seed {result.seed}: "
        f"{result.changes:,} status changes in {took:.1f} s.\n"
    )
    print(result.summary())
    print("\nMost frequent moves")
    for (a, b), n in sorted(result.transitions.items(), key=lambda kv: (-kv[1], kv[0]))[:12]:
        print(f"  {n:>7,}  {a} -> {b}")
    print("\nCancellations by option")
    for name, n in sorted(result.cancellations.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>7,}  {name}")
    if result.problems:
        print(f"\n{len(result.problems)} changes were refused, e.g. {result.problems[0]}")
        return 1
    print("\nFiles")
    for note in [
        *_write_diagrams(out, result),
        _write_chart(out, result),
        *_store_night(out, result),
    ]:
        print(f"  {note}")
    print(f"\nDone in {time.perf_counter() - began:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
