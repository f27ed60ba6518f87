"""Test your workflow: hypothesis strategies and a ready stateful test.

This module needs ``hypothesis`` (a test dependency, not a runtime one); nothing else
in acctstate imports it. A host application proves its extended workflow safe in
three lines::

    from acctstate.world.testing import workflow_state_machine
    from myapp.billing import my_workflow
    TestMyWorkflow = workflow_state_machine(my_workflow()).TestCase

See ``docs/testing.md``.
"""

from acctstate.world.testing.scoped import ScopeInvariantError, scoped_state_machine
from acctstate.world.testing.stateful import (
    FlakyHooks,
    WorkflowInvariantError,
    workflow_state_machine,
)
from acctstate.world.testing.strategies import (
    EPOCH,
    Step,
    accounts,
    actors,
    event_data,
    guard_inputs,
    instants,
    money,
    offsets,
    payment_methods,
    permissions_of,
    reasons_of,
    statuses,
    trigger_sequences,
    triggers,
)

__all__ = [
    "EPOCH",
    "FlakyHooks",
    "ScopeInvariantError",
    "Step",
    "WorkflowInvariantError",
    "accounts",
    "actors",
    "event_data",
    "guard_inputs",
    "instants",
    "money",
    "offsets",
    "payment_methods",
    "permissions_of",
    "reasons_of",
    "scoped_state_machine",
    "statuses",
    "trigger_sequences",
    "triggers",
    "workflow_state_machine",
]
