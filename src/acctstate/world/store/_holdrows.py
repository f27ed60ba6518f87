"""The SQL store's hold rows: reading the standing holds (of one account or a chunk, as
columns) and the rows a placement or release writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from acctstate.values.holds import Hold
from acctstate.world.store._codec import actor_columns, hold_of
from acctstate.world.store._schema import holds

__all__ = ["hold_of", "hold_row", "release_values", "standing", "standing_columns"]

_STANDING = (
    sa.select(holds)
    .where(
        holds.c.tenant == sa.bindparam("tenant"),
        holds.c.account_id == sa.bindparam("id"),
        holds.c.released_at.is_(None),
    )
    .order_by(holds.c.seq)
)
_STANDING_MANY = (
    sa.select(holds)
    .where(
        holds.c.tenant == sa.bindparam("tenant"),
        holds.c.account_id.in_(sa.bindparam("ids", expanding=True)),
        holds.c.released_at.is_(None),
    )
    .order_by(holds.c.account_id, holds.c.seq)
)
# Bound parameters per statement stay well under SQLite's and PostgreSQL's limits.
_IN_BATCH = 1000


def hold_row(account_id: str, hold: Hold, version: int, tenant: str) -> dict[str, Any]:
    """The holds table row of ``hold``, placed at ``version``, in ``tenant``."""
    actor_id, actor_kind, permissions = actor_columns(hold.placed_by)
    return {
        "tenant": tenant,
        "account_id": account_id,
        "hold_id": hold.id,
        "type": hold.type,
        "kind": hold.kind,
        "blocks": ",".join(sorted(hold.blocks)),
        "since": hold.since,
        "until": hold.until,
        "reason": hold.reason,
        "note": hold.note,
        "actor_id": actor_id,
        "actor_kind": actor_kind,
        "actor_permissions": permissions,
        "placed_version": version,
        "released_at": None,
        "released_version": None,
    }


def release_values(at: dt.datetime, version: int) -> dict[str, Any]:
    """What releasing a hold writes on its row."""
    return {"released_at": at, "released_version": version}


def standing(conn: sa.Connection, account_id: str, tenant: str) -> tuple[Hold, ...]:
    """The holds standing on one account of ``tenant``, in placement order."""
    params = {"id": account_id, "tenant": tenant}
    return tuple(hold_of(r) for r in conn.execute(_STANDING, params))


def standing_columns(
    conn: sa.Connection, ids: Sequence[str], tenant: str
) -> dict[str, tuple[Hold, ...]]:
    """The standing holds of a chunk of accounts of ``tenant``, read in one query per
    thousand ids; only accounts with a standing hold are keys."""
    out: dict[str, list[Hold]] = {}
    for part in _parts(ids):
        for row in conn.execute(_STANDING_MANY, {"ids": list(part), "tenant": tenant}):
            out.setdefault(row.account_id, []).append(hold_of(row))
    return {k: tuple(v) for k, v in out.items()}


def _parts(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _IN_BATCH):
        yield ids[i : i + _IN_BATCH]
