"""The SQL tables of [`acctstate.store.sql`][acctstate.store.sql], on one SQLAlchemy ``MetaData``.

Every query the store makes has an index (``tests/test_store_schema.py`` runs ``EXPLAIN``
for each on PostgreSQL). History is append-only: on PostgreSQL a trigger refuses any
``UPDATE``, ``DELETE`` or ``TRUNCATE`` of it. JSON columns are ``JSONB`` on PostgreSQL.
The shipped migrations (``acctstate db upgrade URL``) build exactly these tables.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

__all__ = [
    "HISTORY_GUARD",
    "JsonText",
    "UtcDateTime",
    "accounts",
    "history",
    "holds",
    "metadata",
    "outbox",
    "protect_history",
    "scheduled",
    "unprotect_history",
]


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timestamp kept in UTC: aware in, aware (UTC) out, on every database.

    SQLite has no time zones, so the UTC wall time is stored and UTC put back on load;
    PostgreSQL stores ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.utcoffset() is None:
            raise ValueError(f"expected a timezone-aware datetime, got {value!r}")
        utc: dt.datetime = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"the database returned {value!r} for a timestamp")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class JsonText(sa.types.TypeDecorator[str]):
    """JSON kept as canonical text by the store: ``TEXT`` on SQLite, ``JSONB`` on PostgreSQL.

    The store encodes and decodes JSON itself (exact decimals and instants); on
    PostgreSQL the text is handed to ``JSONB`` and read back as canonical text, so an
    operator can query payloads with the JSON operators.
    """

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return json.loads(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, sort_keys=True, separators=(",", ":"))


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Id = sa.String(200)

metadata = sa.MetaData()
"""Every table of the SQL store; include it in your migrations (``target_metadata``)."""

accounts = sa.Table(
    "acctstate_accounts",
    metadata,
    sa.Column("id", _Id, primary_key=True),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("status_since", UtcDateTime, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    comment="acctstate: each account's current status; version counts its changes",
)
sa.Index("ix_acctstate_accounts_status", accounts.c.status, accounts.c.id)

history = sa.Table(
    "acctstate_history",
    metadata,
    sa.Column("id", _Serial, primary_key=True, autoincrement=True),
    sa.Column("account_id", _Id, sa.ForeignKey(accounts.c.id), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("trigger", sa.String(100), nullable=False),
    sa.Column("source", sa.Integer, nullable=False),
    sa.Column("dest", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("recorded_at", UtcDateTime),
    sa.Column("reason", sa.String(100)),
    sa.Column("note", sa.Text),
    sa.Column("actor_id", sa.String(200)),
    sa.Column("actor_kind", sa.String(20)),
    sa.Column("actor_permissions", JsonText),
    sa.UniqueConstraint("account_id", "version", name="uq_acctstate_history_version"),
    comment="acctstate: append-only status history, one row per version",
)

outbox = sa.Table(
    "acctstate_outbox",
    metadata,
    sa.Column("seq", _Serial, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(500), nullable=False, unique=True),
    sa.Column("account_id", _Id, sa.ForeignKey(accounts.c.id), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("payload", JsonText, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("done_at", UtcDateTime),
    sa.Column("outcome", sa.String(20)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("claimed_until", UtcDateTime),
    sa.Column("dead_at", UtcDateTime),
    sa.Column("resolved_action", sa.String(10)),
    sa.Column("resolution", sa.Text),
    sa.Column("resolved_by", sa.String(200)),
    sa.Column("resolved_at", UtcDateTime),
    comment=(
        "acctstate: effects of committed changes; done_at is set once carried out, "
        "outcome 'dead' after too many failed attempts"
    ),
)
# history() and each delivery read an account's effects by version.
sa.Index("ix_acctstate_outbox_account", outbox.c.account_id, outbox.c.version, outbox.c.position)
sa.Index(
    "ix_acctstate_outbox_pending",
    outbox.c.account_id,
    outbox.c.seq,
    postgresql_where=outbox.c.done_at.is_(None),
    sqlite_where=outbox.c.done_at.is_(None),
)
sa.Index(
    "ix_acctstate_outbox_queue",
    outbox.c.seq,
    postgresql_where=outbox.c.done_at.is_(None),
    sqlite_where=outbox.c.done_at.is_(None),
)
# prune(before=...) deletes the rows carried out before an instant.
sa.Index(
    "ix_acctstate_outbox_done",
    outbox.c.done_at,
    postgresql_where=outbox.c.done_at.is_not(None),
    sqlite_where=outbox.c.done_at.is_not(None),
)

# dead_letters() lists them per account.
sa.Index(
    "ix_acctstate_outbox_dead",
    outbox.c.account_id,
    outbox.c.seq,
    postgresql_where=outbox.c.dead_at.is_not(None),
    sqlite_where=outbox.c.dead_at.is_not(None),
)

scheduled = sa.Table(
    "acctstate_scheduled",
    metadata,
    sa.Column("id", sa.String(500), primary_key=True),
    sa.Column("account_id", _Id, sa.ForeignKey(accounts.c.id), nullable=False),
    sa.Column("trigger", sa.String(100), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("reason", sa.String(100)),
    sa.Column("note", sa.Text),
    sa.Column("actor_id", sa.String(200)),
    sa.Column("actor_kind", sa.String(20)),
    sa.Column("actor_permissions", JsonText),
    sa.Column("data", JsonText),
    sa.Column("state", sa.String(10), nullable=False, default="pending"),
    sa.Column("version", sa.Integer),
    sa.Column("error", sa.Text),
    comment="acctstate: effective-dated changes; state pending -> applied | failed",
)
sa.Index("ix_acctstate_scheduled_due", scheduled.c.state, scheduled.c.at, scheduled.c.id)
sa.Index("ix_acctstate_scheduled_account", scheduled.c.account_id, scheduled.c.at, scheduled.c.id)

holds = sa.Table(
    "acctstate_holds",
    metadata,
    sa.Column("seq", _Serial, primary_key=True, autoincrement=True),
    sa.Column("account_id", _Id, sa.ForeignKey(accounts.c.id), nullable=False),
    sa.Column("hold_id", _Id, nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("blocks", sa.String(100), nullable=False),
    sa.Column("since", UtcDateTime, nullable=False),
    sa.Column("until", UtcDateTime),
    sa.Column("reason", sa.String(100)),
    sa.Column("note", sa.Text),
    sa.Column("actor_id", sa.String(200)),
    sa.Column("actor_kind", sa.String(20)),
    sa.Column("actor_permissions", JsonText),
    sa.Column("placed_version", sa.Integer, nullable=False),
    sa.Column("released_at", UtcDateTime),
    sa.Column("released_version", sa.Integer),
    comment=(
        "acctstate: one row per hold; placed at placed_version, standing until "
        "released_at is set (the history records both changes)"
    ),
)
# The standing holds of an account (every fire and each nightly chunk read them), and
# at most one standing hold per id on an account.
sa.Index(
    "ix_acctstate_holds_standing",
    holds.c.account_id,
    holds.c.hold_id,
    unique=True,
    postgresql_where=holds.c.released_at.is_(None),
    sqlite_where=holds.c.released_at.is_(None),
)
# The automation finds time-bound holds whose end has passed.
sa.Index(
    "ix_acctstate_holds_until",
    holds.c.until,
    postgresql_where=holds.c.released_at.is_(None) & holds.c.until.is_not(None),
    sqlite_where=holds.c.released_at.is_(None) & holds.c.until.is_not(None),
)

HISTORY_GUARD = "acctstate_history_append_only"
"""The PostgreSQL function and trigger that keep the history append-only."""


def protect_history(conn: sa.Connection) -> None:
    """Make the history append-only on PostgreSQL (a trigger; elsewhere nothing)."""
    if conn.dialect.name != "postgresql":
        return
    schema = conn.schema_for_object(history)
    prefix = "" if schema is None else f'"{schema}".'
    fn = f"{prefix}{HISTORY_GUARD}"
    table = f'{prefix}"{history.name}"'
    conn.exec_driver_sql(
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'acctstate history is append-only: %% refused on %%', TG_OP, TG_TABLE_NAME "
        "USING ERRCODE = 'insufficient_privilege'; END $$"
    )
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {HISTORY_GUARD} ON {table}")
    conn.exec_driver_sql(
        f"CREATE TRIGGER {HISTORY_GUARD} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {fn}()"
    )
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {HISTORY_GUARD}_truncate ON {table}")
    conn.exec_driver_sql(
        f"CREATE TRIGGER {HISTORY_GUARD}_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"
    )


def unprotect_history(conn: sa.Connection) -> None:
    """Drop the PostgreSQL guard function (with its triggers); elsewhere nothing."""
    if conn.dialect.name != "postgresql":
        return
    schema = conn.schema_for_object(history)
    prefix = "" if schema is None else f'"{schema}".'
    conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {prefix}{HISTORY_GUARD}() CASCADE")


@sa.event.listens_for(history, "after_create")
def _after_create(target: sa.Table, conn: sa.Connection, **kw: Any) -> None:
    protect_history(conn)


@sa.event.listens_for(history, "after_drop")
def _after_drop(target: sa.Table, conn: sa.Connection, **kw: Any) -> None:
    unprotect_history(conn)
