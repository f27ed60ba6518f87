"""The full demo: a simulated book of 10,000 accounts over 180 days through the reference
ISP workflow, with payments and late payments, dunning automation, cancellations with
refunds, reinstatements and archiving.

Prints a summary table and writes, to ``$ACCTSTATE_OUT`` (default ``./out``):

* ``isp-workflow.mmd``: the workflow as a Mermaid diagram (always);
* ``isp-workflow.svg``: the same through Graphviz (when the ``diagrams`` extra and the
  ``dot`` program are installed);
* ``status-over-time.png``: accounts per status over time (with matplotlib), else
  ``status-over-time.csv``;
* ``account-path.mmd``: the path of one account that went through dunning.

Deterministic for a seed: ``python examples/demo.py --seed 7 --accounts 2000``.
"""

from __future__ import annotations

import argparse
import csv
import os
import pathlib
import sys
import time

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
    for note in [*_write_diagrams(out, result), _write_chart(out, result)]:
        print(f"  {note}")
    print(f"\nDone in {time.perf_counter() - began:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
