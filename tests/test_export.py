"""acctstate.export: diagrams (whole, neighbourhood, path; Mermaid, DOT, SVG), notebook
reprs, DataFrames and plots, with every optional dependency imported only when used."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import matplotlib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from acctstate import batch
from acctstate.account import Account
from acctstate.automation import AutomationPolicy, apply, reference_ladder, sweep
from acctstate.diagram import BACKEND_COLORS
from acctstate.errors import InvalidArgument, UnknownStatus
from acctstate.export import (
    HIGHLIGHT,
    MissingDependency,
    counts_over_time,
    diagram,
    flow_counts,
    history_frame,
    plot_flows,
    plot_status_counts,
    statuses_frame,
    table_html,
    to_dot,
    to_frame,
    to_mermaid,
    to_svg,
    transitions_frame,
    workflow_html,
)
from acctstate.graph import Transition
from acctstate.history import History, StatusChange
from acctstate.presets import isp
from acctstate.status import Backend, Status
from acctstate.workflow import Workflow

matplotlib.use("Agg")  # no display in tests; must precede pyplot's first import

WF = isp.workflow()
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HAS_DOT = shutil.which("dot") is not None


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    # A test may hide matplotlib (None in sys.modules) until its monkeypatch is undone,
    # which can come after this teardown: close figures only when pyplot is really loaded.
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def dunning_walk() -> Account:
    """An account taken down the ladder, settled, and sent down once more."""
    acct = WF.open("A-1", "active", at=T0, imported=True)
    for i in range(3):
        WF.fire(acct, "escalate_dunning", at=T0 + (i + 1) * 7 * DAY)
    WF.fire(acct, "settle", at=T0 + 30 * DAY, balance=Decimal("0"))
    WF.fire(acct, "escalate_dunning", at=T0 + 60 * DAY)
    return acct


def distances(wf: Workflow, start: str) -> dict[str, int]:
    """Undirected distances by repeated expansion (independent of the module's BFS)."""
    near: dict[str, set[str]] = {s.name: set() for s in wf.catalog}
    for e in wf.transitions:
        near[e.source.name].add(e.dest.name)
        near[e.dest.name].add(e.source.name)
    out = {start: 0}
    ring = 0
    while True:
        ring += 1
        new = {n for s, d in out.items() if d == ring - 1 for n in near[s]} - set(out)
        if not new:
            return out
        out.update(dict.fromkeys(new, ring))


# -- diagrams ---------------------------------------------------------------------------


def test_whole_graph_is_the_workflows_own_rendering() -> None:
    """Without options, the export renderers give exactly Workflow.to_mermaid / to_dot."""
    assert to_mermaid(WF) == WF.to_mermaid()
    assert to_dot(WF) == WF.to_dot()


@given(
    status=st.sampled_from([s.name for s in WF.catalog]),
    steps=st.integers(min_value=0, max_value=3),
)
def test_neighbourhood_holds_exactly_the_statuses_within_steps(status: str, steps: int) -> None:
    """around= draws every status within `steps` transitions (either direction) and no
    other; every edge drawn touches a status nearer than the rim, and every edge at the
    centre is drawn."""
    view = diagram(WF, around=status, steps=steps)
    dist = distances(WF, status)
    assert {s.name for s in view.statuses} == {n for n, d in dist.items() if d <= steps}
    drawn = {s.name for s in view.statuses}
    for e in view.edges:
        assert {e.source.name, e.dest.name} <= drawn
        assert min(dist[e.source.name], dist[e.dest.name]) < steps
    if steps >= 1:
        touching = {
            (e.trigger, e.source.code, e.dest.code)
            for e in WF.transitions
            if status in (e.source.name, e.dest.name)
        }
        assert touching <= {(e.trigger, e.source.code, e.dest.code) for e in view.edges}
    assert [s.name for s in view.focus] == [status]


def test_neighbourhood_marks_the_focus_in_mermaid_and_dot() -> None:
    """The centre status gets a focus class (Mermaid) and a thick outline (DOT)."""
    text = to_mermaid(WF, around="suspended", steps=1)
    assert "    class suspended focus" in text
    assert "archived" in text and "prospect" not in text
    dot = to_dot(WF, around="suspended", steps=1)
    assert f'"suspended" [color="{HIGHLIGHT}", penwidth=4];' in dot
    assert dot.rstrip().endswith("}")


def test_neighbourhood_of_an_unknown_status_is_refused() -> None:
    """A typo in around= raises UnknownStatus with a suggestion."""
    with pytest.raises(UnknownStatus, match="did you mean 'suspended'"):
        to_mermaid(WF, around="suspendd")


@pytest.mark.parametrize("steps", [-1, 1.5, True, "2"])
def test_bad_steps_are_refused(steps: object) -> None:
    """steps must be an int >= 0."""
    with pytest.raises(InvalidArgument, match=r"invalid steps.*an int >= 0"):
        diagram(WF, around="active", steps=steps)  # type: ignore[arg-type]


def test_steps_without_a_centre_are_refused() -> None:
    """steps= alone would silently draw the whole graph: refused instead."""
    with pytest.raises(InvalidArgument, match="unless around= or path="):
        to_dot(WF, steps=2)


def test_path_numbers_the_transitions_taken() -> None:
    """path= draws the visited statuses, numbers each taken edge with its steps (an edge
    taken twice lists both), and greys the edges not taken in DOT."""
    acct = dunning_walk()
    view = diagram(WF, path=acct)
    assert [s.name for s in view.visited] == [
        "active",
        "active_dunning_pending",
        "active_dunning_1",
        "active_dunning_2",
    ]
    assert {s.name for s in view.statuses} == {s.name for s in view.visited}
    text = view.to_mermaid()
    assert "active --> active_dunning_pending: escalate_dunning (1, 5)\n" in text
    assert "active_dunning_2 --> active: settle [nothing_past_due] (4)\n" in text
    assert "active_dunning_1 --> active: settle [nothing_past_due]\n" in text  # not taken
    assert "class active,active_dunning_pending,active_dunning_1,active_dunning_2 path" in text
    dot = view.to_dot()
    taken = [line for line in dot.splitlines() if f'color="{HIGHLIGHT}", fontcolor' in line]
    assert len(taken) == 4
    assert all("penwidth=2.5" in line for line in taken)
    faded = [line for line in dot.splitlines() if 'color="#9e9e9e"' in line]
    # not taken: two settles and the two steps back down between the visited statuses
    assert len(faded) == 4
    assert sorted(line.split("label=")[1].split()[0] for line in faded) == [
        '"deescalate_dunning",',
        '"deescalate_dunning",',
        '"settle',
        '"settle',
    ]


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=25))
def test_any_walk_numbers_every_step_once(choices: list[int]) -> None:
    """For any walk along the workflow's edges, the taken edges carry the step numbers
    1..n exactly once each, on the edge each change went along."""
    start = WF.catalog["prospect"]
    changes = [StatusChange("W", start, start, "open", T0)]
    here = start
    for i, pick in enumerate(choices):
        out = WF.edges_from(here)
        if not out:
            break
        e = out[pick % len(out)]
        changes.append(StatusChange("W", here, e.dest, e.trigger, T0 + (i + 1) * DAY))
        here = e.dest
    view = diagram(WF, path=History(changes))
    numbered = sorted(n for _, steps in view.taken for n in steps)
    assert numbered == list(range(1, len(changes)))
    for index, steps in view.taken:
        e = view.edges[index]
        for n in steps:
            c = changes[n]
            assert (c.trigger, c.source.code, c.dest.code) == (
                e.trigger,
                e.source.code,
                e.dest.code,
            )


