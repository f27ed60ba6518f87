"""A chunk of the nightly run as columns: what is read, the sweep's book, and the rows
written, without a Python object per account that does not change.

The chunk's accounts and facts are read in one query and kept as one list per column;
only the accounts that change get a ``StoredAccount`` and a facts mapping. On SQLite,
instants kept by the store's ``UtcDateTime`` are read as their stored UTC text and
parsed a column at a time. Effects are written as ``(key, kind, payload)`` without
building the effect values a change only derives its keys for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa

from acctstate.operations.automation._book import DATE_COLUMNS, _minor, _ns, _numpy
from acctstate.values.clock import require_aware
from acctstate.values.effects import Effect
from acctstate.values.history import StatusChange, _Deferred, effect_key_prefix
from acctstate.world.store._codec import effect_payload
from acctstate.world.store._schema import UtcDateTime
from acctstate.world.store._types import StoredAccount

__all__ = [
    "Chunk",
    "book_of",
    "effect_rows",
    "read_query",
    "read_raw",
    "sqlite_rows",
    "sqlite_stamp",
]

# Stored state wins over a host column of the same name.
OWN = frozenset({"id", "status", "status_since", "version", "history"})


def _from_text(value: Any) -> dt.datetime | None:
    """An instant as ``UtcDateTime`` reads it from SQLite's stored UTC text."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):  # pragma: no cover - a driver that parses itself
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


class Chunk:
    """The accounts of one chunk as columns (``ids``, ``status``, ``since``, ``version``)
    and the host's facts as one list per name.

    ``texts`` names the columns still in SQLite's stored text (``"status_since"`` and
    facts); ``decoders`` the facts read raw from the driver with the processor that
    turns a value into what the column's type gives; ``money`` the raw ``Numeric``
    columns of scale 2 (the sweep reads them straight as minor units).
    """

    __slots__ = (
        "decoders",
        "facts",
        "ids",
        "money",
        "names",
        "since",
        "status",
        "texts",
        "version",
    )

    def __init__(
        self,
        rows: Sequence[Any],
        names: list[str],
        texts: frozenset[str],
        decoders: dict[str, Callable[[Any], Any]] | None = None,
        money: frozenset[str] = frozenset(),
    ) -> None:
        columns = list(zip(*rows, strict=True)) if rows else [()] * (4 + len(names))
        self.ids: list[str] = list(columns[0])
        self.status: list[int] = list(columns[1])
        self.since: list[Any] = list(columns[2])
        self.version: list[int] = list(columns[3])
        self.names = names
        self.facts: dict[str, list[Any]] = {n: list(columns[4 + i]) for i, n in enumerate(names)}
        self.texts = texts
        self.decoders = {} if decoders is None else decoders
        self.money = money

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep: Sequence[int]) -> Chunk:
        """The chunk's rows ``keep`` (in that order), read as this chunk reads them."""
        out = Chunk([], self.names, self.texts, self.decoders, self.money)
        out.ids = [self.ids[i] for i in keep]
        out.status = [self.status[i] for i in keep]
        out.since = [self.since[i] for i in keep]
        out.version = [self.version[i] for i in keep]
        out.facts = {n: [v[i] for i in keep] for n, v in self.facts.items()}
        return out

    def stored(self, i: int) -> StoredAccount:
        """Row ``i``'s stored state."""
        since = self.since[i]
        if "status_since" in self.texts:
            since = _from_text(since)
        return StoredAccount(self.ids[i], self.status[i], since, self.version[i])

    def _value(self, name: str, value: Any) -> Any:
        if name in self.texts:
            return _from_text(value)
        decode = self.decoders.get(name)
        return value if decode is None else decode(value)

    def facts_of(self, i: int) -> Mapping[str, Any] | None:
        """Row ``i``'s facts, as the store reads them for one account (each value decoded
        when a rule reads it)."""
        if not self.names:
            return None
        return _Row(self, i)

    def column(self, name: str) -> list[Any]:
        """A fact's column, as its type reads it."""
        values = self.facts[name]
        if name in self.texts or name in self.decoders:
            return [self._value(name, v) for v in values]
        return values


