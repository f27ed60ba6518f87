"""Looking at workflows and accounts: diagrams, tables, notebook views and plots.

* Diagrams: [`to_mermaid`][acctstate.export.to_mermaid] and [`to_dot`][acctstate.export.to_dot]
  (plain text, no dependency) and [`to_svg`][acctstate.export.to_svg] (Graphviz: ``pip install
  acctstate[diagrams]`` and the ``dot`` program) of a whole workflow, of one status's neighbourhood
  (``around=``, ``steps=``) or of one account's path (``path=``, the transitions it took numbered).
* Tables: [`to_frame`][acctstate.export.to_frame] and friends give pandas DataFrames of transitions,
  statuses, histories, sweeps and batches (``pip install acctstate[notebook]``); the
  ``*_records`` functions give the same rows as plain dicts.
* Notebook views: the ``*_html`` functions behind the ``_repr_html_`` of ``Workflow``,
  ``Status``, ``StatusChange``, ``History``, batch ``Preview`` / ``BatchReport`` and
  sweep results.
* Plots: [`plot_status_counts`][acctstate.export.plot_status_counts] (accounts per status over time)
  and [`plot_flows`][acctstate.export.plot_flows] (moves between statuses) with matplotlib, from the
  plain data of [`counts_over_time`][acctstate.export.counts_over_time] and
  [`flow_counts`][acctstate.export.flow_counts].

pandas, matplotlib and graphviz are imported only when a function needs them; when one
is missing, [`MissingDependency`][acctstate.errors.MissingDependency] says what to install.
"""

# Filling the registry the core types draw themselves through (a side effect on purpose).
import acctstate.world.export._register  # noqa: F401
from acctstate.world.export._deps import MissingDependency
from acctstate.world.export._diagrams import (
    HIGHLIGHT,
    DiagramView,
    PathSource,
    diagram,
    to_dot,
    to_mermaid,
    to_svg,
)
from acctstate.world.export._frames import (
    apply_records,
    change_record,
    history_frame,
    status_records,
    statuses_frame,
    sweep_records,
    to_frame,
    transition_records,
    transitions_frame,
    workflow_frame,
)
from acctstate.world.export._html import (
    apply_html,
    change_html,
    history_html,
    preview_html,
    report_html,
    status_html,
    sweep_html,
    table_html,
    workflow_html,
)
from acctstate.world.export._plots import (
    counts_over_time,
    flow_counts,
    plot_flows,
    plot_status_counts,
)

__all__ = [
    "HIGHLIGHT",
    "DiagramView",
    "MissingDependency",
    "PathSource",
    "apply_html",
    "apply_records",
    "change_html",
    "change_record",
    "counts_over_time",
    "diagram",
    "flow_counts",
    "history_frame",
    "history_html",
    "plot_flows",
    "plot_status_counts",
    "preview_html",
    "report_html",
    "status_html",
    "status_records",
    "statuses_frame",
    "sweep_html",
    "sweep_records",
    "table_html",
    "to_dot",
    "to_frame",
    "to_mermaid",
    "to_svg",
    "transition_records",
    "transitions_frame",
    "workflow_frame",
    "workflow_html",
]
