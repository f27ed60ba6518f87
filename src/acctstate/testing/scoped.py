"""``acctstate.testing.scoped``: the public path of ``acctstate.world.testing.scoped``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.testing import scoped as _module
from acctstate.world.testing.scoped import *  # noqa: F403

sys.modules[__name__] = _module