def test_path_with_a_change_the_workflow_lacks_is_refused() -> None:
    """A history from another graph cannot be drawn on this one."""
    active, banned = WF.catalog["active"], WF.catalog["temporary_ban"]
    bogus = [StatusChange("X", active, banned, "suspend", T0)]
    with pytest.raises(InvalidArgument, match="changes along the transitions of workflow 'isp'"):
        to_mermaid(WF, path=bogus)


def test_path_must_be_a_history() -> None:
    """Anything but a history, changes or an account with a history is refused."""
    with pytest.raises(InvalidArgument, match="a History, a sequence of StatusChange"):
        to_mermaid(WF, path="A-1")


def test_path_with_context_adds_the_neighbours() -> None:
    """path= with steps=1 adds the statuses next to the path, still numbering the path."""
    acct = dunning_walk()
    view = diagram(WF, path=acct.history, steps=1)
    names = {s.name for s in view.statuses}
    assert {"suspended", "canceled", "active_dunning_3", "temporary_ban"} <= names
    assert len(view.taken) == 4


def test_svg_without_the_graphviz_package_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No graphviz package: a MissingDependency (also an ImportError) naming the extra."""
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(MissingDependency, match=re.escape("pip install acctstate[diagrams]")):
        to_svg(WF)
    with pytest.raises(ImportError):
        WF.to_svg(around="active")


def test_svg_without_the_dot_program_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No `dot` on PATH: the message names the Debian package."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingDependency, match="apt-get install graphviz") as info:
        to_svg(WF, around="active")
    assert info.value.what == "the Graphviz 'dot' program"


@pytest.mark.skipif(not HAS_DOT, reason="the Graphviz `dot` program is not installed")
def test_svg_renders_through_graphviz() -> None:
    """With Graphviz installed, to_svg returns an SVG document with the statuses and the
    highlighted path."""
    svg = to_svg(WF, path=dunning_walk())
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "Active dunning 2 (12)" in svg
    assert HIGHLIGHT in svg
    assert "Prospect" not in svg
    assert (
        WF.to_svg(around="prospect").count('<g id="node')
        == len(diagram(WF, around="prospect").statuses) + 1
    )  # + the start point


# -- notebook reprs ---------------------------------------------------------------------


def test_status_html_shows_its_facts_escaped() -> None:
    """A status's HTML shows code, name, class and flags; text is escaped."""
    odd = Status.custom(7, "vacation", backend="suspended", label="<away>", color="#123456")
    out = odd._repr_html_()
    assert "<td" in out and ">7<" in out and "vacation" in out and "suspended" in out
    assert "&lt;away&gt;" in out and "<away>" not in out
    assert "#123456" in out
    assert "one-way" in WF.catalog["prospect"]._repr_html_()
    assert "terminal" in WF.catalog["archived"]._repr_html_()


