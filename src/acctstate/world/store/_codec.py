"""Shared by the stores: effects and actors as JSON, rebuilding changes, argument checks."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import attrs

from acctstate.operations.money.proration import Period
from acctstate.values.actors import Actor, ActorKind
from acctstate.values.clock import require_aware
from acctstate.values.effects import Effect
from acctstate.values.errors import ConcurrentChange, InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.values.holds import Hold

SCHEDULE_STATES = ("pending", "applied", "failed")


def utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC (the stores keep every instant in UTC)."""
    return value.astimezone(dt.UTC)


def _subclasses(cls: type[Effect]) -> Iterator[type[Effect]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def effect_type(kind: str) -> type[Effect]:
    """The effect class whose ``kind`` is ``kind`` (host subclasses included).

    When a module defining it was imported twice (under two names, or reloaded), the
    class defined last is the live one.
    """
    found: type[Effect] | None = None
    for sub in _subclasses(Effect):
        field = attrs.fields_dict(sub).get("kind") if "__attrs_attrs__" in vars(sub) else None
        if field is not None and field.default == kind:
            found = sub
    if found is None:
        raise InvalidArgument("kind", kind, "the kind of an Effect subclass that is imported")
    return found


def _encode(value: object, where: str) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"datetime": require_aware(value, where).isoformat()}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, where) for v in value]}
    if isinstance(value, Period):
        # A period is two instants; kept as UTC offsets, it names the same instants back.
        return {"period": [value.start.isoformat(), value.end.isoformat()]}
    raise InvalidArgument(
        where,
        value,
        "None, bool, int, str, Decimal, an aware datetime, a Period or a tuple of those",
    )


def _decode(value: object) -> object:
    if isinstance(value, dict):
        if "decimal" in value:
            return Decimal(value["decimal"])
        if "tuple" in value:
            return tuple(_decode(v) for v in value["tuple"])
        if "period" in value:
            start, end = value["period"]
            return Period(dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end))
        return dt.datetime.fromisoformat(value["datetime"])
    return value


