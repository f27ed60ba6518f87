"""``acctstate.cli``: the public path of ``acctstate.world.cli``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world import cli as _module
from acctstate.world.cli import *  # noqa: F403

sys.modules[__name__] = _module
