"""The ``acctstate`` command: check, draw, tabulate, dump and simulate workflows, and look
into a store.

::

    acctstate check FILE [FILE ...]
    acctstate graph FILE|PRESET [--format mermaid|dot|svg] [--around STATUS] [--steps N]
    acctstate table FILE|PRESET [--format text|markdown]
    acctstate dump FILE|PRESET [--format toml|json] [--minimal-against BASE]
    acctstate simulate PRESET|FILE [--accounts N] [--days D] [--seed S]
    acctstate explain URL ACCOUNT TRIGGER [--at WHEN] [--data NAME=VALUE] [--json]
    acctstate history URL ACCOUNT [--since WHEN] [--json]
    acctstate stats URL [--json]
    acctstate export URL --what accounts|history|outbox [--format csv|parquet] [-o FILE]
    acctstate deliver URL --hooks MODULE:ATTR|--record [--limit N] [--json]
    acctstate run-automation URL --policy FILE [--now INSTANT] [--chunk N] [--tenant T] [--quiet]

The commands on a store URL take ``--workflow PRESET|FILE`` (default ``isp``), the
workflow the store was filled with.

A workflow is named by a preset ([`PRESETS`][acctstate.cli.PRESETS]) or by a TOML / JSON workflow
file ([`acctstate.config.load_workflow`][acctstate.config.load_workflow]). Errors are one line on
stderr and a non-zero exit status (1 for a failed command, 2 for a bad command line), never a
traceback.

>>> main(["table", "isp"])  # doctest: +ELLIPSIS
trigger                  from                           to ...
...
0
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, NoReturn

from acctstate.core.workflow import Workflow
from acctstate.values.errors import AcctStateError, ConfigError, DefinitionError, closest
from acctstate.world.cli_store import CommandError, add_store_commands
from acctstate.world.cli_store import one_line as _one_line
from acctstate.world.cli_store import progress as _progress
from acctstate.world.config import load_workflow

__all__ = ["PRESETS", "CommandError", "load", "main", "parser", "transitions_table"]

PRESETS: dict[str, str] = {
    "account_class": "field-service billing with account classes and credit hold",
    "engageip": "EngageIP-style status types on four back-end statuses",
    "isp": "the reference ISP workflow: the status-code table, plus prospect = 30",
    "portabilling": "PortaBilling-style prepaid accounts: blocked / unblocked / terminated",
    "sonar": "Sonar-style leads, installs, vacation, collections",
}
"""The preset names the command accepts, with what each is."""


def load(source: str) -> Workflow:
    """The workflow named by ``source``: a preset name or a workflow file.

    Raises:
        CommandError: neither a preset nor an existing file.
        ConfigError: the file is not a valid workflow.

    >>> load("isp").name
    'isp'
    >>> load("ips")
    Traceback (most recent call last):
    ...
    acctstate.cli.CommandError: no preset or file named 'ips'; presets: account_class, engageip, isp, portabilling, sonar (did you mean 'isp'?)
    """
    if source in PRESETS:
        module = importlib.import_module(f"acctstate.world.presets.{source}")
        wf: Workflow = module.workflow()
        return wf
    path = pathlib.Path(source)
    if path.is_file() or path.suffix.lower() in (".toml", ".json"):
        if not path.exists():
            raise CommandError(f"no such file: {source}")
        return load_workflow(path)
    near = closest(source, PRESETS)
    hint = f" (did you mean {', '.join(repr(n) for n in near)}?)" if near else ""
    raise CommandError(
        f"no preset or file named {source!r}; presets: {', '.join(sorted(PRESETS))}{hint}"
    )


# -- check ----------------------------------------------------------------------------------


def _problems(exc: ConfigError) -> list[str]:
    """Every problem a loading error knows of (a graph's every broken rule)."""
    cause = exc.__cause__
    if isinstance(cause, DefinitionError):
        where = exc.source + (f":{exc.line}" if exc.line is not None else "")
        return [f"{where}: [{v.rule}] {v.message}" for v in cause.violations]
    return [str(exc)]


def _check(args: argparse.Namespace, out: IO[str]) -> int:
    failed = 0
    for name in args.files:
        path = pathlib.Path(name)
        if not path.is_file():
            print(f"{name}: no such file", file=out)
            failed += 1
            continue
        try:
            wf = load_workflow(path)
        except ConfigError as exc:
            for line in _problems(exc):
                print(line, file=out)
            failed += 1
            continue
        print(
            f"{name}: ok, workflow {wf.name!r}: {len(wf.catalog)} statuses, "
            f"{len(wf.transitions)} transitions",
            file=out,
        )
    return 1 if failed else 0


# -- graph ----------------------------------------------------------------------------------


def _graph(args: argparse.Namespace, out: IO[str]) -> int:
    wf = load(args.source)
    if args.steps is not None and args.around is None:
        raise CommandError("--steps needs --around STATUS")
    view = args.around is not None
    if args.format == "svg" or view:
        try:
            export = importlib.import_module("acctstate.world.export")
        except ImportError:
            raise CommandError(
                "SVG and --around need acctstate.export, which this installation lacks"
            ) from None
        options: dict[str, Any] = {"around": args.around, "steps": args.steps}
        render: Callable[..., str] = getattr(export, f"to_{args.format}")
        text = render(wf, **options)
    else:
        text = wf.to_mermaid() if args.format == "mermaid" else wf.to_dot()
    if args.output:
        pathlib.Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        out.write(text if text.endswith("\n") else text + "\n")
    return 0


# -- table ----------------------------------------------------------------------------------


def transitions_table(wf: Workflow) -> str:
    """The transitions as an aligned text table: trigger, from, to, guards, why."""
    head = ("trigger", "from", "to", "guards", "why")
    rows = []
    for e in wf.transitions:
        guards = [g.label for g in e.guards]
        if e.permission:
            guards.append(f"permission {e.permission}")
        if e.reasons is not None:
            guards.append("reasons " + "/".join(sorted(e.reasons)))
        rows.append(
            (
                e.trigger,
                f"{e.source.name} ({e.source.code})",
                f"{e.dest.name} ({e.dest.code})",
                ", ".join(guards),
                e.description,
            )
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells, widths, strict=False)]
        return "  ".join([*padded, cells[-1]]).rstrip()

    return "\n".join(
        [line(head), line(["-" * w for w in widths] + ["---"])] + [line(r) for r in rows]
    )