def test_change_and_history_html_have_a_row_per_change() -> None:
    """A change is one row; a history one row per change, cut at the limit with a note."""
    acct = dunning_walk()
    last = acct.history.last
    assert last is not None
    assert last._repr_html_().count("<tr>") == 2  # header + the change
    assert "escalate_dunning" in last._repr_html_()
    out = acct.history._repr_html_()
    assert out.count("<tr>") == len(acct.history) + 1
    assert "of account A-1" in out
    cut = table_html([[str(i)] for i in range(10)], ["n"], limit=3)
    assert cut.count("<tr>") == 4 and "7 more rows not shown" in cut


def test_history_text_is_one_line_per_change() -> None:
    """str(history) lists the changes, one per line, in time order."""
    acct = dunning_walk()
    lines = str(acct.history).splitlines()
    assert lines == [str(c) for c in acct.history]
    assert str(History()) == "(no changes)"


def test_workflow_html_without_graphviz_falls_back_to_mermaid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without Graphviz the workflow's HTML says why and carries the Mermaid text;
    the status and transition tables have one row per status / transition."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = WF._repr_html_()
    assert "apt-get install graphviz" in out
    assert "stateDiagram-v2" in out
    assert "<svg" not in out
    assert f"{len(WF.catalog)} statuses" in out and f"{len(WF.transitions)} transitions" in out
    assert out.count("<tr>") == len(WF.catalog) + len(WF.transitions) + 2


@pytest.mark.skipif(not HAS_DOT, reason="the Graphviz `dot` program is not installed")
def test_workflow_html_embeds_the_svg() -> None:
    """With Graphviz the workflow's HTML embeds the drawing inline (no XML prolog)."""
    out = WF._repr_html_()
    assert "<svg" in out and "<?xml" not in out


def test_workflow_html_without_drawing() -> None:
    """draw=False leaves the diagram out entirely."""
    out = workflow_html(WF, draw=False)
    assert "<svg" not in out and "stateDiagram" not in out


def make_book() -> list[Account]:
    """Three accounts: one late enough to be dunned, one paid up, one suspended."""
    now = T0 + 60 * DAY
    late = WF.open(
        "L-1",
        "active",
        at=now - 90 * DAY,
        imported=True,
        balance=Decimal("80"),
        unpaid_invoices=2,
        oldest_unpaid_at=now - 31 * DAY,
    )
    fine = WF.open("F-2", "active", at=now - 90 * DAY, imported=True)
    held = WF.open("S-3", "suspended", at=now - 10 * DAY, imported=True)
    return [late, fine, held]


