"""``acctstate.store.sql``: the public path of ``acctstate.world.store.sql``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.store import sql as _module
from acctstate.world.store.sql import *  # noqa: F403

sys.modules[__name__] = _module
