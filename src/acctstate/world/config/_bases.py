"""The workflows a file may name in ``extends`` besides other files: a registry the
presets (and hosts) fill, so that this part needs nothing from above it."""

from __future__ import annotations

from collections.abc import Callable

from acctstate.core.workflow import Workflow
from acctstate.values.errors import InvalidArgument

__all__ = ["BASES", "register_base"]

BASES: dict[str, Callable[[], Workflow]] = {}
"""Named workflows a file may extend (``extends = "isp"``), each by a function that
builds it. The presets are registered when [`acctstate`][acctstate] is imported."""


def register_base(name: str, factory: Callable[[], Workflow]) -> None:
    """Let workflow files extend the workflow ``factory()`` builds as ``extends = name``.

    Args:
        name: the name files use; a name ending in ``.toml`` or ``.json`` would read
            as a file, so it is refused.
        factory: builds the workflow (called each time a file names it).

    Raises:
        InvalidArgument: the name is empty, ends in ``.toml`` / ``.json``, or the
            factory is not callable.

    >>> from acctstate.presets import isp
    >>> register_base("my_isp", isp.workflow)
    >>> "my_isp" in BASES
    True
    >>> del BASES["my_isp"]
    """
    if not isinstance(name, str) or not name or name.lower().endswith((".toml", ".json")):
        raise InvalidArgument("name", name, "a name that does not end in .toml or .json")
    if not callable(factory):
        raise InvalidArgument("factory", factory, "a function that returns a Workflow")
    BASES[name] = factory
