"""Regenerate the generated parts of docs/reference-workflow.md from the workflow.

Run ``.venv/bin/python docs/generate.py`` after changing the reference workflow;
``tests/test_reference_doc.py`` fails while the page and the workflow disagree.
"""

from __future__ import annotations

import pathlib
import re

from acctstate import Workflow
from acctstate.diagram import markdown_table
from acctstate.presets import isp

PAGE = pathlib.Path(__file__).with_name("reference-workflow.md")
BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (\w+) -->\n)(.*?)(<!-- END GENERATED -->)", re.S)


def _yes(flag: bool | None) -> str:
    return "yes" if flag else ""


def statuses_table(wf: Workflow) -> str:
    """The catalog as a Markdown table."""
    rows = [
        "| code | name | back end | provisioned | billable | usage billed | terminal | one-way | dunning step |",
        "| ---: | --- | --- | --- | --- | --- | --- | --- | ---: |",
    ]
    for s in wf.catalog:
        rows.append(
            f"| {s.code} | {s.name} | {s.backend.value} | {_yes(s.provisioned)} | "
            f"{_yes(s.billable)} | {_yes(s.usage_billable)} | {_yes(s.terminal)} | "
            f"{_yes(s.one_way)} | {s.dunning_step or ''} |"
        )
    return "\n".join(rows) + "\n"


def blocks(wf: Workflow) -> dict[str, str]:
    """Every generated block by name."""
    return {
        "statuses": statuses_table(wf),
        "transitions": markdown_table(wf.transitions),
        "diagram": "```mermaid\n" + wf.to_mermaid() + "```\n",
    }


def render(text: str, wf: Workflow) -> str:
    """``text`` with each generated block replaced by its current content."""
    made = blocks(wf)
    return BLOCK.sub(lambda m: m.group(1) + made[m.group(2)] + m.group(4), text)


if __name__ == "__main__":
    PAGE.write_text(render(PAGE.read_text(), isp.workflow()))
    print(f"wrote {PAGE}")
