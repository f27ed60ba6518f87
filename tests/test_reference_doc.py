"""docs/reference-workflow.md matches the reference workflow."""

from __future__ import annotations

import importlib.util
import pathlib

from acctstate import Transition, Workflow

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def load_generator() -> object:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_page_is_up_to_date(wf: Workflow) -> None:
    """Regenerating the page changes nothing (run docs/generate.py if this fails)."""
    gen = load_generator()
    text = (DOCS / "reference-workflow.md").read_text()
    assert gen.render(text, wf) == text  # type: ignore[attr-defined]


def test_page_notices_a_changed_workflow(wf: Workflow) -> None:
    """A workflow with one more transition no longer matches the page."""
    gen = load_generator()
    text = (DOCS / "reference-workflow.md").read_text()
    changed = wf.extend(transitions=[Transition("hold", "active", "suspended", description="x")])
    assert gen.render(text, changed) != text  # type: ignore[attr-defined]


def test_every_transition_has_a_row(wf: Workflow) -> None:
    """Each transition's trigger, source and destination appear in the page."""
    text = (DOCS / "reference-workflow.md").read_text()
    for e in wf.transitions:
        assert f"| `{e.trigger}` | {e.source.name} ({e.source.code}) | {e.dest.name}" in text
