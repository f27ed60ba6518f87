"""``acctstate.presets.isp``: the public path of ``acctstate.world.presets.isp``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.presets import isp as _module
from acctstate.world.presets.isp import *  # noqa: F403

sys.modules[__name__] = _module
