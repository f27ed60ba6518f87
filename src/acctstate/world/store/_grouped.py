"""Set-based writing of a chunk's history and outbox rows.

Most changes of a nightly run or a batch share everything but the account: the trigger,
source, destination, instant, actor, note and the kinds of their effects, whose keys
follow from the account id (``<id>/<trigger>/<instant>/<source>#<i>``). Such changes are
kept as ``(order, group, account id, version, recorded at)`` only. Writing them loads those narrow rows
(and each group's effects) into two temporary tables and inserts the history and outbox
rows with ``INSERT ... SELECT`` -- the rows ``fire`` writes, in the order it writes them
(each account's effects in order), without building them one by one in Python.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from acctstate.values.effects import Effect
from acctstate.values.history import StatusChange, _Deferred, effect_key_prefix
from acctstate.world.store._chunk import effect_rows, sqlite_stamp
from acctstate.world.store._codec import actor_columns
from acctstate.world.store._schema import history, outbox

__all__ = ["Grouped", "groupable"]

_CHANGES = "acctstate_tmp_changes"
_EFFECTS = "acctstate_tmp_effects"
_HISTORY_COLUMNS = (
    "account_id",
    "version",
    "trigger",
    "source",
    "dest",
    "at",
    "recorded_at",
    "reason",
    "note",
    "actor_id",
    "actor_kind",
    "actor_permissions",
    "tenant",
)
_OUTBOX_COLUMNS = (
    "key",
    "account_id",
    "version",
    "position",
    "kind",
    "payload",
    "created_at",
    "attempts",
    "tenant",
)


def groupable(conn: sa.Connection) -> bool:
    """Whether the chunk's rows can be written set-based on this connection."""
    return conn.dialect.name in ("sqlite", "postgresql")


def _shared(change: StatusChange) -> tuple[type[Effect], ...] | None:
    """The effect kinds of a change whose effects all follow from it, else ``None``."""
    raw = change._effects
    if raw == ():
        return ()
    if isinstance(raw, _Deferred) and not raw.keyed:
        return raw.kinds
    return None


