"""Plots for notebooks: accounts per status over time, and flows between statuses.

The data functions ([`counts_over_time`][acctstate.export.counts_over_time],
[`flow_counts`][acctstate.export.flow_counts]) return plain dicts from accounts, histories, sweeps
or simulations; the plot functions draw them with matplotlib, imported only when a plot is asked
for.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from acctstate.values.diagram import BACKEND_COLORS
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import History, StatusChange
from acctstate.values.status import Backend, Status
from acctstate.world.export._deps import matplotlib_pyplot

if TYPE_CHECKING:
    from acctstate.core.workflow import Workflow

__all__ = ["counts_over_time", "flow_counts", "plot_flows", "plot_status_counts"]

Counts = Mapping[Hashable, Mapping[str, int]]
"""``{time or day: {status name: accounts}}``."""


def counts_over_time(
    accounts: Iterable[Any], times: Iterable[dt.datetime]
) -> dict[dt.datetime, dict[str, int]]:
    """How many accounts were in each status at each instant, read from their histories.

    Args:
        accounts: accounts with a ``history`` (or [`History`][acctstate.history.History] values).
        times: the instants (timezone-aware).

    Returns:
        ``{instant: {status name: accounts}}``, instants in the order given, names
        sorted; accounts not yet opened at an instant are not counted then.

    Raises:
        InvalidArgument: an account has no history, or an instant is naive.

    >>> from acctstate.presets import isp
    >>> wf = isp.workflow()
    >>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> a = wf.open("A-1", "prospect", at=t0)
    >>> _ = wf.fire(a, "register", at=t0 + dt.timedelta(days=2))
    >>> b = wf.open("B-2", "prospect", at=t0 + dt.timedelta(days=1))
    >>> counts_over_time([a, b], [t0 + dt.timedelta(days=d) for d in range(3)])
    {datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc): {'prospect': 1},
     datetime.datetime(2026, 1, 2, 0, 0, tzinfo=datetime.timezone.utc): {'prospect': 2},
     datetime.datetime(2026, 1, 3, 0, 0, tzinfo=datetime.timezone.utc): {'prospect': 1, 'registered_pending_activation': 1}}
    """
    histories = []
    for a in accounts:
        h = getattr(a, "history", a)
        if not isinstance(h, History):
            raise InvalidArgument("accounts", a, "accounts with a history, or History values")
        histories.append(h)
    out: dict[dt.datetime, dict[str, int]] = {}
    for t in times:
        tally: Counter[str] = Counter()
        for h in histories:
            s = h.status_at(t)
            if s is not None:
                tally[s.name] += 1
        out[t] = dict(sorted(tally.items()))
    return out


def _name(ref: object) -> str:
    return ref.name if isinstance(ref, Status) else str(ref)


def flow_counts(
    flows: Iterable[StatusChange | tuple[Any, Any]] | Mapping[tuple[Any, Any], int],
) -> dict[tuple[str, str], int]:
    """How many times accounts moved from one status to another.

    Args:
        flows: status changes (a history's opening entries are skipped), ``(from,
            to)`` pairs of names or statuses, or a ``{(from, to): count}`` mapping
            (``Preview.transitions``); histories and accounts with one are read too.

    Returns:
        ``{(from name, to name): count}``, most frequent first, ties by name.

    Raises:
        InvalidArgument: an item is none of these.

    >>> flow_counts([("active", "suspended"), ("suspended", "active"), ("active", "suspended")])
    {('active', 'suspended'): 2, ('suspended', 'active'): 1}
    """
    tally: Counter[tuple[str, str]] = Counter()
    if isinstance(flows, Mapping):
        for (a, b), n in flows.items():
            tally[(_name(a), _name(b))] += int(n)
    else:
        for item in flows:
            history = getattr(item, "history", item)
            if isinstance(history, History):
                tally.update(flow_counts(history))
            elif isinstance(item, StatusChange):
                if not item.is_opening:
                    tally[(item.source.name, item.dest.name)] += 1
            elif isinstance(item, tuple) and len(item) == 2:
                tally[(_name(item[0]), _name(item[1]))] += 1
            else:
                raise InvalidArgument(
                    "flows", item, "StatusChange values, (from, to) pairs or a history"
                )
    return dict(sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))


def _table(counts: Any) -> tuple[list[Hashable], dict[str, list[int]]]:
    """``(x values, {series: values})`` from a counts mapping or a DataFrame."""
    if hasattr(counts, "to_dict") and hasattr(counts, "index"):  # a pandas DataFrame
        counts = counts.to_dict(orient="index")
    if not isinstance(counts, Mapping):
        raise InvalidArgument("counts", counts, "{time: {status name: count}} or a DataFrame")
    xs = list(counts)
    names = sorted({str(n) for row in counts.values() for n in row})
    series = {n: [int(counts[x].get(n, 0) or 0) for x in xs] for n in names}
    return xs, series


def _order(names: Iterable[str], wf: Workflow | None) -> list[str]:
    if wf is None:
        return sorted(names)
    position = {s.name: i for i, s in enumerate(wf.catalog)}
    return sorted(names, key=lambda n: (position.get(n, len(position)), n))


def plot_status_counts(
    counts: Counts | Any,
    *,
    workflow: Workflow | None = None,
    by: str = "status",
    ax: Any = None,
    title: str | None = "Accounts per status",
) -> Any:
    """A stacked area chart of accounts per status (or per back-end class) over time.

    Args:
        counts: ``{time: {status name: accounts}}`` (from
            [`counts_over_time`][acctstate.export.counts_over_time] or a simulation) or a DataFrame
            with times as index and statuses as columns.
        workflow: the workflow the names belong to: orders the series by code and
            colours them (a status's own colour, else its back-end class's); needed
            for ``by="backend"``.
        by: ``"status"`` (one band per status) or ``"backend"`` (statuses of a
            back-end class added together, in the diagram colours).
        ax: a matplotlib Axes to draw on (default: a new figure).
        title: the title (``None``: none).

    Returns:
        The matplotlib Axes.

    Raises:
        InvalidArgument: ``by`` is neither, ``by="backend"`` without a workflow, or
            ``counts`` is not a mapping of mappings.
        MissingDependency: matplotlib is not installed (``pip install acctstate[notebook]``).
    """
    if by not in ("status", "backend"):
        raise InvalidArgument("by", by, "'status' or 'backend'")
    if by == "backend" and workflow is None:
        raise InvalidArgument("workflow", None, "a Workflow when by='backend'")
    xs, series = _table(counts)
    plt = matplotlib_pyplot("plot_status_counts")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.5))
    colors: list[Any] = []
    values: list[list[int]]
    if by == "backend":
        assert workflow is not None
        of = {s.name: s.backend for s in workflow.catalog}
        merged = {b.value: [0] * len(xs) for b in Backend}
        for name, column in series.items():
            if name not in of:
                raise InvalidArgument("counts", name, f"status names of {workflow.name!r}")
            total = merged[of[name].value]
            merged[of[name].value] = [a + b for a, b in zip(total, column, strict=True)]
        labels = [b.value for b in Backend if any(merged[b.value])]
        values = [merged[name] for name in labels]
        colors = [BACKEND_COLORS[Backend(name)] for name in labels]
    else:
        labels = [n for n in _order(series, workflow) if any(series[n])]
        values = [series[n] for n in labels]
        colors = _status_colors(labels, workflow, plt)
    if labels:
        ax.stackplot(xs, values, labels=labels, colors=colors, linewidth=0.3, edgecolor="white")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    ax.set_ylabel("accounts")
    ax.margins(x=0)
    if title:
        ax.set_title(title)
    return ax


_DEEP = {
    Backend.PROSPECT: "#5f5f5f",
    Backend.PENDING: "#b07d00",
    Backend.ACTIVE: "#2e6b30",
    Backend.SUSPENDED: "#c45500",
    Backend.CLOSED: "#9b1c1c",
}


def _status_colors(names: Sequence[str], wf: Workflow | None, plt: Any) -> list[Any]:
    """A status's own colour, else a shade of its back-end class's colour, from the
    diagram's pastel to a deep tone, further down the ladder (or further from 0) being
    deeper: bands of one class read as one family."""
    if wf is None:
        cmap = plt.get_cmap("tab20")
        return [cmap(i % 20) for i in range(len(names))]
    from matplotlib.colors import to_rgb

    statuses = {s.name: s for s in wf.catalog}
    family: dict[Backend, list[Status]] = {}
    for name in names:
        if name in statuses:
            family.setdefault(statuses[name].backend, []).append(statuses[name])
    for members in family.values():
        members.sort(key=lambda m: (m.dunning_step or 0, abs(m.code)))
    out: list[Any] = []
    for name in names:
        s = statuses.get(name)
        if s is None:
            out.append("#8fa8c8")
        elif s.color:
            out.append(s.color)
        else:
            members = family[s.backend]
            t = 0.85 * members.index(s) / max(len(members) - 1, 1)
            light, deep = to_rgb(BACKEND_COLORS[s.backend]), to_rgb(_DEEP[s.backend])
            out.append(tuple(a + (b - a) * t for a, b in zip(light, deep, strict=True)))
    return out


def plot_flows(
    flows: Any,
    *,
    workflow: Workflow | None = None,
    kind: str = "heatmap",
    top: int = 20,
    ax: Any = None,
    title: str | None = "Moves between statuses",
) -> Any:
    """Draw how many accounts moved between statuses: a from-by-to heat map, or bars.

    Args:
        flows: anything [`flow_counts`][acctstate.export.flow_counts] accepts (changes, pairs, a
            mapping).
        workflow: orders statuses by code and colours bars by destination class.
        kind: ``"heatmap"`` (rows: from, columns: to, counts written in the cells)
            or ``"bar"`` (the ``top`` most frequent moves, largest first).
        top: how many moves the bar chart shows.
        ax: a matplotlib Axes to draw on (default: a new figure).
        title: the title (``None``: none).

    Returns:
        The matplotlib Axes.

    Raises:
        InvalidArgument: an unknown ``kind`` or a ``top`` below 1.
        MissingDependency: matplotlib is not installed (``pip install acctstate[notebook]``).
    """
    if kind not in ("heatmap", "bar"):
        raise InvalidArgument("kind", kind, "'heatmap' or 'bar'")
    if type(top) is not int or top < 1:
        raise InvalidArgument("top", top, "an int >= 1")
    counts = flow_counts(flows)
    plt = matplotlib_pyplot("plot_flows")
    if kind == "bar":
        return _bars(plt, counts, workflow, top, ax, title)
    sources = _order({a for a, _ in counts}, workflow)
    dests = _order({b for _, b in counts}, workflow)
    grid = [[counts.get((a, b), 0) for b in dests] for a in sources]
    if ax is None:
        _, ax = plt.subplots(
            figsize=(max(4.0, 0.55 * len(dests) + 2.5), max(3.0, 0.4 * len(sources) + 1.5))
        )
    if counts:
        from matplotlib.colors import LogNorm

        # Log colours keep the rare moves visible next to the daily ones; cells without
        # a move are masked (white), not the palest red.
        cells = [[n if n else float("nan") for n in row] for row in grid]
        norm = LogNorm(vmin=0.7, vmax=max(counts.values()))
        ax.imshow(cells, cmap="Reds", norm=norm, aspect="auto")
        for i, row in enumerate(grid):
            for j, n in enumerate(row):
                if n:
                    ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                            color="white" if norm(n) > 0.6 else "black")  # fmt: skip
    ax.set_xticks(range(len(dests)), dests, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(sources)), sources, fontsize=8)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    if title:
        ax.set_title(title)
    return ax


def _bars(
    plt: Any,
    counts: dict[tuple[str, str], int],
    wf: Workflow | None,
    top: int,
    ax: Any,
    title: str | None,
) -> Any:
    shown: Sequence[tuple[tuple[str, str], int]] = list(counts.items())[:top]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(shown) + 1)))
    statuses = {} if wf is None else {s.name: s for s in wf.catalog}
    colors = [
        BACKEND_COLORS[statuses[b].backend] if b in statuses else "#8fa8c8" for (_, b), _ in shown
    ]
    labels = [f"{a} → {b}" for (a, b), _ in shown]
    ax.barh(range(len(shown)), [n for _, n in shown], color=colors, edgecolor="#555")
    ax.set_yticks(range(len(shown)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("moves")
    if title:
        ax.set_title(title)
    return ax
