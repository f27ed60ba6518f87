"""``acctstate.testing.stateful``: the public path of ``acctstate.world.testing.stateful``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.testing import stateful as _module
from acctstate.world.testing.stateful import *  # noqa: F403

sys.modules[__name__] = _module