def test_batch_preview_and_report_views() -> None:
    """A preview shows its totals and a row per account; a report has a concise repr,
    HTML and a frame with one row per account."""
    accounts = make_book()
    selected = batch.select(WF, accounts)
    preview = batch.preview(selected, batch.FireTrigger("suspend"), at=T0 + 61 * DAY)
    out = preview._repr_html_()
    assert "Batch preview" in out and "change <b>2</b>" in out and "refused <b>1</b>" in out
    assert out.count("<td") >= 3 * 7
    report = batch.apply(preview)
    text = repr(report)
    assert text.startswith("<BatchReport best_effort at ") and "changed 2" in text
    assert "L-1" not in text  # concise: no outcome dump
    assert "Batch report" in report._repr_html_()
    frame = report.to_frame()
    assert list(frame["account"]) == ["L-1", "F-2", "S-3"]
    assert list(frame["outcome"]) == [o.kind.value for o in report.outcomes]
    assert len(preview.to_frame()) == 3


def test_sweep_views() -> None:
    """A sweep plan and its outcome have concise reprs, HTML and frames whose rows are
    the planned and the made changes."""
    accounts = make_book()
    plan = sweep(accounts, AutomationPolicy(WF, ladder=reference_ladder()), now=T0 + 60 * DAY)
    assert repr(plan).endswith(f"3 examined, {len(plan)} to act on, {plan.changes} changes>")
    frame = plan.to_frame()
    planned = frame[frame["outcome"] == "planned"]
    assert len(planned) == plan.changes
    assert list(planned["to"]) == [c.dest.name for p in plan for c in p.changes]
    assert "Sweep" in plan._repr_html_()
    done = apply(plan)
    assert repr(done) == f"<ApplyOutcome: {done.changes} changes on 1 accounts, 0 failed>"
    made = done.to_frame()
    assert len(made) == done.changes
    assert list(made["trigger"]) == ["escalate_dunning"] * done.changes
    assert "Sweep applied" in done._repr_html_()


# -- tables -----------------------------------------------------------------------------


def test_transitions_frame_has_a_row_per_transition() -> None:
    """One row per edge, in workflow order, with names, codes and guards as text."""
    frame = transitions_frame(WF)
    assert len(frame) == len(WF.transitions)
    assert list(frame["trigger"]) == [e.trigger for e in WF.transitions]
    assert list(frame["from_code"]) == [e.source.code for e in WF.transitions]
    guarded = frame[frame["guards"] != ""]
    assert set(guarded["trigger"]) == {e.trigger for e in WF.transitions if e.guards}
    assert WF.to_frame().equals(frame)


def test_statuses_frame_has_a_row_per_status() -> None:
    """One row per status in code order with its flags."""
    frame = statuses_frame(WF)
    assert list(frame["code"]) == list(WF.catalog.codes)
    assert list(frame[frame["terminal"]]["name"]) == [s.name for s in WF.catalog if s.terminal]
    assert WF.to_frame(what="statuses").equals(frame)
    with pytest.raises(InvalidArgument, match="'transitions' or 'statuses'"):
        WF.to_frame(what="edges")


def test_history_frame_stacks_many_accounts() -> None:
    """Histories of several accounts stack, told apart by the account column; times stay
    timezone-aware."""
    a, b = dunning_walk(), WF.open("B-2", "prospect", at=T0)
    frame = history_frame([a, b])
    assert len(frame) == len(a.history) + len(b.history)
    assert list(frame["account"]) == ["A-1"] * len(a.history) + ["B-2"]
    assert str(frame["at"].dt.tz) == "UTC"
    assert a.history.to_frame().equals(history_frame(a))
    assert list(history_frame([]).columns)[:3] == ["account", "at", "recorded_at"]


def test_to_frame_dispatches_and_refuses_the_rest() -> None:
    """to_frame picks the table for each kind of result and refuses anything else."""
    acct = dunning_walk()
    assert len(to_frame(WF)) == len(WF.transitions)
    assert len(to_frame(acct)) == len(acct.history)
    assert len(to_frame(list(acct.history)[1:])) == len(acct.history) - 1
    from acctstate.stats import account_statistics

    stats = account_statistics(WF, make_book())
    assert list(to_frame(stats)["count"]) == [r["count"] for r in stats.to_records()]
    with pytest.raises(InvalidArgument, match="a Workflow, History, account"):
        to_frame(42)


