"""A [`Store`][acctstate.store.Store] on a relational database through SQLAlchemy 2.

SQLite is the embedded default and PostgreSQL the production target; both are tested.
Needs the ``sql`` extra: ``pip install 'acctstate[sql]'``.

Every write is one transaction. Firing reads the account row, plans the change with the
workflow against that stored state, updates the row with a compare-and-set on its
``version``, and inserts the history row and the change's effects into the outbox.
`SqlStore.deliver` then runs the effects, one transaction per effect: it claims
the oldest pending effect of an account whose earlier effects are all done (on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so deliverers in parallel never take the
same one), runs the hook, and marks it done in the same transaction.

>>> import datetime as dt
>>> from acctstate.presets import isp
>>> store = SqlStore(isp.workflow(), create_engine("sqlite://"))
>>> store.create_schema()
>>> t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
>>> _ = store.open("A-1", "prospect", at=t0)
>>> store.fire("A-1", "register", at=t0).dest.name
'registered_pending_activation'
>>> store.load("A-1")
StoredAccount(id='A-1', status=32, status_since=datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.timezone.utc), version=1)
"""

from __future__ import annotations

from acctstate.values.errors import MissingDependency

try:
    import sqlalchemy  # noqa: F401  (a clear error when the extra is missing)
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency(
        "SQLAlchemy 2", needed_for="acctstate.store.sql", install="pip install 'acctstate[sql]'"
    ) from exc

from acctstate.world.store._delivery import SqlDelivery
from acctstate.world.store._nightly import SqlNightly
from acctstate.world.store._schema import UtcDateTime, metadata
from acctstate.world.store._sqlengine import create_engine
from acctstate.world.store._sqlholds import SqlHolds
from acctstate.world.store._sqlschedule import SqlScheduling

__all__ = ["SqlStore", "UtcDateTime", "create_engine", "metadata"]


class SqlStore(SqlHolds, SqlDelivery, SqlScheduling, SqlNightly):
    """A [`Store`][acctstate.store.Store] in an SQL database (SQLite or PostgreSQL).

    Args:
        workflow: the workflow every change is checked against.
        engine: an SQLAlchemy ``Engine`` (see [`create_engine`][acctstate.store.sql.create_engine]
            for SQLite). To keep the tables in another PostgreSQL schema, give an engine with
            ``execution_options(schema_translate_map={None: "billing"})``.
        facts: the host's own table, view or ``select()`` holding what the rules read
            about an account (``balance``, ``payment_method``, ``timezone``,
            ``currency``, ``period_start``, ``period_end``, ``period_price``, ...), one
            row per account, columns named after those facts. The store reads the row
            in the same transaction as the change it plans and never copies it; event
            data given to ``fire`` overrides a column. A rule that needs the time zone
            or the currency when neither gives one raises
            [`MissingFact`][acctstate.errors.MissingFact].
        facts_key: the facts' column holding the account id.

    Raises:
        InvalidArgument: ``engine`` is not an SQLAlchemy ``Engine``, or ``facts`` is
            not a table, view or select with a ``facts_key`` column.
    """

    __slots__ = ()
