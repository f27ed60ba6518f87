"""Collection rules for the whole tree (tests, docs, README and the package's doctests).

The public paths at the top of the package (``src/acctstate/workflow.py`` …) are the very
modules of the layers under a second name: their doctests are collected once, from the
layer's file, so the faces themselves are not collected. The Django app's modules need a
configured Django project to import; their own test module sets one up.
"""

from __future__ import annotations

import importlib.util
import pathlib

_SRC = pathlib.Path(__file__).parent / "src" / "acctstate"

collect_ignore = [
    str(path)
    for path in _SRC.rglob("*.py")
    if "sys.modules[__name__] = _module" in path.read_text(encoding="utf-8")
]

# The Django app's models, store, admin and migrations import only inside a configured
# Django project: tests/test_contrib_django.py sets one up and tests them there.
_DJANGO = _SRC / "world" / "contrib" / "django"
_DJANGO_FACE = _SRC / "contrib" / "django"
if importlib.util.find_spec("django") is None:
    collect_ignore += [str(p) for p in (*_DJANGO.rglob("*.py"), *_DJANGO_FACE.rglob("*.py"))]
else:
    collect_ignore += [
        str(p) for p in _DJANGO.rglob("*.py") if p.name not in ("__init__.py", "apps.py")
    ]
