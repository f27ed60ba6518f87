"""The column-wise sweep: the same rules over a book of accounts held as columns.

The per-account sweep walks one object at a time; this module takes the book as arrays
(a dict of NumPy arrays, a pandas DataFrame or an Arrow table, see ``_book``) and decides
every row at once with NumPy, firing through the workflow's compiled table: each round
evaluates the rules for the rows still moving, looks the destinations up per trigger and
guard, and moves them; rows that did not move are done. The decisions are the
per-account sweep's, row for row (a property test holds the two together).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from acctstate.operations.automation._book import _as_arrays, _Book, _numpy
from acctstate.operations.automation._columns_holds import HoldDecisions, sweep_holds
from acctstate.operations.automation._columns_out import _Decided, _Part
from acctstate.operations.automation._columns_plan import _plan
from acctstate.operations.automation._columns_run import _Run
from acctstate.operations.automation._columns_table import table_run
from acctstate.operations.automation._invoice_columns import _auto_rows, invoice_facts
from acctstate.operations.automation._policy import RULES, AutomationPolicy
from acctstate.operations.automation._sweep import _policies
from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument

__all__ = ["ColumnarSweep", "sweep_columns"]


# -- the result --------------------------------------------------------------------------


@attrs.frozen(eq=False)
class ColumnarSweep:
    """What the column-wise sweep decided, as arrays (one entry per change / refusal).

    Attributes:
        at: the sweep's ``now``.
        status: the status code each row ends in.
        triggers: trigger names; ``change_trigger`` and ``blocked_trigger`` index it.
        change_row, change_hop, change_rule, change_trigger, change_source, change_dest:
            one entry per planned transition, sorted by row then hop; ``change_rule``
            indexes [`RULES`][acctstate.automation.RULES].
        blocked_row, blocked_rule, blocked_trigger: rules refused by guards, per row,
            in the final status.
        error_row: rows that could not be planned (unknown status code, rules that do
            not settle).
        applied_invoice, applied_amount: the daily auto-apply's allocations (a policy
            with ``auto_apply`` and an ``invoices`` table): the invoice's row in that
            table and the amount in minor units; empty otherwise.
        holds: the hold changes (time-bound holds ended, a credit hold placed or
            released as a hold), decided before the status changes of each row, a
            [`HoldDecisions`][acctstate.automation.HoldDecisions]; ``None`` when no holds
            were given and no policy places one.
    """

    at: dt.datetime
    status: Any
    triggers: tuple[str, ...]
    change_row: Any
    change_hop: Any
    change_rule: Any
    change_trigger: Any
    change_source: Any
    change_dest: Any
    blocked_row: Any
    blocked_rule: Any
    blocked_trigger: Any
    error_row: Any
    applied_invoice: Any = None
    applied_amount: Any = None
    holds: HoldDecisions | None = None

    def __len__(self) -> int:
        return len(self.change_row)

    def by_rule(self) -> dict[str, int]:
        """How many transitions each rule planned, in rule order."""
        np = _numpy()
        counts = np.bincount(self.change_rule, minlength=len(RULES))
        return {RULES[i]: int(n) for i, n in enumerate(counts) if n}

    def changed_rows(self) -> Any:
        """The rows that change, sorted."""
        return _numpy().unique(self.change_row)

    def decisions(self) -> dict[int, list[tuple[str, str, int, int]]]:
        """``row -> [(rule, trigger, source code, dest code), ...]`` (rows that change)."""
        out: dict[int, list[tuple[str, str, int, int]]] = {}
        for row, rule, trig, src, dst in zip(
            self.change_row.tolist(),
            self.change_rule.tolist(),
            self.change_trigger.tolist(),
            self.change_source.tolist(),
            self.change_dest.tolist(),
            strict=True,
        ):
            out.setdefault(row, []).append((RULES[rule], self.triggers[trig], src, dst))
        return out

    def refusals(self) -> dict[int, list[tuple[str, str]]]:
        """``row -> [(rule, trigger), ...]`` for rules the guards refused."""
        out: dict[int, list[tuple[str, str]]] = {}
        for row, rule, trig in zip(
            self.blocked_row.tolist(),
            self.blocked_rule.tolist(),
            self.blocked_trigger.tolist(),
            strict=True,
        ):
            out.setdefault(row, []).append((RULES[rule], self.triggers[trig]))
        return out

    def to_frame(self, ids: Sequence[Any] | None = None) -> Any:
        """The changes as a pandas DataFrame: id (or row), hop, rule, trigger, source, dest."""
        try:
            import pandas as pd  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover
            raise ImportError("to_frame needs pandas: pip install acctstate[notebook]") from exc
        np = _numpy()
        key = self.change_row if ids is None else np.asarray(ids, dtype=object)[self.change_row]
        return pd.DataFrame(
            {
                "id" if ids is not None else "row": key,
                "hop": self.change_hop,
                "rule": np.asarray(RULES, dtype=object)[self.change_rule],
                "trigger": np.asarray(self.triggers, dtype=object)[self.change_trigger]
                if self.triggers
                else np.empty(0, dtype=object),
                "source": self.change_source,
                "dest": self.change_dest,
            }
        )


def sweep_columns(
    columns: Any,
    policy: AutomationPolicy | Sequence[AutomationPolicy],
    *,
    now: dt.datetime,
    scale: int = 2,
    workers: int | None = None,
    invoices: Any = None,
    holds: Mapping[str, Any] | None = None,
) -> ColumnarSweep:
    """Plan the sweep of a whole book held as columns; nothing changes.

    Decides exactly what [`sweep`][acctstate.automation.sweep] decides for the same
    accounts (same rules, order, guards and fixed point), with NumPy over every row at
    once, through the workflow's compiled table. It is a pure function of its input,
    so partitions of a distributed frame can be swept independently.

    Args:
        columns: a mapping of arrays, a pandas DataFrame or an Arrow table (see the
            module doc for the columns).
        policy: one policy, or one per account class.
        now: the instant of the sweep (timezone-aware).
        scale: decimals of integer money columns (2: cents).
        workers: threads sweeping independent chunks of rows (NumPy releases the GIL;
            chunks of about 250,000 rows, at least one per thread); ``None`` uses
            every CPU for a book of at least 200,000 rows and one thread below that;
            ``1`` never starts a thread.
        invoices: the open invoices as a long table (``account`` row, ``due``,
            ``open``, optionally ``issued`` and ``id``, which break ties of one due
            day as the per-account allocation does); when given, every row's dunning and
            credit-hold facts come from it (a row without invoices owes nothing past
            due), after the daily auto-apply of the book's ``unapplied`` column for the
            policies with ``auto_apply``.
        holds: the standing holds, one row per hold in placement order: columns
            ``row`` (the account's row), ``id``, ``type`` and ``until``
            (``datetime64``, ``NaT`` for none);
            [`hold_columns`][acctstate.automation.hold_columns] builds them.

    Returns:
        A [`ColumnarSweep`][acctstate.automation.ColumnarSweep].

    Raises:
        InvalidArgument: a naive ``now``, a float money column, a naive or non-date
            date column, columns of different lengths, or no ``status``.
        MissingDependency: NumPy is not installed (``pip install acctstate[numpy]``); also an ImportError.

    >>> import numpy as np
    >>> from acctstate.presets import isp
    >>> from acctstate.automation import AutomationPolicy, reference_ladder
    >>> now = dt.datetime(2026, 3, 6, 2, 0, tzinfo=dt.UTC)
    >>> book = {"status": np.array([1, 1, 12]), "balance": np.array([0, 8000, 0]),
    ...         "unpaid_invoices": np.array([0, 2, 0]),
    ...         "oldest_unpaid_at": np.array(["NaT", "2026-02-03", "NaT"], "datetime64[ns]")}
    >>> out = sweep_columns(book, AutomationPolicy(isp.workflow(), ladder=reference_ladder()),
    ...                     now=now)
    >>> out.status.tolist(), out.by_rule()
    ([1, 12, 1], {'dunning_clear': 1, 'dunning': 3})
    """
    require_aware(now, "now")
    if workers is not None and (type(workers) is not int or workers < 1):
        raise InvalidArgument("workers", workers, "a positive int or None")
    np = _numpy()
    by_class = _policies(policy)
    zone = next(iter(by_class.values())).workflow.default_timezone if by_class else None
    book = _Book(columns, scale, zone)
    applied = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    if invoices is not None:
        facts, *allocated = invoice_facts(book, invoices, now, _auto_rows(book, by_class))
        book.cols.update(facts)
        applied = (allocated[0], allocated[1])
    threads = min(workers if workers is not None else _auto_workers(book.n), max(1, book.n))
    status = np.empty(book.n, dtype=np.int64)
    if threads <= 1:
        decided = [_sweep_book(book, by_class, now, status)]
        out = _laid_out(now, status, decided, [0], [status], map, applied)
        return _with_holds(_with_applied(out, invoices), book, holds, by_class, now)
    # Rows are independent: each chunk is swept on its own, writing its statuses into
    # its slice of the result; once all are decided (and the sizes known) each writes
    # its entries into its slices of the other arrays. Chunks are views of the columns;
    # NumPy releases the GIL in its loops.
    pieces = max(threads, -(-book.n // _CHUNK_ROWS))
    bounds = np.linspace(0, book.n, pieces + 1).astype(np.int64).tolist()
    spans = list(itertools.pairwise(bounds))
    finals = [status[a:b] for a, b in spans]

    def chunk(a: int, b: int, final: Any) -> _Decided:
        part = _Book({k: v[a:b] for k, v in book.cols.items()}, scale, zone)
        return _sweep_book(part, by_class, now, final)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        decided = list(pool.map(chunk, *zip(*spans, strict=True), finals))
        out = _laid_out(now, status, decided, bounds[:-1], finals, pool.map, applied)
    return _with_holds(_with_applied(out, invoices), book, holds, by_class, now)


def _with_holds(
    out: ColumnarSweep,
    book: _Book,
    holds: Mapping[str, Any] | None,
    by_class: dict[str | None, AutomationPolicy],
    now: dt.datetime,
) -> ColumnarSweep:
    """The sweep with its hold changes, when holds were given or a policy places one."""
    if holds is None and all(
        p.credit_hold is None or p.credit_hold.hold is None for p in by_class.values()
    ):
        return out
    return attrs.evolve(out, holds=sweep_holds(book, holds, by_class, now, out.error_row))


def _with_applied(out: ColumnarSweep, invoices: Any) -> ColumnarSweep:
    """The sweep less the allocations of rows that could not be planned (the
    per-account sweep books nothing on an account it reports an error for)."""
    rows, amounts = out.applied_invoice, out.applied_amount
    if not (len(rows) and len(out.error_row)):
        return out
    np = _numpy()
    account = np.asarray(_as_arrays(invoices)["account"])[rows]
    keep = ~np.isin(account, out.error_row)
    return attrs.evolve(out, applied_invoice=rows[keep], applied_amount=amounts[keep])


_AUTO_ROWS = 200_000
# Chunks of about this many rows (a few per thread): a thread slowed by the machine's
# other work takes fewer of them, and a chunk's columns stay near the core's cache.
_CHUNK_ROWS = 250_000


def _auto_workers(n: int) -> int:
    """Threads for a book of ``n`` rows: every CPU for a large book, else one."""
    return (os.cpu_count() or 1) if n >= _AUTO_ROWS else 1


def _laid_out(
    now: dt.datetime,
    status: Any,
    decided: list[_Decided],
    starts: list[int],
    finals: list[Any],
    each: Callable[..., Iterable[Any]],
    applied: tuple[Any, Any],
) -> ColumnarSweep:
    """The result's arrays, each chunk writing its entries into its own slices
    (through ``each``, ``map`` or a thread pool's), with the auto-apply's
    allocations (``applied``)."""
    np = _numpy()
    out: dict[str, Any] = {}
    at: list[tuple[int, int, int]] = []
    c = b = e = 0
    for d in decided:
        at.append((c, b, e))
        c += d.changes
        b += len(d.blocked[0])
        e += len(d.error_row)
    for name in ("row", "hop", "rule", "trigger", "source", "dest"):
        out[name] = np.empty(c, dtype=np.int64)
    for name in ("blocked_row", "blocked_rule", "blocked_trigger"):
        out[name] = np.empty(b, dtype=np.int64)
    out["error_row"] = np.empty(e, dtype=np.int64)
    list(each(lambda d, a, r, f: d.write(out, a, r, f), decided, at, starts, finals))
    return ColumnarSweep(
        at=now,
        status=status,
        triggers=decided[0].triggers,
        change_row=out["row"],
        change_hop=out["hop"],
        change_rule=out["rule"],
        change_trigger=out["trigger"],
        change_source=out["source"],
        change_dest=out["dest"],
        blocked_row=out["blocked_row"],
        blocked_rule=out["blocked_rule"],
        blocked_trigger=out["blocked_trigger"],
        error_row=out["error_row"],
        applied_invoice=applied[0],
        applied_amount=applied[1],
    )


def _sweep_book(
    book: _Book, by_class: dict[str | None, AutomationPolicy], now: dt.datetime, final: Any
) -> _Decided:
    """Decide the sweep of one book (or one chunk of one), on the calling thread,
    writing the status each row ends in into ``final``."""
    np = book.np
    final[:] = book.status
    given_since = book.date("status_since")
    parts: list[_Part] = []
    classes = book.cols.get("account_class")
    claimed: Any = None
    ordered = sorted(by_class.items(), key=lambda kv: kv[0] is None)
    for cls, p in ordered:
        mine: Any  # the rows of this class; None: every row
        if cls is None:
            mine = None if claimed is None else ~claimed
        else:
            mine = (
                np.zeros(book.n, dtype=bool)
                if classes is None
                else np.asarray(classes == cls, dtype=bool)
            )
            claimed = mine.copy() if claimed is None else claimed | mine
        if not p.enabled:
            continue
        plan = _plan(p)
        pos, known = plan.index_of(book.status)
        if known is None:
            eligible = mine
            bad = np.empty(0, dtype=np.int64)
        else:
            eligible = known if mine is None else mine & known
            bad = np.flatnonzero(~known if mine is None else mine & ~known)
        run = _Run(plan, book, now)
        got = table_run(run, eligible, pos, given_since, lay=len(by_class) == 1)
        laid = None
        if got is None:
            hops, blocked, errors = run.run(eligible, pos, given_since)
        else:
            hops, blocked, errors, laid = got
        settled = not errors
        errors.append(bad)
        if len(by_class) > 1 or not settled:
            # One policy that settles writes its statuses as it lays its changes out.
            for h in hops:  # in hop order: the last move of a row wins
                final[h.rows] = plan.codes[h.dest]
        for stuck in errors:
            final[stuck] = book.status[stuck]
        parts.append(_Part(hops, blocked, errors, plan, settled, laid))
    triggers = tuple(sorted({t for part in parts for t in part.plan.triggers}))
    return _Decided(book.status, parts, triggers)
