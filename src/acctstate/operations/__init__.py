"""Layer 3, operations: money (proration, refunds), scheduling, automation (policies,
ladders, sweeps), statistics and batch updates, all carried out through the workflow.

Public paths: ``acctstate.proration``, ``acctstate.refunds``, ``acctstate.schedule``,
``acctstate.automation``, ``acctstate.stats`` and ``acctstate.batch``.
"""

__all__: list[str] = []
