"""Delivery that never blocks, dead letters, pruning, an index for every query, JSONB
on PostgreSQL and an append-only history.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from acctstate.world.store._schema import UtcDateTime, protect_history, unprotect_history

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON_COLUMNS = (
    ("acctstate_history", "actor_permissions"),
    ("acctstate_outbox", "payload"),
    ("acctstate_scheduled", "actor_permissions"),
    ("acctstate_scheduled", "data"),
)
_OUTBOX_COLUMNS = (
    ("next_attempt_at", UtcDateTime),
    ("claimed_by", sa.String(200)),
    ("claimed_until", UtcDateTime),
    ("dead_at", UtcDateTime),
    ("resolved_action", sa.String(10)),
    ("resolution", sa.Text),
    ("resolved_by", sa.String(200)),
    ("resolved_at", UtcDateTime),
)


def upgrade() -> None:
    """Add the delivery columns and indexes; JSON columns become ``JSONB`` on PostgreSQL;
    the history is made append-only there."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        for table, column in _JSON_COLUMNS:
            op.execute(
                f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE JSONB USING "{column}"::jsonb'
            )
    for name, kind in _OUTBOX_COLUMNS:
        op.add_column("acctstate_outbox", sa.Column(name, kind))
    if postgres:
        op.create_table_comment(
            "acctstate_outbox",
            "acctstate: effects of committed changes; done_at is set once carried out, "
            "outcome 'dead' after too many failed attempts",
        )
    op.create_index("ix_acctstate_accounts_status", "acctstate_accounts", ["status", "id"])
    op.create_index(
        "ix_acctstate_outbox_account",
        "acctstate_outbox",
        ["account_id", "version", "position"],
    )
    done = sa.text("done_at IS NOT NULL")
    op.create_index(
        "ix_acctstate_outbox_done",
        "acctstate_outbox",
        ["done_at"],
        postgresql_where=done,
        sqlite_where=done,
    )
    dead = sa.text("dead_at IS NOT NULL")
    op.create_index(
        "ix_acctstate_outbox_dead",
        "acctstate_outbox",
        ["account_id", "seq"],
        postgresql_where=dead,
        sqlite_where=dead,
    )
    op.create_index(
        "ix_acctstate_scheduled_account",
        "acctstate_scheduled",
        ["account_id", "at", "id"],
    )
    protect_history(bind)


def downgrade() -> None:
    """Back to the first release's tables (delivery state beyond it is lost)."""
    bind = op.get_bind()
    unprotect_history(bind)
    for name in (
        "ix_acctstate_scheduled_account",
        "ix_acctstate_outbox_dead",
        "ix_acctstate_outbox_done",
        "ix_acctstate_outbox_account",
    ):
        op.drop_index(name)
    op.drop_index("ix_acctstate_accounts_status")
    with op.batch_alter_table("acctstate_outbox") as batch:
        for name, _ in reversed(_OUTBOX_COLUMNS):
            batch.drop_column(name)
    if bind.dialect.name == "postgresql":
        for table, column in _JSON_COLUMNS:
            op.execute(
                f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE TEXT USING "{column}"::text'
            )
