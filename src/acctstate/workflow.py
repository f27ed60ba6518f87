"""``acctstate.workflow``: the public path of ``acctstate.core.workflow``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.core import workflow as _module
from acctstate.core.workflow import *  # noqa: F403

sys.modules[__name__] = _module
