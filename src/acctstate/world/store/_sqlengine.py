"""The SQL store's engine set-up, row readers and prepared statements."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from acctstate.values.history import StatusChange
from acctstate.world.store._codec import actor_columns, actor_from, data_from
from acctstate.world.store._schema import accounts, history, outbox
from acctstate.world.store._types import ScheduledRecord, StoredAccount

__all__ = [
    "CAS",
    "INSERT_HISTORY",
    "INSERT_OUTBOX",
    "LOAD",
    "TAKEN",
    "account_of",
    "create_engine",
    "history_row",
    "outbox_rows",
    "record_of",
]


def create_engine(url: str | sa.URL, **kwargs: Any) -> sa.Engine:
    """An SQLAlchemy engine set up for the store.

    For SQLite it turns on foreign keys, and for a database file the WAL journal (readers
    do not wait for the writer) with ``synchronous=NORMAL`` and a busy timeout, so that
    several threads and processes can share the file. Other URLs are passed through.

    Args:
        url: a database URL (``"sqlite:///accounts.db"``,
            ``"postgresql+psycopg://user@host/db"``).
        **kwargs: passed to `sqlalchemy.create_engine`.

    >>> create_engine("sqlite://").dialect.name
    'sqlite'
    """
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        on_disk = engine.url.database not in (None, "", ":memory:")

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # The set-based writes stage each chunk in small temporary tables.
            cursor.execute("PRAGMA temp_store=MEMORY")
            if on_disk:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def account_of(row: sa.Row[Any]) -> StoredAccount:
    """The stored account of an accounts row."""
    return StoredAccount(row.id, row.status, row.status_since, row.version)


def record_of(row: sa.Row[Any]) -> ScheduledRecord:
    """The scheduled record of a scheduled row."""
    return ScheduledRecord(
        id=row.id,
        account_id=row.account_id,
        trigger=row.trigger,
        at=row.at,
        reason=row.reason,
        note=row.note,
        actor=actor_from(row.actor_id, row.actor_kind, row.actor_permissions),
        data=data_from(row.data),
        state=row.state,
        version=row.version,
        error=row.error,
    )


# Every statement names the store's tenant: ``tenant`` (``b_tenant`` in the update).
LOAD = sa.select(accounts).where(
    accounts.c.tenant == sa.bindparam("tenant"), accounts.c.id == sa.bindparam("id")
)
CAS = (
    accounts.update()
    .where(
        accounts.c.id == sa.bindparam("b_id"),
        accounts.c.version == sa.bindparam("b_version"),
        accounts.c.tenant == sa.bindparam("b_tenant"),
    )
    .values(
        status=sa.bindparam("status"),
        status_since=sa.bindparam("status_since"),
        version=sa.bindparam("version"),
    )
)
INSERT_HISTORY = history.insert()
INSERT_OUTBOX = outbox.insert()
TAKEN = sa.select(outbox.c.key).where(
    outbox.c.tenant == sa.bindparam("tenant"),
    outbox.c.key.in_(sa.bindparam("keys", expanding=True)),
)


def history_row(change: StatusChange, version: int, tenant: str = "") -> dict[str, Any]:
    """The history table row of ``change`` at ``version``, in ``tenant`` (a row in a tenant
    without the account is refused by the foreign key)."""
    actor_id, actor_kind, permissions = actor_columns(change.actor)
    return {
        "tenant": tenant,
        "account_id": change.account_id,
        "version": version,
        "trigger": change.trigger,
        "source": change.source.code,
        "dest": change.dest.code,
        "at": change.at,
        "recorded_at": change.recorded_at,
        "reason": change.reason,
        "note": change.note,
        "actor_id": actor_id,
        "actor_kind": actor_kind,
        "actor_permissions": permissions,
    }


def outbox_rows(
    change: StatusChange, version: int, payloads: list[str], created: Any, tenant: str = ""
) -> list[dict[str, Any]]:
    """The outbox rows of ``change``'s effects (``payloads`` are their encoded fields)."""
    return [
        {
            "tenant": tenant,
            "key": e.key,
            "account_id": change.account_id,
            "version": version,
            "position": i,
            "kind": e.kind,
            "payload": payload,
            "created_at": created,
            "attempts": 0,
        }
        for i, (e, payload) in enumerate(zip(change.effects, payloads, strict=True))
    ]