def test_to_frame_of_a_simulation_and_a_columnar_sweep() -> None:
    """A simulation gives one row per day (a date index) and one column per status that
    held an account; a column-wise sweep gives its own frame."""
    from acctstate.automation import columns_from_accounts, sweep_columns
    from acctstate.simulation import simulate

    result = simulate(WF, accounts=40, days=10, seed=3)
    frame = to_frame(result)
    assert len(frame) == 10 and list(frame.columns) == list(result.seen())
    assert frame.index[0].date() == min(result.daily)
    assert frame.iloc[-1].to_dict() == {s: result.final()[s] for s in result.seen()}
    book = make_book()
    policy = AutomationPolicy(WF, ladder=reference_ladder())
    swept = sweep_columns(columns_from_accounts(book), policy, now=T0 + 60 * DAY)
    assert to_frame(swept).equals(swept.to_frame())
    assert len(to_frame(swept)) == sweep(book, policy, now=T0 + 60 * DAY).changes


def test_frames_without_pandas_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pandas: MissingDependency naming `pip install acctstate[notebook]`."""
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependency, match=re.escape("pip install acctstate[notebook]")):
        WF.to_frame()
    with pytest.raises(ImportError, match="history_frame needs pandas"):
        dunning_walk().history.to_frame()


def test_importing_and_showing_loads_no_optional_dependency() -> None:
    """`import acctstate` and acctstate.export, text diagrams and HTML views (without a
    drawing) load none of pandas, matplotlib or graphviz."""
    code = (
        "import sys, acctstate, acctstate.export as ex\n"
        "from acctstate.presets import isp\n"
        "wf = isp.workflow()\n"
        "ex.to_mermaid(wf, around='active'); ex.to_dot(wf)\n"
        "ex.workflow_html(wf, draw=False); wf.catalog['active']._repr_html_()\n"
        "print(sorted(m for m in ('pandas', 'matplotlib', 'graphviz', 'numpy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- plots ------------------------------------------------------------------------------


def test_counts_over_time_counts_every_opened_account() -> None:
    """At each instant, the counts add up to the accounts opened by then, each in the
    status its history says."""
    accounts = [WF.open(f"A-{i}", "prospect", at=T0 + i * DAY) for i in range(4)]
    WF.fire(accounts[0], "register", at=T0 + 2 * DAY)
    times = [T0 + d * DAY for d in range(5)]
    counts = counts_over_time(accounts, times)
    assert [sum(c.values()) for c in counts.values()] == [1, 2, 3, 4, 4]
    assert counts[T0 + 2 * DAY] == {"prospect": 2, "registered_pending_activation": 1}
    with pytest.raises(InvalidArgument, match="accounts with a history"):
        counts_over_time([object()], times)


def test_flow_counts_from_changes_pairs_and_mappings() -> None:
    """Changes (openings skipped), pairs and mappings all count the same moves, most
    frequent first."""
    acct = dunning_walk()
    from_changes = flow_counts(acct.history)
    pairs = [(c.source, c.dest) for c in acct.history if not c.is_opening]
    assert from_changes == flow_counts(pairs) == flow_counts(dict(from_changes))
    assert next(iter(from_changes)) == ("active", "active_dunning_pending")
    assert from_changes[("active", "active_dunning_pending")] == 2
    assert sum(from_changes.values()) == len(acct.history) - 1
    with pytest.raises(InvalidArgument, match="invalid flows"):
        flow_counts(["active"])


def test_plot_status_counts_draws_a_band_per_status_or_class() -> None:
    """One stacked band per status that ever holds an account; by back-end class, one per
    class in the diagram colours."""
    daily = {
        dt.date(2026, 1, d): {"active": 10 + d, "suspended": d % 3, "prospect": 0}
        for d in range(1, 8)
    }
    ax = plot_status_counts(daily, workflow=WF)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["suspended", "active"]
    assert len(ax.collections) == 2
    ax = plot_status_counts(daily, workflow=WF, by="backend")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["active", "suspended"]
    fills = [matplotlib.colors.to_hex(c.get_facecolor()[0]) for c in ax.collections]
    assert fills == [BACKEND_COLORS[Backend.ACTIVE], BACKEND_COLORS[Backend.SUSPENDED]]


def test_plot_status_counts_accepts_a_dataframe() -> None:
    """A DataFrame with times as index and statuses as columns draws the same bands."""
    import pandas as pd

    frame = pd.DataFrame({"active": [3, 4], "canceled": [0, 1]}, index=[1, 2])
    ax = plot_status_counts(frame)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["active", "canceled"]


def test_plot_status_counts_refuses_bad_arguments() -> None:
    """Unknown `by`, by='backend' without a workflow and foreign names are refused."""
    with pytest.raises(InvalidArgument, match="'status' or 'backend'"):
        plot_status_counts({}, by="class")
    with pytest.raises(InvalidArgument, match="a Workflow when by='backend'"):
        plot_status_counts({}, by="backend")
    with pytest.raises(InvalidArgument, match="status names of 'isp'"):
        plot_status_counts({1: {"nowhere": 1}}, workflow=WF, by="backend")


def test_plot_flows_heatmap_holds_the_counts() -> None:
    """The heat map's cells are the counts (from x to), each non-zero one written in."""
    flows = {("active", "suspended"): 5, ("suspended", "active"): 2, ("active", "canceled"): 1}
    ax = plot_flows(flows, workflow=WF)
    import numpy as np

    cells = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    grid = np.nan_to_num(cells).astype(int).tolist()  # no move: masked (drawn white)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    assert rows == ["suspended", "active"] and cols == ["canceled", "suspended", "active"]
    assert grid == [[0, 0, 2], [1, 5, 0]]
    assert np.isnan(cells[0][0])
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "5"]


