"""``acctstate.guards``: the public path of ``acctstate.values.guards``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.values import guards as _module
from acctstate.values.guards import *  # noqa: F403

sys.modules[__name__] = _module
