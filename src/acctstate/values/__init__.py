"""Layer 1, values and rules: errors, statuses and their catalog, the clock, actors,
guards, effects, history, accounts and the graph's transition specs and build-time checks.

Nothing here imports a layer above. Users import these under their public paths
(``acctstate.status``, ``acctstate.history`` …).
"""

__all__: list[str] = []
