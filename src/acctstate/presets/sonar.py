"""``acctstate.presets.sonar``: the public path of ``acctstate.world.presets.sonar``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.presets import sonar as _module
from acctstate.world.presets.sonar import *  # noqa: F403

sys.modules[__name__] = _module
