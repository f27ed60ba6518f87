"""``acctstate.stats``: the public path of ``acctstate.operations.stats``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.operations import stats as _module
from acctstate.operations.stats import *  # noqa: F403

sys.modules[__name__] = _module
