"""The SQL store's tables exactly as ``create_schema()`` made them before the shipped
migrations existed (frozen here: the migration tests upgrade a database made by them)."""

import sqlalchemy as sa

from acctstate.store.sql import UtcDateTime

__all__ = ["UtcDateTime", "accounts", "history", "metadata", "outbox", "scheduled"]


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
    sa.Column("actor_permissions", sa.Text),
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
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("done_at", UtcDateTime),
    sa.Column("outcome", sa.String(20)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    comment="acctstate: effects of committed changes; done_at is set once carried out",
)
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
    sa.Column("actor_permissions", sa.Text),
    sa.Column("data", sa.Text),
    sa.Column("state", sa.String(10), nullable=False, default="pending"),
    sa.Column("version", sa.Integer),
    sa.Column("error", sa.Text),
    comment="acctstate: effective-dated changes; state pending -> applied | failed",
)
sa.Index("ix_acctstate_scheduled_due", scheduled.c.state, scheduled.c.at, scheduled.c.id)
