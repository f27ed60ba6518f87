"""``acctstate.contrib``: the public path of ``acctstate.world.contrib``.

The code lives in its layer (see ``docs/design.md``); its public submodules keep their
paths here too and are the very same module objects.
"""

from acctstate.world.contrib import *  # noqa: F403
from acctstate.world.contrib import __all__ as __all__
