"""``acctstate.export``: the public path of ``acctstate.world.export``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world import export as _module
from acctstate.world.export import *  # noqa: F403

sys.modules[__name__] = _module