def _table(args: argparse.Namespace, out: IO[str]) -> int:
    wf = load(args.source)
    if args.format == "markdown":
        from acctstate.values.diagram import markdown_table

        out.write(markdown_table(wf.transitions))
    else:
        print(transitions_table(wf), file=out)
    return 0


# -- dump -----------------------------------------------------------------------------------


def _dump(args: argparse.Namespace, out: IO[str]) -> int:
    from acctstate.world.config import dump_workflow

    wf = load(args.source)
    text = dump_workflow(wf, format=args.format, minimal_against=args.minimal_against)
    if args.output:
        pathlib.Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        out.write(text)
    return 0


# -- simulate -------------------------------------------------------------------------------


def _simulate(args: argparse.Namespace, out: IO[str]) -> int:
    from acctstate.world.simulation import simulate

    wf = load(args.source)
    with _progress("simulating", "days", quiet=args.quiet) as progress:
        result = simulate(
            wf, accounts=args.accounts, days=args.days, seed=args.seed, progress=progress
        )
    months = result.monthly()
    seen = result.seen()
    first = result.daily[min(result.daily)]
    width = max(len(s) for s in [*seen, "status", "total"])
    cols = ["start", *months]
    print(
        f"{len(result.accounts)} accounts, {result.days} days from "
        f"{result.start.date().isoformat()}, seed {result.seed}: {result.changes} changes",
        file=out,
    )
    print("accounts per status at the end of each month", file=out)
    print(f"{'status':<{width}}" + "".join(f"  {c:>8}" for c in cols), file=out)
    print("-" * width + "".join(f"  {'-' * 8}" for _ in cols), file=out)
    for s in seen:
        cells = [first[s], *(m[s] for m in months.values())]
        print(f"{s:<{width}}" + "".join(f"  {n:>8}" for n in cells), file=out)
    totals = [sum(first.values()), *(sum(m.values()) for m in months.values())]
    print(f"{'total':<{width}}" + "".join(f"  {n:>8}" for n in totals), file=out)
    print("", file=out)
    for name, amount in result.money.items():
        print(f"{name:<{width}}  {amount:>12}", file=out)
    if result.problems:
        print(f"{len(result.problems)} changes were refused, e.g. {result.problems[0]}", file=out)
        return 1
    return 0


