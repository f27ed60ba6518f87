"""A tenant on every row: stores with different tenants share the tables safely.

Every table gains a ``tenant`` column (``''`` for the rows already there) that leads its
primary key, its unique keys, its foreign keys and its indexes. PostgreSQL changes the
tables in place; SQLite, which cannot change a primary key, builds each table anew and
copies its rows over.

Revision ID: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateTable

from acctstate.world.store._schema import accounts, history, outbox, scheduled

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CHILDREN = (history, outbox, scheduled)
_TABLES = (accounts, *_CHILDREN)
# The indexes of 0002 that the tenant now leads.
_INDEXES = {
    "acctstate_accounts": ("ix_acctstate_accounts_status",),
    "acctstate_history": (),
    "acctstate_outbox": (
        "ix_acctstate_outbox_account",
        "ix_acctstate_outbox_pending",
        "ix_acctstate_outbox_queue",
        "ix_acctstate_outbox_done",
        "ix_acctstate_outbox_dead",
    ),
    "acctstate_scheduled": ("ix_acctstate_scheduled_due", "ix_acctstate_scheduled_account"),
}


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(100), nullable=False, server_default="")


def upgrade() -> None:
    """Add the tenant and make it lead every key and index."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite(bind)
    else:
        _alter_in_place(bind)


def _alter_in_place(bind: Any) -> None:
    insp = sa.inspect(bind)
    schema = bind.schema_for_object(accounts)
    for table in _CHILDREN:
        for fk in insp.get_foreign_keys(table.name, schema=schema):
            op.drop_constraint(fk["name"], table.name, type_="foreignkey")
    for table in _TABLES:
        for name in _INDEXES[table.name]:
            op.drop_index(name, table_name=table.name)
        op.add_column(table.name, _tenant())
    for table, pk in ((accounts, "pk_acctstate_accounts"), (scheduled, "pk_acctstate_scheduled")):
        old = insp.get_pk_constraint(table.name, schema=schema)["name"]
        op.drop_constraint(old, table.name, type_="primary")
        op.create_primary_key(pk, table.name, ["tenant", "id"])
    op.drop_constraint("uq_acctstate_history_version", "acctstate_history", type_="unique")
    op.create_unique_constraint(
        "uq_acctstate_history_version", "acctstate_history", ["tenant", "account_id", "version"]
    )
    for unique in insp.get_unique_constraints("acctstate_outbox", schema=schema):
        op.drop_constraint(unique["name"], "acctstate_outbox", type_="unique")
    op.create_unique_constraint("uq_acctstate_outbox_key", "acctstate_outbox", ["tenant", "key"])
    for table in _CHILDREN:
        op.create_foreign_key(
            f"fk_{table.name}_account",
            table.name,
            "acctstate_accounts",
            ["tenant", "account_id"],
            ["tenant", "id"],
        )
    _create_indexes(bind)


def _rebuild_sqlite(bind: Any) -> None:
    # New tables beside the old ones (the children pointing at the new accounts), the
    # rows copied, the old tables dropped children first (no foreign key ever points
    # at a missing row), then the new ones renamed: SQLite rewrites the children's
    # references to the renamed accounts table.
    quote = bind.dialect.identifier_preparer.quote
    for table in _TABLES:
        ddl = str(CreateTable(table).compile(dialect=bind.dialect))
        ddl = ddl.replace(f"CREATE TABLE {table.name} ", f"CREATE TABLE {table.name}_v3 ", 1)
        ddl = ddl.replace("REFERENCES acctstate_accounts (", "REFERENCES acctstate_accounts_v3 (")
        op.execute(ddl)
        names = ", ".join(quote(c.name) for c in table.c if c.name != "tenant")
        op.execute(
            f"INSERT INTO {table.name}_v3 (tenant, {names}) SELECT '', {names} FROM {table.name}"
        )
    for table in reversed(_TABLES):
        op.execute(f"DROP TABLE {table.name}")
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table.name}_v3 RENAME TO {table.name}")
    _create_indexes(bind)


def _create_indexes(bind: Any) -> None:
    for table in _TABLES:
        for index in table.indexes:
            index.create(bind)


def downgrade() -> None:
    """Refused: two tenants' rows cannot be folded back into one key."""
    raise NotImplementedError(
        "acctstate's schema 0003 gives every row a tenant; going back to 0002 would merge "
        "the tenants' accounts. Restore a backup taken before the upgrade instead."
    )
