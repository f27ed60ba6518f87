"""Optional dependencies of the export views, imported only when a view needs them."""

from __future__ import annotations

import shutil
from types import ModuleType
from typing import Any

from acctstate.values.errors import MissingDependency

__all__ = ["MissingDependency", "graphviz_module", "matplotlib_pyplot", "pandas_module"]


def pandas_module(needed_for: str) -> Any:
    """``pandas``, or [`MissingDependency`][acctstate.errors.MissingDependency] naming the
    ``notebook`` extra."""
    try:
        import pandas  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependency(
            "pandas", needed_for=needed_for, install="pip install acctstate[notebook]"
        ) from None
    return pandas


def matplotlib_pyplot(needed_for: str) -> ModuleType:
    """``matplotlib.pyplot``, or [`MissingDependency`][acctstate.errors.MissingDependency] naming
    the ``notebook`` extra."""
    try:
        import matplotlib.pyplot
    except ImportError:
        raise MissingDependency(
            "matplotlib", needed_for=needed_for, install="pip install acctstate[notebook]"
        ) from None
    return matplotlib.pyplot


def graphviz_module(needed_for: str) -> Any:
    """The ``graphviz`` package with the ``dot`` program on ``PATH``.

    Raises:
        MissingDependency: the package (naming the ``diagrams`` extra) or the program
            (naming the Debian package) is missing.
    """
    try:
        import graphviz  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependency(
            "the graphviz package", needed_for=needed_for, install="pip install acctstate[diagrams]"
        ) from None
    if shutil.which("dot") is None:
        raise MissingDependency(
            "the Graphviz 'dot' program",
            needed_for=needed_for,
            install="apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS), "
            "or see https://graphviz.org/download/",
        )
    return graphviz
