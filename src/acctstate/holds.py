"""``acctstate.holds``: the public path of ``acctstate.operations.holds``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.operations import holds as _module
from acctstate.operations.holds import *  # noqa: F403

sys.modules[__name__] = _module
