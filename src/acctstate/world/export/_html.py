"""HTML views for Jupyter: statuses, changes, histories, workflows, sweeps and batches.

Every view is a self-contained HTML fragment (inline styles only, every value escaped)
so it renders the same in Jupyter, VS Code and a static HTML export. Long tables are cut
at ``limit`` rows with a line saying how many were left out.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from acctstate.values.diagram import BACKEND_COLORS
from acctstate.values.history import History, StatusChange
from acctstate.values.status import Status
from acctstate.world.export._deps import MissingDependency
from acctstate.world.export._diagrams import diagram
from acctstate.world.export._frames import sweep_records, transition_records

if TYPE_CHECKING:
    from acctstate.core.workflow import Workflow
    from acctstate.operations.automation import ApplyOutcome, SweepPlan
    from acctstate.operations.batch import BatchReport, Preview

__all__ = [
    "apply_html",
    "change_html",
    "history_html",
    "preview_html",
    "report_html",
    "status_html",
    "sweep_html",
    "table_html",
    "workflow_html",
]

_TABLE = "border-collapse:collapse;font-size:12px;margin:4px 0"
_CELL = "border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top"
_NOTE = "color:#666;font-size:11px"
_ERROR = "#c0392b"


def _esc(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return html.escape(", ".join(str(v) for v in value))
    if hasattr(value, "isoformat"):
        return html.escape(value.isoformat())
    return html.escape(str(value))


def _chip(status: Status | None) -> str:
    """A status name on its back-end colour (its own colour when it has one)."""
    if status is None:
        return ""
    fill = status.color or BACKEND_COLORS[status.backend]
    return (
        f'<span style="background:{html.escape(fill)};border-radius:3px;padding:0 4px" '
        f'title="{_esc(status.label)} ({status.code}, {status.backend.value})">'
        f"{_esc(status.name)}</span>"
    )


def table_html(
    rows: Iterable[Sequence[str]],
    header: Sequence[str],
    *,
    limit: int | None = 200,
    total: int | None = None,
) -> str:
    """An HTML table of pre-escaped cells, cut after ``limit`` rows.

    Args:
        rows: the rows, each a sequence of HTML cell contents (already escaped).
        header: the column titles (plain text, escaped here).
        limit: the most rows shown (``None``: all).
        total: how many rows there are, when ``rows`` is cut already.

    >>> table_html([["1", "<b>x</b>"]], ["n", "what"])[:48]
    '<table style="border-collapse:collapse;font-size'
    """
    shown: list[Sequence[str]] = []
    count = 0
    for row in rows:
        count += 1
        if limit is None or len(shown) < limit:
            shown.append(row)
    head = "".join(f'<th style="{_CELL}">{html.escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{cell}</td>' for cell in row) + "</tr>"
        for row in shown
    )
    out = f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    hidden = (total if total is not None else count) - len(shown)
    if hidden > 0:
        out += f'<div style="{_NOTE}">… {hidden} more rows not shown</div>'
    return out


def _flags(s: Status) -> str:
    flags = [
        name
        for name, on in (
            ("provisioned", s.provisioned),
            ("billable", s.billable),
            ("usage billed", s.usage_billable),
            ("terminal", s.terminal),
            ("one-way", s.one_way),
            ("hidden in statistics", not s.show_in_statistics),
        )
        if on
    ]
    if s.dunning_step is not None:
        flags.append(f"dunning step {s.dunning_step}")
    return ", ".join(flags)


def status_html(status: Status) -> str:
    """One status as a small HTML table: code, name on its colour, label, class, flags."""
    row = [
        str(status.code),
        _chip(status),
        _esc(status.label),
        _esc(status.backend.value),
        _esc(_flags(status)),
        _esc(status.description),
    ]
    return table_html([row], ["code", "name", "label", "back end", "flags", "description"])


def _statuses_table(statuses: Iterable[Status]) -> str:
    rows = (
        [str(s.code), _chip(s), _esc(s.label), _esc(s.backend.value), _esc(_flags(s))]
        for s in statuses
    )
    return table_html(rows, ["code", "name", "label", "back end", "flags"], limit=None)


def _change_row(c: StatusChange, *, account: bool) -> list[str]:
    row = [_esc(c.account_id)] if account else []
    row += [
        _esc(c.at),
        _chip(c.source) if not c.is_opening else "",
        _chip(c.dest),
        _esc(c.trigger),
        _esc(None if c.actor is None else c.actor.id),
        _esc(c.reason),
        _esc(c.note),
        _esc([e.kind for e in c.effects]),
    ]
    return row


_CHANGE_HEADER = ["at", "from", "to", "trigger", "actor", "reason", "note", "effects"]


def change_html(change: StatusChange) -> str:
    """One status change as a one-row HTML table (account, time, from, to, why, effects)."""
    return table_html([_change_row(change, account=True)], ["account", *_CHANGE_HEADER])


def history_html(history: History | Iterable[StatusChange], *, limit: int = 200) -> str:
    """An account's history as an HTML table, one row per change in time order."""
    changes = list(history)
    accounts = {c.account_id for c in changes}
    title = f"History of {len(changes)} changes"
    if len(accounts) == 1:
        title += f" of account {next(iter(accounts))}"
    rows = (_change_row(c, account=len(accounts) > 1) for c in changes)
    header = _CHANGE_HEADER if len(accounts) <= 1 else ["account", *_CHANGE_HEADER]
    return f"<div><b>{_esc(title)}</b>{table_html(rows, header, limit=limit)}</div>"


