"""``acctstate.contrib.django``: the public path of ``acctstate.world.contrib.django``.

List it in ``INSTALLED_APPS``. The code lives in its layer (see ``docs/design.md``); its
public submodules (``apps``, ``models``, ``store``, ``admin``) keep their paths here too
and are the very same module objects, so Django loads the models once.
"""

from acctstate.world.contrib.django import *  # noqa: F403
from acctstate.world.contrib.django import __all__ as __all__
