"""Registers this part's renderers as the notebook views of the core types.

``Status``, ``History``, ``Workflow`` and the batch and sweep results ask the registry in
`acctstate.values._views` for their HTML, DataFrame and SVG views; importing
[`acctstate.export`][acctstate.export] fills it, so the low types never import a part above them.
"""

from __future__ import annotations

from acctstate.values._views import register_view
from acctstate.world.export._diagrams import to_svg
from acctstate.world.export._frames import history_frame, to_frame, workflow_frame
from acctstate.world.export._html import (
    apply_html,
    change_html,
    history_html,
    preview_html,
    report_html,
    status_html,
    sweep_html,
    workflow_html,
)

__all__: list[str] = []

for _view in (
    apply_html,
    change_html,
    history_frame,
    history_html,
    preview_html,
    report_html,
    status_html,
    sweep_html,
    to_frame,
    to_svg,
    workflow_frame,
    workflow_html,
):
    register_view(_view.__name__, _view)