def effect_payload(effect: Effect) -> str:
    """The effect's fields (but ``kind`` and ``key``) as canonical JSON.

    Raises:
        InvalidArgument: a field holds a value the store cannot keep exactly.
    """
    fields = {
        a.name: _encode(getattr(effect, a.name), f"{type(effect).__name__}.{a.name}")
        for a in attrs.fields(type(effect))
        if a.init and a.name != "key"
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def data_json(data: tuple[tuple[str, Any], ...]) -> str | None:
    """Event data pairs as canonical JSON (``None`` when empty)."""
    if not data:
        return None
    return json.dumps([[k, _encode(v, k)] for k, v in data], separators=(",", ":"))


def data_from(text: str | None) -> tuple[tuple[str, Any], ...]:
    """Event data pairs back from `data_json`."""
    if not text:
        return ()
    return tuple((k, _decode(v)) for k, v in json.loads(text))


def effect_from(kind: str, key: str, payload: str) -> Effect:
    """Rebuild an effect from its stored kind, key and payload."""
    fields = {k: _decode(v) for k, v in json.loads(payload).items()}
    return effect_type(kind)(key=key, **fields)


def actor_columns(actor: Actor | None) -> tuple[str | None, str | None, str | None]:
    """``(id, kind, permissions JSON)`` of an actor, or three ``None``."""
    if actor is None:
        return None, None, None
    return actor.id, actor.kind.value, json.dumps(sorted(actor.permissions))


def actor_from(actor_id: str | None, kind: str | None, permissions: str | None) -> Actor | None:
    """Rebuild an actor from its stored columns."""
    if actor_id is None:
        return None
    perms = frozenset(json.loads(permissions)) if permissions else frozenset()
    return Actor(actor_id, kind=ActorKind(kind or "person"), permissions=perms)


def hold_of(row: Any) -> Hold:
    """The hold of a holds row (the SQL store's table or the Django model's)."""
    return Hold(
        row.hold_id,
        row.type,
        row.kind,
        frozenset(row.blocks.split(",")),
        row.since,
        row.until,
        row.reason,
        actor_from(row.actor_id, row.actor_kind, row.actor_permissions),
        row.note,
    )


MAX_ID = 200
"""The longest account id (and actor id) every store keeps."""
MAX_NAME = 100
"""The longest reason code and trigger name every store keeps."""
MAX_KEY = 500
"""The longest scheduled-change id every store keeps."""


def _storable(value: str) -> bool:
    """Whether every backend can store ``value``: PostgreSQL refuses NUL characters, and
    no database takes a lone surrogate (it is not UTF-8)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_STORABLE = "without NUL characters or lone surrogates"


def check_text(value: object, name: str, *, limit: int | None = None) -> str | None:
    """``value`` if it is ``None`` or a ``str`` every store can keep (at most ``limit``
    characters, no NUL, no lone surrogate): the same limits on every backend.

    Raises:
        InvalidArgument: naming the limit broken.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(name, value, "a str or None")
    if limit is not None and len(value) > limit:
        raise InvalidArgument(name, value, f"a str of at most {limit} characters")
    if not _storable(value):
        raise InvalidArgument(name, value, f"a str {_STORABLE}")
    return value


def check_data(data: Mapping[str, Any]) -> None:
    """Refuse event data holding a str no store can keep (NUL, a lone surrogate), in
    names and in values (tuples included)."""

    def walk(where: str, value: object) -> None:
        if isinstance(value, str):
            if not _storable(value):
                raise InvalidArgument(where, value, f"a str {_STORABLE}")
        elif isinstance(value, tuple):
            for v in value:
                walk(where, v)

    for k, v in data.items():
        if not _storable(k):
            raise InvalidArgument("data", k, f"event data names {_STORABLE}")
        walk(k, v)


def check_id(value: object, name: str = "account_id", *, limit: int = MAX_ID) -> str:
    """``value`` if it is a non-empty ``str`` every store can keep (at most ``limit``
    characters, no NUL, no lone surrogate)."""
    if not isinstance(value, str) or not value:
        raise InvalidArgument(name, value, "a non-empty str")
    check_text(value, name, limit=limit)
    return value


def check_written(reason: object, note: object, actor: object, trigger: object = None) -> None:
    """Refuse a reason, note, actor id or trigger name that some store cannot keep."""
    check_text(reason, "reason", limit=MAX_NAME)
    check_text(note, "note")
    check_text(trigger, "trigger", limit=MAX_NAME)
    actor_id = getattr(actor, "id", None)
    if isinstance(actor_id, str):
        check_text(actor_id, "actor.id", limit=MAX_ID)


def check_version(account_id: str, version: int, expected: int | None) -> None:
    """Refuse a write made against a version the account is no longer at.

    Raises:
        ConcurrentChange: ``expected`` is given and differs from ``version``.
    """
    if expected is not None and version != expected:
        raise ConcurrentChange(
            account_id=account_id, expected_version=expected, actual_version=version
        )


def check_count(value: object, name: str, *, minimum: int = 1) -> int:
    """``value`` if it is an int of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidArgument(name, value, f"an int >= {minimum}")
    return value


def scheduled_id(account_id: str, trigger: str, at: dt.datetime) -> str:
    """The default id of a scheduled change: stable, so scheduling twice is harmless."""
    return f"{account_id}/{trigger}/{utc(at).isoformat()}"


def normalised(change: StatusChange) -> StatusChange:
    """The change with its instants in UTC, as a store gives it back."""
    recorded = change.recorded_at
    if change.at.tzinfo is dt.UTC and (recorded is None or recorded.tzinfo is dt.UTC):
        return change  # already in UTC: no copy
    return attrs.evolve(
        change,
        at=utc(change.at),
        recorded_at=None if recorded is None else utc(recorded),
    )


_LOST_RACE = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected


def lost_race(exc: BaseException) -> bool:
    """Whether a database error says this transaction lost a race to another one
    (PostgreSQL at ``REPEATABLE READ`` or ``SERIALIZABLE``, or a deadlock): trying
    again is the cure, so the store raises ``ConcurrentChange``."""
    orig = getattr(exc, "orig", None) or exc.__cause__  # SQLAlchemy's, or Django's
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in _LOST_RACE


def error_text(exc: BaseException) -> str:
    """``"ExceptionType: message"``."""
    return f"{type(exc).__name__}: {exc}"


def with_effects(change: StatusChange, effects: tuple[Effect, ...]) -> StatusChange:
    """``change`` carrying ``effects``."""
    return attrs.evolve(change, effects=effects)


def plan_kwargs(**values: Any) -> dict[str, Any]:
    """Drop ``None`` values (so a workflow's defaults apply)."""
    return {k: v for k, v in values.items() if v is not None}


def duplicate_key(account_id: str, trigger: str, at: dt.datetime, key: str) -> InvalidArgument:
    """The error for a change whose effect keys are already taken."""
    return InvalidArgument(
        "at",
        utc(at).isoformat(),
        f"a time at which {trigger!r} was not already fired on account {account_id!r} "
        f"(the effect key {key!r} is already in the outbox)",
    )


def unknown_account(account_id: object) -> InvalidArgument:
    """The error for an account id the store does not hold."""
    return InvalidArgument("account_id", account_id, "the id of an account in the store")
