"""Layer 2, the engine: the one user of ``transitions`` (and the table compiled from the
same graph) and the ``Workflow`` that builds, plans, fires, moves and explains.

Public paths: ``acctstate.engine`` and ``acctstate.workflow``.
"""

__all__: list[str] = []