class Grouped:
    """The changes of a chunk kept as group members (see the module)."""

    __slots__ = ("actors", "effects", "groups", "info", "members")

    def __init__(self) -> None:
        self.members: list[tuple[int, int, str, int, Any]] = []
        self.groups: dict[tuple[Any, ...], int] = {}
        self.info: list[tuple[StatusChange, str]] = []  # a sample change and its key suffix
        self.effects: list[tuple[int, int, str, str, str]] = []
        # Groups are keyed by the actor's identity (hashing an actor per change costs);
        # the actors are kept so that no identity is reused while the chunk is built.
        self.actors: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.members)

    @staticmethod
    def kinds_of(changes: list[StatusChange]) -> list[tuple[type[Effect], ...]] | None:
        """The effect kinds of each of one account's changes when all can be group
        members, else ``None``."""
        out = []
        for c in changes:
            kinds = _shared(c)
            if kinds is None:
                return None
            out.append(kinds)
        return out

    def add(self, change: StatusChange, version: int, kinds: tuple[type[Effect], ...]) -> None:
        """Keep ``change`` (made at ``version``, effects of ``kinds``) as a member."""
        actor = change.actor
        self.actors.setdefault(id(actor), actor)
        key = (
            change.trigger,
            change.source.code,
            change.dest.code,
            change.at,
            change.reason,
            change.note,
            id(actor),
            kinds,
        )
        grp = self.groups.get(key)
        if grp is None:
            grp = self.groups[key] = len(self.info)
            suffix = effect_key_prefix("", change.trigger, change.at, change.source.code)
            self.info.append((change, suffix))
            for position, (_, kind, payload) in enumerate(effect_rows(change)):
                self.effects.append((grp, position, f"{suffix}#{position}", kind, payload))
        # When the change was recorded differs from one change to the next (the clock
        # runs): a column of the member, not a part of its group.
        self.members.append(
            (len(self.members), grp, change.account_id, version, change.recorded_at)
        )

    def keys(self) -> dict[str, str]:
        """Every effect key of the members, and its account."""
        suffixes: dict[int, list[str]] = {}
        for grp, _, suffix, _, _ in self.effects:
            suffixes.setdefault(grp, []).append(suffix)
        return {
            f"{account_id}{s}": account_id
            for _, grp, account_id, _, _ in self.members
            for s in suffixes.get(grp, ())
        }

    def without(self, lost: set[str]) -> None:
        """Drop the members of the accounts in ``lost``."""
        self.members = [m for m in self.members if m[2] not in lost]

    # -- writing ---------------------------------------------------------------------

    def write(self, conn: sa.Connection, tenant: str, created: dt.datetime) -> None:
        """Insert the members' history and outbox rows in the connection's transaction."""
        if not self.members:
            return
        sqlite = conn.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        quote = conn.dialect.identifier_preparer.quote
        translate = conn.get_execution_options().get("schema_translate_map") or {}

        def target(table: sa.Table) -> str:
            schema = translate.get(table.schema, table.schema)
            return ".".join(quote(x) for x in ([schema] if schema else []) + [table.name])

        def instant(value: dt.datetime | None) -> Any:
            return None if value is None or not sqlite else sqlite_stamp(value)

        def cast(text: str, kind: str) -> str:
            return text if sqlite else f"CAST({text} AS {kind})"

        self._load(conn, sqlite)
        columns = ", ".join(quote(c) for c in _HISTORY_COLUMNS)
        values = ", ".join(
            [
                "account_id",
                "version",
                cast(mark, "TEXT"),
                cast(mark, "INTEGER"),
                cast(mark, "INTEGER"),
                cast(mark, "TIMESTAMPTZ"),
                "recorded_at",
                cast(mark, "TEXT"),
                cast(mark, "TEXT"),
                cast(mark, "TEXT"),
                cast(mark, "TEXT"),
                cast(mark, "JSONB"),
                cast(mark, "TEXT"),
            ]
        )
        insert_history = (
            f"INSERT INTO {target(history)} ({columns}) SELECT {values} "
            f"FROM {_CHANGES} WHERE grp = {cast(mark, 'INTEGER')} ORDER BY ord"
        )
        for grp, (change, _) in enumerate(self.info):
            actor_id, actor_kind, permissions = actor_columns(change.actor)
            conn.exec_driver_sql(
                insert_history,
                (
                    change.trigger,
                    change.source.code,
                    change.dest.code,
                    instant(change.at) if sqlite else change.at,
                    change.reason,
                    change.note,
                    actor_id,
                    actor_kind,
                    permissions,
                    tenant,
                    grp,
                ),
            )
        if self.effects:
            columns = ", ".join(quote(c) for c in _OUTBOX_COLUMNS)
            conn.exec_driver_sql(
                f"INSERT INTO {target(outbox)} ({columns}) "
                f"SELECT c.account_id || e.suffix, c.account_id, c.version, e.position, e.kind, "
                f"{cast('e.payload', 'JSONB')}, {cast(mark, 'TIMESTAMPTZ')}, 0, {cast(mark, 'TEXT')} "
                f"FROM {_CHANGES} c JOIN {_EFFECTS} e ON e.grp = c.grp "
                "ORDER BY c.ord, e.position",
                (instant(created) if sqlite else created, tenant),
            )

    def _load(self, conn: sa.Connection, sqlite: bool) -> None:
        """The members and the groups' effects into the (emptied) temporary tables."""
        text, integer, stamp = (
            ("TEXT", "INTEGER", "TEXT") if sqlite else ("text", "integer", "timestamptz")
        )
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {_CHANGES} (ord {integer}, grp {integer}, "
            f"account_id {text}, version {integer}, recorded_at {stamp})"
        )
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {_EFFECTS} (grp {integer}, position {integer}, "
            f"suffix {text}, kind {text}, payload {text})"
        )
        conn.exec_driver_sql(f"DELETE FROM {_CHANGES}")
        conn.exec_driver_sql(f"DELETE FROM {_EFFECTS}")
        copying = not sqlite and conn.dialect.driver == "psycopg" and not conn.dialect.is_async
        members: list[tuple[Any, ...]] = self.members
        if sqlite:
            seen: dict[Any, Any] = {None: None}
            members = []
            for *head, recorded in self.members:
                text_at = seen.get(recorded)
                if text_at is None and recorded is not None:
                    text_at = seen[recorded] = sqlite_stamp(recorded)
                members.append((*head, text_at))
        for name, rows in ((_CHANGES, members), (_EFFECTS, self.effects)):
            if not rows:
                continue
            if copying:
                driver = conn.connection.driver_connection
                with (
                    driver.cursor() as cursor,  # type: ignore[union-attr]
                    cursor.copy(f"COPY {name} FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row(row)
                continue
            marks = ", ".join(["?" if sqlite else "%s"] * len(rows[0]))
            conn.exec_driver_sql(f"INSERT INTO {name} VALUES ({marks})", rows)