class _Row(Mapping[str, Any]):
    """One row of a chunk's facts, read lazily."""

    __slots__ = ("_chunk", "_i")

    def __init__(self, chunk: Chunk, i: int) -> None:
        self._chunk = chunk
        self._i = i

    def __getitem__(self, name: str) -> Any:
        chunk = self._chunk
        return chunk._value(name, chunk.facts[name][self._i])

    def __contains__(self, name: object) -> bool:
        return name in self._chunk.facts

    def __iter__(self) -> Iterator[str]:
        return iter(self._chunk.facts)

    def __len__(self) -> int:
        return len(self._chunk.facts)


_WHOLE = 2**63 // 100  # whole amounts whose minor units fit in int64


def _raw_minor(value: Any) -> int:
    """A raw SQLite number of a ``Numeric(scale=2)`` column in minor units: what
    ``_minor`` gives for the Decimal SQLAlchemy makes of it (``"%.2f"`` of the value)."""
    if value is None:
        return 0
    if type(value) is int and -_WHOLE < value < _WHOLE:
        return value * 100  # what _minor gives, without its checks' cost
    if type(value) is float:
        return _minor(Decimal("%.2f" % value), "balance", 2)  # noqa: UP031
    return _minor(value, "balance", 2)


def read_query(
    facts: Any, key: str, sqlite: bool, accounts: sa.Table
) -> tuple[list[Any], Any, list[str], frozenset[str]]:
    """The columns to read, the source joined to the facts, the facts' names and the
    columns read as stored text."""
    texts: set[str] = set()

    def column(col: Any, name: str) -> Any:
        if sqlite and isinstance(col.type, UtcDateTime):
            texts.add(name)
            return sa.type_coerce(col, sa.String)
        return col

    cols: list[Any] = [
        accounts.c.id,
        accounts.c.status,
        column(accounts.c.status_since, "status_since"),
        accounts.c.version,
    ]
    source: Any = accounts
    names: list[str] = []
    if facts is not None:
        names = [col.key for col in facts.c if col.key not in OWN]
        cols += [column(facts.c[n], n).label(f"f_{i}") for i, n in enumerate(names)]
        source = accounts.outerjoin(facts, facts.c[key] == accounts.c.id)
    return cols, source, names, frozenset(texts)


def read_raw(
    conn: sa.Connection, query: Any, facts: Any, names: list[str], texts: frozenset[str]
) -> Chunk:
    """The chunk read through the SQLite driver itself: rows as plain tuples, each fact
    decoded only when it is read (the sweep reads ``Numeric(scale=2)`` money raw)."""
    dialect = conn.dialect
    compiled = query.compile(dialect=dialect)
    params = compiled.construct_params()
    args = tuple(params[k] for k in compiled.positiontup or ())
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), args)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    decoders: dict[str, Callable[[Any], Any]] = {}
    money: set[str] = set()
    for n in names:
        if n in texts:
            continue
        kind = facts.c[n].type
        decode = kind._cached_result_processor(dialect, None)
        if decode is not None:
            decoders[n] = decode
        if (
            isinstance(kind, sa.Numeric)
            and not isinstance(kind, sa.Float)
            and kind.asdecimal
            and kind.scale == 2
        ):
            money.add(n)
    return Chunk(rows, names, texts, decoders, frozenset(money))


def _dates(values: list[Any], name: str, text: bool, n: int) -> Any:
    np = _numpy()
    if text:
        # None reads as NaT, the sweep's "no date".
        return np.array(values, dtype="datetime64[ns]")
    nat = np.iinfo(np.int64).min
    ns = (nat if v is None else _ns(require_aware(v, name)) for v in values)
    return np.fromiter(ns, dtype=np.int64, count=n).view("datetime64[ns]")


