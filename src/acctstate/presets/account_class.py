"""``acctstate.presets.account_class``: the public path of ``acctstate.world.presets.account_class``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.presets import account_class as _module
from acctstate.world.presets.account_class import *  # noqa: F403

sys.modules[__name__] = _module
