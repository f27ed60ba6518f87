"""``acctstate.history``: the public path of ``acctstate.values.history``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.values import history as _module
from acctstate.values.history import *  # noqa: F403

sys.modules[__name__] = _module
