"""``acctstate.presets``: the public path of ``acctstate.world.presets``.

The code lives in its layer (see ``docs/design.md``); its public submodules keep their
paths here too and are the very same module objects.
"""

from acctstate.world.presets import *  # noqa: F403
from acctstate.world.presets import __all__ as __all__
