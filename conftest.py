"""Collection rules for the whole tree (tests, docs, README and the package's doctests).

The public paths at the top of the package (``src/acctstate/workflow.py`` …) are the very
modules of the layers under a second name: their doctests are collected once, from the
layer's file, so the faces themselves are not collected.
"""

from __future__ import annotations

import pathlib

_SRC = pathlib.Path(__file__).parent / "src" / "acctstate"

collect_ignore = [
    str(path)
    for path in _SRC.rglob("*.py")
    if "sys.modules[__name__] = _module" in path.read_text(encoding="utf-8")
]
