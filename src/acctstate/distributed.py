"""``acctstate.distributed``: the public path of [`acctstate.distributed`][acctstate.distributed].

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world import distributed as _module
from acctstate.world.distributed import *  # noqa: F403

sys.modules[__name__] = _module
