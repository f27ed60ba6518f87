"""Holds: one row per hold, standing until released.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from acctstate.world.store._schema import JsonText, UtcDateTime

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

_Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add the holds table and its indexes."""
    op.create_table(
        "acctstate_holds",
        sa.Column("seq", _Serial, primary_key=True, autoincrement=True),
        sa.Column(
            "account_id", sa.String(200), sa.ForeignKey("acctstate_accounts.id"), nullable=False
        ),
        sa.Column("hold_id", sa.String(200), nullable=False),
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
    standing = sa.text("released_at IS NULL")
    op.create_index(
        "ix_acctstate_holds_standing",
        "acctstate_holds",
        ["account_id", "hold_id"],
        unique=True,
        postgresql_where=standing,
        sqlite_where=standing,
    )
    ending = sa.text("released_at IS NULL AND until IS NOT NULL")
    op.create_index(
        "ix_acctstate_holds_until",
        "acctstate_holds",
        ["until"],
        postgresql_where=ending,
        sqlite_where=ending,
    )


def downgrade() -> None:
    """Drop the holds table (the history keeps the placements and releases)."""
    op.drop_index("ix_acctstate_holds_until")
    op.drop_index("ix_acctstate_holds_standing")
    op.drop_table("acctstate_holds")
