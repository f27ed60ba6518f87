"""Alembic's entry point for the store's migrations: runs them on the connection that
`acctstate.store.migrate.upgrade` hands over (never from a config file)."""

from __future__ import annotations

from alembic import context

from acctstate.world.store._schema import metadata

VERSION_TABLE = "acctstate_version"


def run() -> None:
    """Run the migrations on the connection given in the config's attributes."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if getattr(context, "_proxy", None) is not None:  # only when Alembic runs this file
    run()
