"""The operator's commands on a store, which [`acctstate.cli`][acctstate.cli] mounts, and what the
command line's commands share: [`CommandError`][acctstate.cli.CommandError], one-line messages and a
progress bar.

::

    acctstate explain URL ACCOUNT TRIGGER [--at WHEN] [--data NAME=VALUE] [--json]
    acctstate history URL ACCOUNT [--since WHEN] [--json]
    acctstate stats URL [--json]
    acctstate export URL --what accounts|history|outbox [--format csv|parquet] [-o FILE]
    acctstate deliver URL --hooks MODULE:ATTR|--record [--limit N] [--json]

Each reads (and ``deliver`` writes) a store at a database URL through the store's
public methods only, over the workflow named by ``--workflow`` (default ``isp``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import importlib
import inspect
import json
import os
import pathlib
import re
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import IO, Any

from acctstate.core.workflow import Workflow
from acctstate.values.clock import SystemClock
from acctstate.values.effects import Hooks, RecordingHooks
from acctstate.values.errors import AcctStateError, MissingDependency

__all__ = ["CommandError", "add_store_commands", "one_line", "progress"]


class CommandError(AcctStateError):
    """A command could not do what was asked; the message is printed as is."""

    __module__ = "acctstate.cli"  # its public path, as printed in a traceback


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (its lines joined by ``; ``)."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip().removeprefix("- ") for line in text.splitlines() if line.strip()]
    return "; ".join(lines)


@contextlib.contextmanager
def progress(what: str, unit: str, *, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (rich), as a ``progress(done, total)`` callback
    (``what`` and ``unit`` frame it: ``simulating ━━━━ 40/180 days``).

    On a terminal the bar is redrawn in place; otherwise (a log, a pipe) the final
    state is written once. Without rich installed (the ``cli`` extra), or with
    ``quiet``, nothing is drawn.
    """
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    except ImportError:
        quiet = True
    if quiet:
        yield lambda done, total: None
        return
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        console=Console(file=sys.stderr),
    )
    task = bar.add_task(what, total=None)

    def advance(done: int, total: int) -> None:
        if not bar.live.is_started:
            # drawn from the first step on, so that a command refused before its
            # first step prints its one error line and nothing else
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield advance
    finally:
        if bar.live.is_started:
            bar.stop()


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _open_store(args: argparse.Namespace) -> Any:
    """The SqlStore at ``args.url`` over the workflow named by ``--workflow``."""
    try:
        sql = importlib.import_module("acctstate.world.store.sql")
    except ImportError as exc:  # MissingDependency names the extra
        raise CommandError(str(exc)) from None
    wf = args.load_workflow(args.workflow)
    url: str = args.url
    m = re.match(r"^sqlite(\+\w+)?:///([^?]+)", url)
    if m is not None and m.group(2) != ":memory:":
        # SQLite would make an empty database where there is none: say so instead
        path = pathlib.Path(m.group(2))
        if not path.is_file():
            raise CommandError(f"no database file at {path}")
    elif "://" not in url:
        raise CommandError(f"expected a database URL such as sqlite:///accounts.db, got {url!r}")
    try:
        engine = sql.create_engine(url)
    except Exception as exc:  # an unknown dialect or driver, a malformed URL
        raise CommandError(f"cannot open {url!r}: {one_line(exc)}") from None
    return sql.SqlStore(wf, engine)


@contextlib.contextmanager
def _reading(store: Any) -> Iterator[None]:
    """Database errors as one line naming the store (the password hidden)."""
    try:
        yield
    except AcctStateError:
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "sqlalchemy":
            raise
        where = store.engine.url.render_as_string(hide_password=True)
        cause = getattr(exc, "orig", None) or exc
        raise CommandError(
            f"cannot read the store at {where}: {one_line(cause)} "
            "(is it an acctstate store, made with the same workflow?)"
        ) from None


