"""``acctstate.store``: the public path of ``acctstate.world.store``.

The code lives in its layer (see ``docs/design.md``); its public submodules keep their
paths here too and are the very same module objects.
"""

from acctstate.world.store import *  # noqa: F403
from acctstate.world.store import __all__ as __all__
