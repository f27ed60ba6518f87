"""The tables as the first release of the store created them.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from acctstate.world.store._schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Id = sa.String(200)


def upgrade() -> None:
    """Create the accounts, history, outbox and scheduled tables."""
    op.create_table(
        "acctstate_accounts",
        sa.Column("id", _Id, primary_key=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("status_since", UtcDateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        comment="acctstate: each account's current status; version counts its changes",
    )
    op.create_table(
        "acctstate_history",
        sa.Column("id", _Serial, primary_key=True, autoincrement=True),
        sa.Column("account_id", _Id, sa.ForeignKey("acctstate_accounts.id"), nullable=False),
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
    op.create_table(
        "acctstate_outbox",
        sa.Column("seq", _Serial, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(500), nullable=False, unique=True),
        sa.Column("account_id", _Id, sa.ForeignKey("acctstate_accounts.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("done_at", UtcDateTime),
        sa.Column("outcome", sa.String(20)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        comment="acctstate: effects of committed changes; done_at is set once carried out",
    )
    pending = sa.text("done_at IS NULL")
    op.create_index(
        "ix_acctstate_outbox_pending",
        "acctstate_outbox",
        ["account_id", "seq"],
        postgresql_where=pending,
        sqlite_where=pending,
    )
    op.create_index(
        "ix_acctstate_outbox_queue",
        "acctstate_outbox",
        ["seq"],
        postgresql_where=pending,
        sqlite_where=pending,
    )
    op.create_table(
        "acctstate_scheduled",
        sa.Column("id", sa.String(500), primary_key=True),
        sa.Column("account_id", _Id, sa.ForeignKey("acctstate_accounts.id"), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.String(100)),
        sa.Column("note", sa.Text),
        sa.Column("actor_id", sa.String(200)),
        sa.Column("actor_kind", sa.String(20)),
        sa.Column("actor_permissions", sa.Text),
        sa.Column("data", sa.Text),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("error", sa.Text),
        comment="acctstate: effective-dated changes; state pending -> applied | failed",
    )
    op.create_index("ix_acctstate_scheduled_due", "acctstate_scheduled", ["state", "at", "id"])


def downgrade() -> None:
    """Drop the tables (everything stored is lost)."""
    for table in ("acctstate_scheduled", "acctstate_outbox", "acctstate_history"):
        op.drop_table(table)
    op.drop_table("acctstate_accounts")
