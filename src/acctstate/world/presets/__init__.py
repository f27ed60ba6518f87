"""Ready-made workflows, one per source product: ``isp`` is the reference workflow."""

import importlib
from collections.abc import Callable

from acctstate.core.workflow import Workflow
from acctstate.world.config import register_base

__all__: list[str] = []


def _builder(name: str) -> Callable[[], Workflow]:
    def build() -> Workflow:
        # imported when a file first extends it, not with every import of acctstate
        workflow: Workflow = importlib.import_module(f"{__name__}.{name}").workflow()
        return workflow

    return build


# Workflow files may extend a preset by name (``extends = "isp"``).
for _name in ("account_class", "engageip", "isp", "portabilling", "sonar"):
    register_base(_name, _builder(_name))
del _name
