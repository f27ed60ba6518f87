"""Integrations with host frameworks: ``acctstate.contrib.django`` (``pip install
'acctstate[django]'``).

Public path: ``acctstate.contrib``.
"""

__all__: list[str] = []
