"""Create or upgrade the SQL store's schema with its shipped migrations (Alembic).

Needs the ``sql`` extra (``pip install 'acctstate[sql]'``, which brings Alembic). The
schema's version is kept in the ``acctstate_version`` table, apart from any Alembic
history of the host's own. A database whose tables were made by
`create_schema` (no version table yet) is
recognised and brought up to date like any other. The same from the command line:
``acctstate db upgrade URL``.

>>> from acctstate.store.sql import create_engine
>>> engine = create_engine("sqlite://")
>>> upgrade(engine)
'0004'
>>> current(engine), upgrade(engine)              # running it again changes nothing
('0004', '0004')
"""

from __future__ import annotations

import importlib.resources
from typing import Any

from acctstate.values.errors import InvalidArgument, MissingDependency

try:
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency(
        "SQLAlchemy 2 and Alembic",
        needed_for="acctstate.store.migrate",
        install="pip install 'acctstate[sql]'",
    ) from exc

from acctstate.world.store._schema import accounts, holds, outbox
from acctstate.world.store._sqlengine import create_engine

__all__ = ["HEAD", "VERSION_TABLE", "current", "upgrade"]

DatabaseError = sa.exc.SQLAlchemyError  # what the command line reports as a plain error

HEAD = "0004"
"""The schema version this release of acctstate writes."""

VERSION_TABLE = "acctstate_version"
"""The table that holds the schema's version."""


def _engine(bind: object) -> tuple[sa.Engine, bool]:
    if isinstance(bind, sa.Engine):
        return bind, False
    if isinstance(bind, str | sa.URL):
        return create_engine(bind), True
    raise InvalidArgument("bind", bind, "a database URL or an sqlalchemy.Engine")


def _config(conn: sa.Connection) -> Config:
    cfg = Config()
    where = importlib.resources.files("acctstate.world.store") / "_migrations"
    cfg.set_main_option("script_location", str(where))
    cfg.attributes["connection"] = conn
    return cfg


def _found(conn: sa.Connection) -> str | None:
    """The version of a schema made without migrations (``None``: no tables)."""
    inspector = sa.inspect(conn)
    schema = conn.schema_for_object(accounts)
    if not inspector.has_table(accounts.name, schema=schema):
        return None
    if inspector.has_table(holds.name, schema=schema):
        return HEAD
    columns = {c["name"] for c in inspector.get_columns(outbox.name, schema=schema)}
    return "0002" if "claimed_by" in columns else "0001"


def current(bind: sa.Engine | str | sa.URL) -> str | None:
    """The schema's version (``None``: no schema, or one without a version yet).

    Raises:
        InvalidArgument: ``bind`` is neither a URL nor an engine.
    """
    engine, own = _engine(bind)
    try:
        with engine.connect() as conn:
            found: Any = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE}
            ).get_current_revision()
            return None if found is None else str(found)
    finally:
        if own:
            engine.dispose()


def upgrade(bind: sa.Engine | str | sa.URL, *, revision: str = "head") -> str | None:
    """Create the store's schema, or bring it up to ``revision``; the version reached.

    Args:
        bind: a database URL or an engine (for tables in another PostgreSQL schema, an
            engine with ``schema_translate_map`` or a ``search_path``).
        revision: the version to reach (default: the newest).

    Raises:
        InvalidArgument: ``bind`` is neither a URL nor an engine.
    """
    engine, own = _engine(bind)
    try:
        with engine.begin() as conn:
            cfg = _config(conn)
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            if context.get_current_revision() is None:
                found = _found(conn)
                if found is not None:
                    command.stamp(cfg, found)
            command.upgrade(cfg, revision)
        return current(engine)
    finally:
        if own:
            engine.dispose()