def _svg_or_text(wf: Workflow, options: dict[str, Any]) -> str:
    view = diagram(wf, **options)
    try:
        svg = view.to_svg()
    except MissingDependency as exc:
        return (
            f'<div style="{_NOTE}">No drawing: {_esc(exc)}. The Mermaid text:</div>'
            f"<details><summary>Mermaid</summary><pre>{_esc(view.to_mermaid())}</pre></details>"
        )
    start = svg.find("<svg")
    return f'<div style="max-width:100%;overflow:auto">{svg[start:]}</div>'


def workflow_html(wf: Workflow, *, draw: bool = True) -> str:
    """A workflow as HTML: a summary, its diagram (SVG when Graphviz is installed, else
    the Mermaid text) and collapsible tables of its statuses and transitions.

    Args:
        wf: the workflow.
        draw: include the diagram.
    """
    summary = (
        f"<b>Workflow {_esc(wf.name)}</b>: {len(wf.catalog)} statuses, "
        f"{len(wf.transitions)} transitions; starts in " + ", ".join(_chip(s) for s in wf.initial)
    )
    legend = " ".join(
        f'<span style="background:{c};padding:0 4px;border-radius:3px">{b.value}</span>'
        for b, c in BACKEND_COLORS.items()
    )
    parts = [f"<div>{summary}</div>", f'<div style="{_NOTE}">back-end classes: {legend}</div>']
    if draw:
        parts.append(_svg_or_text(wf, {}))
    parts.append(
        f"<details><summary>{len(wf.catalog)} statuses</summary>"
        f"{_statuses_table(wf.catalog)}</details>"
    )
    by_name = {s.name: s for s in wf.catalog}
    rows = (
        [
            _esc(r["trigger"]),
            _chip(by_name[r["from"]]),
            _chip(by_name[r["to"]]),
            _esc(r["guards"]),
            _esc(r["permission"]),
            _esc(r["reasons"]),
            _esc(r["description"]),
        ]
        for r in transition_records(wf)
    )
    header = ["trigger", "from", "to", "guards", "permission", "reasons", "why"]
    parts.append(
        f"<details><summary>{len(wf.transitions)} transitions</summary>"
        f"{table_html(rows, header, limit=None)}</details>"
    )
    return "<div>" + "".join(parts) + "</div>"


def _counts(counts: dict[str, int]) -> str:
    return " · ".join(f"{_esc(k)} <b>{n}</b>" for k, n in counts.items())


def preview_html(preview: Preview, *, limit: int = 50) -> str:
    """A batch preview as HTML: the totals, the moves by status, then one row per account."""
    sel = preview.selected
    head = (
        f"<b>Batch preview</b> of {sel.counts.selected} accounts, effective "
        f"{_esc(preview.at)}<br>{_counts(preview.counts)}"
    )
    changes = "<br>".join(_esc(ch.describe()) for ch in preview.changes)
    moves = table_html(
        ([_esc(a), _esc(b), str(n)] for (a, b), n in preview.transitions.items()),
        ["from", "to", "accounts"],
        limit=None,
    )
    rows = (
        [
            _esc(r["account"]),
            _esc(r["action"]),
            _esc(r["from"]),
            _esc(r["to"]),
            _esc(r["trigger"]),
            _esc(r["effects"]),
            _esc(r["reason"]),
        ]
        for r in preview.to_records()
    )
    accounts = table_html(
        rows, ["account", "action", "from", "to", "trigger", "effects", "reason"], limit=limit
    )
    return f"<div>{head}<div>{changes}</div>{moves}{accounts}</div>"


def report_html(report: BatchReport, *, limit: int = 50) -> str:
    """A batch report as HTML: the outcome counts, then one row per account."""
    head = (
        f"<b>Batch report</b> ({_esc(report.mode.value)}, effective {_esc(report.at)}): "
        f"{_counts({k: n for k, n in report.counts.items() if n})}"
    )
    rows = (
        [_esc(r["account"]), _esc(r["outcome"]), _esc(r["from"]), _esc(r["to"]), _esc(r["reason"])]
        for r in report.to_records()
    )
    table = table_html(rows, ["account", "outcome", "from", "to", "reason"], limit=limit)
    return f"<div>{head}{table}</div>"


def sweep_html(plan: SweepPlan, *, limit: int = 50) -> str:
    """A sweep plan as HTML: totals, changes per rule, then its records."""
    head = (
        f"<b>Sweep</b> at {_esc(plan.at)}: {plan.examined} accounts examined, "
        f"{len(plan)} to act on, {plan.changes} transitions planned<br>"
        f"{_counts(plan.by_rule())}"
    )
    rows = (
        [
            _esc(r["account"]),
            _esc(r["outcome"]),
            _esc(r["rule"]),
            _esc(r["trigger"]),
            _esc(r["from"]),
            _esc(r["to"]),
            _esc(r["detail"]),
        ]
        for r in sweep_records(plan)
    )
    header = ["account", "outcome", "rule", "trigger", "from", "to", "detail"]
    return f"<div>{head}{table_html(rows, header, limit=limit)}</div>"


def apply_html(outcome: ApplyOutcome, *, limit: int = 50) -> str:
    """The outcome of applying a sweep as HTML: totals, then the changes made."""
    head = (
        f"<b>Sweep applied</b>: {outcome.changes} transitions on {len(outcome.results)} "
        f"accounts, {len(outcome.failed)} stopped on an error"
    )
    changes = [c for r in outcome.results for c in r.changes]
    table = table_html(
        (_change_row(c, account=True) for c in changes), ["account", *_CHANGE_HEADER], limit=limit
    )
    errors = "".join(
        f'<div style="color:{_ERROR}">{_esc(r.account_id)}: {_esc(r.error)}</div>'
        for r in outcome.failed
    )
    return f"<div>{head}{table}{errors}</div>"
