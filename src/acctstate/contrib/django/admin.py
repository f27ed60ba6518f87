"""``acctstate.contrib.django.admin``: the public path of ``acctstate.world.contrib.django.admin``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.contrib.django import admin as _module
from acctstate.world.contrib.django.admin import *  # noqa: F403

sys.modules[__name__] = _module
