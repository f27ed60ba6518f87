"""``acctstate.errors``: the public path of ``acctstate.values.errors``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.values import errors as _module
from acctstate.values.errors import *  # noqa: F403

sys.modules[__name__] = _module
