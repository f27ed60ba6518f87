"""``acctstate.contrib.django.models``: the public path of ``acctstate.world.contrib.django.models``.

The code lives in its layer (see ``docs/design.md``); this name is part of the public API
and is the very same module object.
"""

import sys

from acctstate.world.contrib.django import models as _module
from acctstate.world.contrib.django.models import *  # noqa: F403

sys.modules[__name__] = _module
