"""Optional dependencies of the export views, imported only when a view needs them."""

from __future__ import annotations

import shutil
from types import ModuleType
from typing import Any

from acctstate.errors import AcctStateError

__all__ = ["MissingDependency", "graphviz_module", "matplotlib_pyplot", "pandas_module"]


class MissingDependency(AcctStateError, ImportError):
    """An optional dependency a view needs is not installed.

    Also an ``ImportError``, so ``except ImportError`` catches it too.

    Attributes:
        what: the missing module or program (``"pandas"``, ``"dot"``).
        needed_for: what it was needed for (``"to_frame"``, ``"SVG diagrams"``).
        install: how to install it (``"pip install acctstate[notebook]"``).

    >>> err = MissingDependency("pandas", needed_for="to_frame",
    ...                         install="pip install acctstate[notebook]")
    >>> print(err)
    to_frame needs pandas, which is not installed: pip install acctstate[notebook]
    """

    def __init__(self, what: str, *, needed_for: str, install: str) -> None:
        self.what = what
        self.needed_for = needed_for
        self.install = install
        super().__init__(f"{needed_for} needs {what}, which is not installed: {install}")

    def __str__(self) -> str:
        return str(self.args[0])


def pandas_module(needed_for: str) -> Any:
    """``pandas``, or :class:`MissingDependency` naming the ``notebook`` extra."""
    try:
        import pandas  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependency(
            "pandas", needed_for=needed_for, install="pip install acctstate[notebook]"
        ) from None
    return pandas


def matplotlib_pyplot(needed_for: str) -> ModuleType:
    """``matplotlib.pyplot``, or :class:`MissingDependency` naming the ``notebook`` extra."""
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
