"""Persistence: the [`Store`][acctstate.store.Store] protocol, its values, and two implementations.

* [`acctstate.store.memory.MemoryStore`][acctstate.store.memory.MemoryStore] keeps everything in
  dicts (tests, notebooks).
* [`acctstate.store.sql.SqlStore`][acctstate.store.sql.SqlStore] keeps it in a relational database
  through SQLAlchemy 2 (SQLite embedded, PostgreSQL in production; ``pip install acctstate[sql]``).

Both give the same guarantees. Firing through a store checks the guards against the
*stored* state, writes the new status with a compare-and-set on the account's version,
and records the history entry and the change's effects (an *outbox*) in the same
transaction. Effects are run later by [`Store.deliver`][acctstate.store.Store.deliver], oldest first
per account, and marked done; a failed or interrupted delivery is retried, never skipped.

>>> import datetime as dt
>>> from acctstate.presets import isp
>>> from acctstate.store.memory import MemoryStore
>>> store = MemoryStore(isp.workflow())
>>> t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
>>> store.open("A-1", "prospect", at=t0).version
0
>>> store.fire("A-1", "register", at=t0).dest.name
'registered_pending_activation'
>>> store.load("A-1").version
1
"""

from acctstate.world.store._types import (
    DeadLetterStore,
    Delivery,
    PendingEffect,
    Progress,
    RunReport,
    ScheduledRecord,
    ScheduleRun,
    Store,
    StoredAccount,
    SweepRun,
)
from acctstate.world.store._types import (
    Decide as Decide,
)

__all__ = [
    "DeadLetterStore",
    "Delivery",
    "PendingEffect",
    "Progress",
    "RunReport",
    "ScheduleRun",
    "ScheduledRecord",
    "Store",
    "StoredAccount",
    "SweepRun",
]