def _moment(text: str) -> dt.datetime:
    """A date (midnight UTC) or a date-time with a UTC offset."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date (2026-06-01) or a date-time with an offset "
            f"(2026-06-01T09:00+02:00), got {text!r}"
        ) from None
    if len(text) == 10:
        return value.replace(tzinfo=dt.UTC)
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"give {text!r} a UTC offset (such as Z or +02:00) so it names one instant"
        )
    return value


def _fact(text: str) -> tuple[str, Any]:
    """NAME=VALUE event data for guards: true/false, a decimal number, or text."""
    name, sep, raw = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    value: Any = raw
    if raw in ("true", "false"):
        value = raw == "true"
    else:
        with contextlib.suppress(ArithmeticError):
            value = Decimal(raw)
    return name, value


def _print_json(value: Any, out: IO[str]) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False), file=out)


def _explain(args: argparse.Namespace, out: IO[str]) -> int:
    store = _open_store(args)
    at = args.at if args.at is not None else SystemClock().now()
    with _reading(store):
        account = store.load(args.account)
    wf: Workflow = store.workflow
    found = wf.explain(account, args.trigger, at=at, **dict(args.data))
    status = found.status
    if args.json:
        _print_json(
            {
                "account": account.id,
                "status": status.name,
                "code": status.code,
                "since": account.status_since.isoformat(),
                "trigger": found.trigger,
                "allowed": found.allowed,
                "legal": found.legal,
                "dest": None if found.dest is None else found.dest.name,
                "refusals": [{"guard": r.guard, "reason": r.reason} for r in found.refusals],
                "allowed_here": list(wf.allowed_triggers(account, at=at, **dict(args.data))),
            },
            out,
        )
        return 0
    print(
        f"account {account.id!r} is {status.name!r} ({status.code}) since "
        f"{account.status_since.isoformat()}",
        file=out,
    )
    print(found, file=out)
    if not found.allowed:
        allowed = wf.allowed_triggers(account, at=at, **dict(args.data))
        print(f"allowed here: {', '.join(allowed) or 'nothing'}", file=out)
    return 0


def _change_record(change: Any, version: int) -> dict[str, Any]:
    actor = change.actor
    return {
        "account_id": change.account_id,
        "version": version,
        "at": change.at.isoformat(),
        "recorded_at": None if change.recorded_at is None else change.recorded_at.isoformat(),
        "trigger": change.trigger,
        "source": change.source.name,
        "source_code": change.source.code,
        "dest": change.dest.name,
        "dest_code": change.dest.code,
        "reason": change.reason,
        "note": change.note,
        "actor": None if actor is None else actor.id,
        "effects": " ".join(e.kind for e in change.effects),
    }


def _history(args: argparse.Namespace, out: IO[str]) -> int:
    store = _open_store(args)
    with _reading(store):
        changes = list(store.history(args.account))
    rows = [
        _change_record(c, v)
        for v, c in enumerate(changes)
        if args.since is None or c.at >= args.since
    ]
    if args.json:
        _print_json(rows, out)
        return 0
    if not rows:
        print(f"no changes to account {args.account!r} in that time", file=out)
        return 0
    for r in rows:
        why = f"  reason {r['reason']}" if r["reason"] else ""
        who = f"  by {r['actor']}" if r["actor"] else ""
        did = f"  [{r['effects']}]" if r["effects"] else ""
        print(
            f"{r['at']}  {r['trigger']}: {r['source']} ({r['source_code']}) -> "
            f"{r['dest']} ({r['dest_code']}){why}{who}{did}",
            file=out,
        )
    return 0


def _stats(args: argparse.Namespace, out: IO[str]) -> int:
    from acctstate.operations.stats import account_statistics

    store = _open_store(args)
    with _reading(store):
        stats = account_statistics(store.workflow, store.accounts(), include_hidden=True)
    if args.json:
        _print_json(stats.to_dict(), out)
        return 0
    rows = [(r.status.name, str(r.status.code), str(r.count)) for r in stats.statuses if r.count]
    rows.append(("total", "", str(stats.total)))
    width = max(len(r[0]) for r in [*rows, ("status", "", "")])
    code = max(len(r[1]) for r in [*rows, ("", "code", "")])
    print(f"{'status':<{width}}  {'code':>{code}}  {'accounts':>8}", file=out)
    for name, c, n in rows:
        print(f"{name:<{width}}  {c:>{code}}  {n:>8}", file=out)
    return 0


_EXPORT_COLUMNS = {
    "accounts": ["id", "status", "code", "status_since", "version"],
    "history": [
        "account_id",
        "version",
        "at",
        "recorded_at",
        "trigger",
        "source",
        "source_code",
        "dest",
        "dest_code",
        "reason",
        "note",
        "actor",
        "effects",
    ],
    "outbox": ["key", "account_id", "version", "kind", "attempts", "last_error", "detail"],
}


def _effect_detail(effect: Any) -> str:
    import attrs

    fields = {
        k: v for k, v in attrs.asdict(effect, recurse=True).items() if k not in ("kind", "key")
    }
    return json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)


def _export_rows(args: argparse.Namespace, store: Any) -> list[dict[str, Any]]:
    if args.what == "accounts":
        catalog = store.workflow.catalog
        return [
            {
                "id": a.id,
                "status": catalog[a.status].name,
                "code": a.status,
                "status_since": a.status_since.isoformat(),
                "version": a.version,
            }
            for a in store.accounts()
        ]
    if args.what == "outbox":
        return [
            {
                "key": p.key,
                "account_id": p.account_id,
                "version": p.version,
                "kind": p.effect.kind,
                "attempts": p.attempts,
                "last_error": p.last_error,
                "detail": _effect_detail(p.effect),
            }
            for p in store.pending()
        ]
    accounts = store.accounts()
    rows: list[dict[str, Any]] = []
    with progress("exporting", "accounts", quiet=args.quiet) as advance:
        for done, account in enumerate(accounts, 1):
            rows.extend(_change_record(c, v) for v, c in enumerate(store.history(account.id)))
            advance(done, len(accounts))
    return rows


def _export(args: argparse.Namespace, out: IO[str]) -> int:
    if args.format == "parquet" and not args.output:
        raise CommandError("parquet is binary: give a file with --output FILE")
    store = _open_store(args)
    with _reading(store):
        rows = _export_rows(args, store)
    columns = _EXPORT_COLUMNS[args.what]
    if args.format == "parquet":
        try:
            import pyarrow as pa  # type: ignore[import-untyped]
            import pyarrow.parquet as pq  # type: ignore[import-untyped]
        except ImportError:
            raise MissingDependency(
                "pyarrow", needed_for="parquet export", install="pip install acctstate[parquet]"
            ) from None
        table = pa.table({c: [r[c] for r in rows] for c in columns})
        pq.write_table(table, args.output)
    else:
        target = (
            open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
            if args.output
            else contextlib.nullcontext(out)
        )
        with target as stream:
            writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    if args.output:
        print(f"wrote {len(rows)} rows to {args.output}", file=sys.stderr)
    return 0


def _hooks(args: argparse.Namespace) -> tuple[Hooks, RecordingHooks | None]:
    """The hooks ``deliver`` runs: imported with --hooks, or recording with --record."""
    if args.record:
        recorder = RecordingHooks()
        return Hooks.from_object(recorder), recorder
    module_name, sep, attr = args.hooks.partition(":")
    if not sep or not module_name or not attr:
        raise CommandError(f"--hooks expects module:attribute, got {args.hooks!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would, for the host's own module
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise CommandError(f"cannot import the hooks {args.hooks!r}: {one_line(exc)}") from None
    if inspect.isclass(target) or inspect.isfunction(target):
        target = target()
    return (target if isinstance(target, Hooks) else Hooks.from_object(target)), None


def _deliver(args: argparse.Namespace, out: IO[str]) -> int:
    if (args.hooks is None) == (not args.record):
        raise CommandError(
            "say how to carry the effects out: --hooks module:attribute (your hooks), or "
            "--record (print them and mark them done without running anything)"
        )
    hooks, recorder = _hooks(args)
    store = _open_store(args)
    delivered: list[str] = []
    skipped: list[str] = []
    failed: list[tuple[str, str]] = []
    with _reading(store):
        total = min(len(store.pending()), args.limit)
        with progress("delivering", "effects", quiet=args.quiet) as advance:
            # in chunks, for the progress bar; a chunk with a failure ends the run, so a
            # broken hook is not retried over and over (the failed effect stays pending)
            while len(delivered) + len(skipped) < args.limit:
                chunk = min(100, args.limit - len(delivered) - len(skipped))
                run = store.deliver(hooks, limit=chunk, skip_unhandled=args.skip_unhandled)
                delivered += run.delivered
                skipped += run.skipped
                failed += run.failed
                advance(min(len(delivered) + len(skipped), total), max(total, 1))
                if run.failed or len(run) < chunk:
                    break
        left = len(store.pending())
    if args.json:
        _print_json(
            {
                "delivered": delivered,
                "skipped": skipped,
                "failed": [{"key": k, "error": e} for k, e in failed],
                "pending": left,
            },
            out,
        )
    else:
        if recorder is not None:
            for key, effect in recorder.done.items():
                print(f"{key}  {effect.kind}", file=out)
        print(
            f"delivered {len(delivered)}, skipped {len(skipped)}, failed {len(failed)}; "
            f"{left} still pending",
            file=out,
        )
        for key, error in failed:
            print(f"failed {key}: {error}", file=out)
    return 1 if failed else 0


def add_store_commands(sub: Any, load: Callable[[str], Workflow]) -> None:
    """Add the commands on a store URL to the command line's subparsers ``sub``, one
    parser each; ``load`` turns ``--workflow`` (a preset name or a file) into the
    workflow the store was filled with."""

    def store_command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
        p.add_argument("url", metavar="URL", help="the store's database URL (sqlite:///a.db)")
        p.add_argument(
            "--workflow",
            "-w",
            metavar="SOURCE",
            default="isp",
            help="the store's workflow: a preset or a workflow file (isp)",
        )
        p.set_defaults(load_workflow=load)
        return p

    p = store_command(
        "explain",
        "say whether a trigger may fire on a stored account, and why not",
        "Load the account from the store and explain the trigger now (or --at): allowed, "
        "or every reason it is refused, and the triggers allowed instead.",
    )
    p.add_argument("account", metavar="ACCOUNT", help="the account id")
    p.add_argument("trigger", metavar="TRIGGER", help="the trigger to explain")
    p.add_argument("--at", type=_moment, metavar="WHEN", help="explain at this instant (now)")
    p.add_argument(
        "--data",
        "-d",
        type=_fact,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="event data for guards, as fire() would get it (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(run=_explain)

    p = store_command(
        "history",
        "print a stored account's history",
        "Print every status change of the account, oldest first: when, trigger, from, to, "
        "reason, actor and effects.",
    )
    p.add_argument("account", metavar="ACCOUNT", help="the account id")
    p.add_argument(
        "--since", type=_moment, metavar="WHEN", help="only changes from this date (UTC) on"
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(run=_history)

    p = store_command(
        "stats", "count the stored accounts per status", "Count the stored accounts per status."
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(run=_stats)

    p = store_command(
        "export",
        "export accounts, history or pending effects as CSV or Parquet",
        "Write the stored accounts, every account's history, or the effects still waiting "
        "in the outbox, as CSV (to stdout or --output) or Parquet (to --output; needs the "
        "'parquet' extra).",
    )
    p.add_argument("--what", choices=["accounts", "history", "outbox"], required=True)
    p.add_argument("--format", "-f", choices=["csv", "parquet"], default="csv", help="(csv)")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(run=_export)

    p = store_command(
        "deliver",
        "run the effects waiting in the outbox through your hooks",
        "Carry out the pending effects (billing, provisioning, refunds, notices), oldest "
        "first per account, and mark each done. A failed effect stays pending and its "
        "account's later effects wait behind it; exit status 1 when any failed.",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--hooks",
        metavar="MODULE:ATTR",
        help="your hooks: an acctstate.Hooks, an object with every hook method, or a "
        "function returning one",
    )
    how.add_argument(
        "--record",
        action="store_true",
        help="run nothing: print each effect and mark it done",
    )
    p.add_argument("--limit", type=_count, default=1000, help="at most this many (1000)")
    p.add_argument(
        "--skip-unhandled",
        action="store_true",
        help="mark effects no hook handles as done instead of failing them",
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(run=_deliver)