def test_plot_flows_bars_show_the_top_moves() -> None:
    """The bar chart shows the `top` most frequent moves, largest first."""
    flows = {("a", "b"): 1, ("b", "c"): 7, ("c", "a"): 3}
    ax = plot_flows(flows, kind="bar", top=2)
    assert [p.get_width() for p in ax.patches] == [7, 3]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b → c", "c → a"]
    with pytest.raises(InvalidArgument, match="'heatmap' or 'bar'"):
        plot_flows(flows, kind="sankey")
    with pytest.raises(InvalidArgument, match="an int >= 1"):
        plot_flows(flows, kind="bar", top=0)


def test_plots_without_matplotlib_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """No matplotlib: MissingDependency naming the notebook extra."""
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(MissingDependency, match=re.escape("acctstate[notebook]")):
        plot_flows({("a", "b"): 1})


def test_views_of_a_custom_workflow() -> None:
    """Custom statuses keep their own colour in the status table and appear in diagrams."""
    vacation = Status.custom(7, "vacation", backend="suspended", color="#6fa8dc")
    custom = WF.extend(
        statuses=[vacation],
        transitions=[
            Transition("start_vacation", "active", "vacation"),
            Transition("end_vacation", "vacation", "active"),
        ],
    )
    text = to_mermaid(custom, around="vacation")
    assert "active --> vacation: start_vacation" in text
    assert "vacation --> active: end_vacation" in text
    assert "#6fa8dc" in workflow_html(custom, draw=False)


def test_status_bands_are_shades_of_their_class() -> None:
    """By status, a band takes the status's own colour, else a shade of its back-end
    class's colour: the first of a class exactly, the next ones darker."""
    vacation = Status.custom(7, "vacation", backend="suspended", color="#6fa8dc")
    custom = WF.extend(
        statuses=[vacation],
        transitions=[
            Transition("start_vacation", "active", "vacation"),
            Transition("end_vacation", "vacation", "active"),
        ],
    )
    daily = {d: {"active": 5, "active_dunning_1": 2, "vacation": 1} for d in range(3)}
    ax = plot_status_counts(daily, workflow=custom)
    fills = [matplotlib.colors.to_rgb(c.get_facecolor()[0]) for c in ax.collections]
    assert matplotlib.colors.to_hex(fills[0]) == BACKEND_COLORS[Backend.ACTIVE]  # active (1)
    assert matplotlib.colors.to_hex(fills[1]) == "#6fa8dc"  # vacation (7): its own colour
    assert all(b < a for a, b in zip(fills[0], fills[2], strict=True))  # dunning 1 (11): darker
