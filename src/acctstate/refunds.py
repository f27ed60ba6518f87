"""``acctstate.refunds``: the public path of ``acctstate.operations.money.refunds``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.operations.money import refunds as _module
from acctstate.operations.money.refunds import *  # noqa: F403

sys.modules[__name__] = _module
