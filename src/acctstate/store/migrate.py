"""``acctstate.store.migrate``: the public path of `acctstate.world.store.migrate`.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.store import migrate as _module
from acctstate.world.store.migrate import *  # noqa: F403

sys.modules[__name__] = _module