# -- the parser -----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _days(text: str) -> int:
    value = _positive(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected at least 1 day")
    return value


def _db(args: argparse.Namespace, out: IO[str]) -> int:
    from acctstate.world.store import migrate  # needs the 'sql' extra (SQLAlchemy, Alembic)

    try:
        before = migrate.current(args.url)
        after = migrate.upgrade(args.url)
    except migrate.DatabaseError as exc:  # unreachable server, refused login, ...
        print(f"acctstate db: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    if before == after:
        print(f"the schema is up to date (version {after})", file=out)
    else:
        print(f"upgraded the schema from version {before or 'none'} to {after}", file=out)
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line parser (``acctstate --help``)."""
    presets = ", ".join(sorted(PRESETS))
    top = _Parser(
        prog="acctstate",
        description="Customer account status as an explicit, verified finite-state machine.",
        epilog=f"A SOURCE is a preset ({presets}) or a TOML/JSON workflow file.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "check",
        help="validate workflow files and print every problem",
        description="Load each workflow file, validate it (every rule of the graph), and "
        "print every problem found. Exit status 1 when any file has a problem.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="a .toml or .json workflow file")
    p.set_defaults(run=_check)

    p = sub.add_parser(
        "graph",
        help="draw a workflow as Mermaid, DOT or SVG",
        description="Print the workflow's graph as Mermaid or Graphviz DOT text, or as SVG "
        "(needs the 'diagrams' extra and the Graphviz 'dot' program).",
        epilog=f"SOURCE: a preset ({presets}) or a workflow file.",
    )
    p.add_argument("source", metavar="SOURCE", help="a preset name or a workflow file")
    p.add_argument(
        "--format", "-f", choices=["mermaid", "dot", "svg"], default="mermaid", help="(mermaid)"
    )
    p.add_argument("--around", metavar="STATUS", help="draw only this status's neighbourhood")
    p.add_argument("--steps", type=_positive, metavar="N", help="how far around STATUS to draw (1)")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(run=_graph)

    p = sub.add_parser(
        "table",
        help="print a workflow's transitions",
        description="Print every transition: trigger, from, to, guards and why it exists.",
        epilog=f"SOURCE: a preset ({presets}) or a workflow file.",
    )
    p.add_argument("source", metavar="SOURCE", help="a preset name or a workflow file")
    p.add_argument("--format", "-f", choices=["text", "markdown"], default="text", help="(text)")
    p.set_defaults(run=_table)

    p = sub.add_parser(
        "dump",
        help="print a workflow as a TOML or JSON workflow file",
        description="Print the workflow as a file load_workflow reads back into the same "
        "workflow: start your own from a preset with 'acctstate dump isp -o my.toml', or "
        "write only what yours changes with '--minimal-against isp'.",
        epilog=f"SOURCE: a preset ({presets}) or a workflow file.",
    )
    p.add_argument("source", metavar="SOURCE", help="a preset name or a workflow file")
    p.add_argument("--format", "-f", choices=["toml", "json"], default="toml", help="(toml)")
    p.add_argument(
        "--minimal-against",
        "-m",
        metavar="BASE",
        help="write a file that extends BASE (a preset or file) with only the differences",
    )
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(run=_dump)

    p = sub.add_parser(
        "simulate",
        help="run a simulated book of accounts and print status counts per month",
        description="Simulate a book of accounts day by day through the workflow (sign-ups, "
        "billing, late payment, dunning automation, cancellations with refunds, "
        "reinstatements, archiving) and print the accounts per status at the end of each "
        "month. The simulation drives the reference ISP workflow or one extending it. "
        "Deterministic for a seed.",
    )
    p.add_argument("source", metavar="PRESET", help="'isp', or a workflow file extending it")
    p.add_argument("--accounts", "-n", type=_positive, default=1000, help="book size (1000)")
    p.add_argument("--days", "-d", type=_days, default=180, help="days to simulate (180)")
    p.add_argument("--seed", "-s", type=int, default=0, help="random seed (0)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(run=_simulate)

    add_store_commands(sub, load)
    p = sub.add_parser(
        "run-automation",
        help="run the nightly automation over the accounts stored in a database",
        description="Run an automation policy (a TOML file: workflow, settings, the host's "
        "facts table) over every account stored at URL, set-based, a chunk per "
        "transaction, with a progress bar; print what changed. Needs the 'sql' extra.",
    )
    p.add_argument("url", metavar="URL", help="a database URL (sqlite:///accounts.db, ...)")
    p.add_argument("--policy", "-p", required=True, metavar="FILE", help="the policy file")
    p.add_argument(
        "--now", type=_instant, metavar="INSTANT", help="the run's instant, ISO with offset (now)"
    )
    p.add_argument("--chunk", type=_positive, default=10_000, help="accounts per chunk (10000)")
    p.add_argument("--tenant", default="", help="the store's tenant (default: none)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_automation)
    p = sub.add_parser(
        "db",
        help="create or upgrade the SQL store's schema",
        description="Create the SQL store's tables, or upgrade them to this release's "
        "version (kept in the acctstate_version table). Needs the 'sql' extra.",
    )
    db = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    db.required = True
    up = db.add_parser("upgrade", help="create or upgrade the schema at URL")
    up.add_argument("url", metavar="URL", help="a database URL (sqlite:///accounts.db, ...)")
    up.set_defaults(run=_db)
    return top


def _instant(text: str) -> Any:
    import datetime as dt

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO instant: {text!r}") from None
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (add +00:00)")
    return value


def _run_automation(args: argparse.Namespace, out: IO[str]) -> int:
    from acctstate.world.store._cli import run_automation_command

    report = run_automation_command(
        args.url,
        args.policy,
        load=load,
        now=args.now,
        chunk=args.chunk,
        quiet=args.quiet,
        out=out,
        err=sys.stderr,
        tenant=args.tenant,
    )
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
    """
    args = parser().parse_args(argv)
    run: Callable[[argparse.Namespace, IO[str]], int] = args.run
    try:
        return run(args, sys.stdout)
    except BrokenPipeError:
        # The reader went away (``acctstate table isp | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (AcctStateError, OSError) as exc:
        print(f"acctstate {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nacctstate {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("ACCTSTATE_DEBUG"):
            raise
        print(
            f"acctstate {args.command}: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(set ACCTSTATE_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 70
