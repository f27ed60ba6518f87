"""Partitions of the stored accounts, computed in SQL: which rows one worker of a
partitioned nightly run reads.

An account belongs to partition ``h mod count``, where ``h`` is the first 32 bits of the
MD5 digest of its id (UTF-8), read as an unsigned number. Membership depends on the id
alone, so the partitions are disjoint and together cover every account whatever is
inserted while a run goes, and an account falls in the same partition on every database
(`partition_of` gives it in Python). PostgreSQL computes it with its own ``md5``;
on SQLite the store registers the same function on the connection.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

from acctstate.values.errors import InvalidArgument

__all__ = ["check_partition", "in_partition", "partition_of"]

_SQLITE_FUNCTION = "acctstate_partition"


def partition_of(account_id: str, count: int) -> int:
    """The partition (``0 <= p < count``) that ``account_id`` belongs to.

    >>> [partition_of(i, 2) for i in ("A-1", "A-2", "A-3")]
    [0, 0, 1]
    """
    digest = hashlib.md5(account_id.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "big") % count


def check_partition(partition: object) -> tuple[int, int] | None:
    """``partition`` as ``(index, count)``, or ``None`` for the whole book.

    Raises:
        InvalidArgument: not a pair of ints with ``0 <= index < count``.
    """
    if partition is None:
        return None
    ok = (
        isinstance(partition, tuple)
        and len(partition) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in partition)
        and 0 <= partition[0] < partition[1]
    )
    if not ok:
        raise InvalidArgument(
            "partition", partition, "(index, count) with 0 <= index < count, or None"
        )
    return partition  # type: ignore[return-value]


def in_partition(conn: sa.Connection, column: Any, partition: tuple[int, int]) -> Any:
    """A WHERE clause keeping the rows whose ``column`` (an account id) is in ``partition``.

    Raises:
        InvalidArgument: a database other than PostgreSQL or SQLite.
    """
    index, count = partition
    if count == 1:
        return sa.true()  # the whole book: no hash to compute
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql as pg

        head = sa.func.substr(sa.func.md5(column), 1, 8)
        number = sa.cast(sa.cast(sa.literal("x") + head, pg.BIT(32)), sa.BigInteger)
        return number % count == index
    if name == "sqlite":
        # Registered on each connection the run uses (cheap, and idempotent).
        driver = conn.connection.driver_connection
        driver.create_function(  # type: ignore[union-attr]
            _SQLITE_FUNCTION, 2, partition_of, deterministic=True
        )
        return getattr(sa.func, _SQLITE_FUNCTION)(column, count) == index
    raise InvalidArgument(
        "partition", partition, f"a run on PostgreSQL or SQLite (this store is on {name})"
    )
