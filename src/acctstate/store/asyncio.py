"""``acctstate.store.asyncio``: the public path of
[`acctstate.store.asyncio`][acctstate.store.asyncio].

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.store import asyncio as _module
from acctstate.world.store.asyncio import *  # noqa: F403

sys.modules[__name__] = _module
