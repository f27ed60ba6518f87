"""What lets the async store run the SQL store's own code on an asyncio engine.

The SQL store's methods are plain functions over an SQLAlchemy ``Engine`` or
``Connection``. SQLAlchemy runs such code on an ``AsyncEngine`` inside a greenlet
(``AsyncConnection.run_sync`` does exactly this): every database call in it suspends the
calling coroutine instead of blocking the event loop. Inside that greenlet a host's
coroutine can be awaited too (``await_only``), which is how async hooks, an async
``decide`` and an async ``progress`` run in the very places the sync store calls them.
"""

from __future__ import annotations

import importlib.util
import inspect
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import await_only

from acctstate.values.effects import Hooks
from acctstate.values.errors import MissingDependency

__all__ = [
    "awaiting",
    "awaiting_hooks",
    "check_greenlet",
    "is_async_callable",
    "missing_driver",
    "sqlite_pragmas",
]

_INSTALL = "pip install 'acctstate[async]'"


def check_greenlet() -> None:
    """Raise [`MissingDependency`][acctstate.errors.MissingDependency] when SQLAlchemy's asyncio
    support is missing."""
    if importlib.util.find_spec("greenlet") is None:  # pragma: no cover - without the extra
        raise MissingDependency("greenlet", needed_for="acctstate.store.asyncio", install=_INSTALL)


def missing_driver(url: str | sa.URL, exc: ImportError) -> MissingDependency:
    """The error for an async database driver that is not installed."""
    scheme = sa.make_url(url).drivername
    return MissingDependency(
        exc.name or "the database driver", needed_for=f"a {scheme!r} engine", install=_INSTALL
    )


def sqlite_pragmas(engine: AsyncEngine) -> None:
    """Set the store's SQLite pragmas on every new connection of ``engine``.

    The same settings as [`acctstate.store.sql.create_engine`][acctstate.store.sql.create_engine]
    gives a sync engine: foreign keys on, a busy timeout, and for a database file the WAL journal.
    """
    on_disk = engine.url.database not in (None, "", ":memory:")

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if on_disk:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def is_async_callable(fn: object) -> bool:
    """Whether calling ``fn`` gives a coroutine (a coroutine function, or an object
    whose ``__call__`` is one)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - the method itself is what is checked
    )


def awaiting(fn: Any) -> Any:
    """``fn`` as a plain function: a coroutine it returns is awaited on the event loop.

    Only for code running inside the store's greenlet.
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            return await_only(result)
        return result

    return call


class _System:
    """One host system whose hook methods may be coroutine functions.

    The sync store calls ``system.method(effect, change)``; the coroutine that gives is
    awaited there, on the event loop, while the store holds no transaction (unless
    ``transactional=True``, when an async hook gets its ``connection=`` as an
    ``AsyncConnection`` over the store's transaction).
    """

    __slots__ = ("_engine", "_system")

    def __init__(self, system: object, engine: AsyncEngine) -> None:
        self._system = system
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._system, name)
        if not callable(found):
            return found
        engine = self._engine
        is_async = is_async_callable(found)

        def hook(effect: Any, change: Any, **kwargs: Any) -> None:
            conn = kwargs.get("connection")
            if is_async and isinstance(conn, sa.Connection):
                kwargs["connection"] = AsyncConnection(engine, conn)
            result = found(effect, change, **kwargs)
            if inspect.isawaitable(result):
                await_only(result)

        return hook

    def __repr__(self) -> str:
        return repr(self._system)


def awaiting_hooks(hooks: Hooks, engine: AsyncEngine) -> Hooks:
    """``hooks`` with each system's coroutine methods awaited where the store calls them."""

    def wrap(system: Any) -> Any:
        return None if system is None else _System(system, engine)

    # Every hook system the workflow knows (billing ... ledger, contracts), not a list
    # of them that a new system could be missing from.
    return Hooks(**{f.name: wrap(getattr(hooks, f.name)) for f in attrs.fields(Hooks)})
