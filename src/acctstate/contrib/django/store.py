"""``acctstate.contrib.django.store``: the public path of ``acctstate.world.contrib.django.store``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.contrib.django import store as _module
from acctstate.world.contrib.django.store import *  # noqa: F403

sys.modules[__name__] = _module
