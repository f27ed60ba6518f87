"""``acctstate.invoices``: the public path of ``acctstate.operations.invoices``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.operations import invoices as _module
from acctstate.operations.invoices import *  # noqa: F403

sys.modules[__name__] = _module