def book_of(chunk: Chunk) -> dict[str, Any]:
    """The chunk as the columns the sweep reads, as ``columns_from_accounts`` makes them
    from the same accounts."""
    np = _numpy()
    n = len(chunk)
    facts = chunk.facts

    def objects(values: list[Any]) -> Any:
        out = np.empty(n, dtype=object)
        out[:] = values
        return out

    book: dict[str, Any] = {
        "id": objects(chunk.ids),
        "status": np.array(chunk.status, dtype=np.int64),
    }
    if "balance" in chunk.money:
        raw = facts["balance"]
        book["balance"] = np.fromiter(map(_raw_minor, raw), dtype=np.int64, count=n)
    elif "balance" in facts:
        balance = chunk.column("balance")
        book["balance"] = np.fromiter(
            (_minor(v, "balance", 2) for v in balance), dtype=np.int64, count=n
        )
    else:
        book["balance"] = np.zeros(n, dtype=np.int64)
    facts = {
        k: (v if k in chunk.texts or k in chunk.money else chunk.column(k))
        for k, v in facts.items()
    }
    book["account_class"] = objects(facts.get("account_class", [None] * n))
    unpaid = facts.get("unpaid_invoices")
    book["unpaid_invoices"] = (
        np.fromiter((v or 0 for v in unpaid), dtype=np.int64, count=n)
        if unpaid is not None
        else np.zeros(n, dtype=np.int64)
    )
    method = facts.get("payment_method")
    book["payment_method"] = (
        np.fromiter((bool(v) for v in method), dtype=bool, count=n)
        if method is not None
        else np.zeros(n, dtype=bool)
    )
    days = facts.get("availability_days")
    book["availability_days"] = (
        np.fromiter((-1 if v is None else v for v in days), dtype=np.int64, count=n)
        if days is not None
        else np.full(n, -1, dtype=np.int64)
    )
    nat = np.iinfo(np.int64).min
    for name in DATE_COLUMNS:
        if name == "status_since":
            book[name] = _dates(chunk.since, name, name in chunk.texts, n)
        elif name in facts:
            book[name] = _dates(facts[name], name, name in chunk.texts, n)
        else:
            book[name] = np.full(n, nat, dtype=np.int64).view("datetime64[ns]")
    # Host columns a guard without a column-wise form may read, as objects.
    for name in sorted(facts.keys() - book.keys()):
        values = facts[name]
        if name in chunk.texts:
            values = [_from_text(v) for v in values]
        book[name] = objects(values)
    return book


_FIXED: dict[type[Effect], tuple[str, str]] = {}


def _fixed(kind: type[Effect]) -> tuple[str, str]:
    """A derived effect kind's name and payload (the same for every key)."""
    found = _FIXED.get(kind)
    if found is None:
        sample = kind(key="")
        found = _FIXED[kind] = (sample.kind, effect_payload(sample))
    return found


_PAYLOADS: dict[type[Effect], str | None] = {}


def _payload(effect: Effect) -> str:
    """``effect_payload(effect)``, computed once per type for effects without fields."""
    kind = type(effect)
    fixed = _PAYLOADS.get(kind, "")
    if fixed == "":
        fields = [a for a in attrs.fields(kind) if a.init and a.name != "key"]
        fixed = _PAYLOADS[kind] = None if fields else effect_payload(effect)
    return effect_payload(effect) if fixed is None else fixed


def effect_rows(change: StatusChange) -> list[tuple[str, str, str]]:
    """``(key, kind, payload)`` of each of the change's effects, in order."""
    raw = change._effects
    if isinstance(raw, _Deferred):
        prefix = effect_key_prefix(change.account_id, change.trigger, change.at, change.source.code)
        out = [(f"{prefix}#{i}", *_fixed(k)) for i, k in enumerate(raw.kinds)]
        out.extend((e.key, e.kind, _payload(e)) for e in raw.keyed)
        return out
    return [(e.key, e.kind, _payload(e)) for e in raw]


def sqlite_rows(
    table: sa.Table, names: list[str], rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """``rows`` as the driver's tuples in ``names`` order, instants as stored text."""
    stamps = {
        i for i, n in enumerate(names) if n in table.c and isinstance(table.c[n].type, UtcDateTime)
    }
    seen: dict[dt.datetime, str] = {}  # a chunk's rows share a few instants

    def stamp(value: Any) -> Any:
        if value is None:
            return None
        text = seen.get(value)
        if text is None:
            text = seen[value] = sqlite_stamp(value)
        return text

    return [
        tuple(stamp(row[n]) if i in stamps else row[n] for i, n in enumerate(names)) for row in rows
    ]


def sqlite_stamp(value: dt.datetime) -> str:
    """An instant as SQLAlchemy's SQLite ``DateTime`` stores it (UTC, no offset)."""
    require_aware(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
