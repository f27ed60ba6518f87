"""``acctstate.presets.portabilling``: the public path of ``acctstate.world.presets.portabilling``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.presets import portabilling as _module
from acctstate.world.presets.portabilling import *  # noqa: F403

sys.modules[__name__] = _module
