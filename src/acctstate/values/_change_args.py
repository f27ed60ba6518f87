"""Checks of what a caller passes with a change (event data, actor, reason, note), made
before any guard is asked. Re-exported by ``acctstate.guards``; import them from there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from acctstate.values.actors import Actor
from acctstate.values.clock import billing_zone, require_aware
from acctstate.values.errors import InvalidArgument

__all__ = ["check_change_args", "check_event_data"]


def check_event_data(data: Mapping[str, Any], *, reserved: Iterable[str] = ()) -> None:
    """Refuse event data that guards and effect rules could misread.

    Float money and naive datetimes are refused, and so are keys in ``reserved``
    (names the caller gives a meaning of its own).

    Raises:
        InvalidArgument: naming the key and what was expected.

    >>> check_event_data({"balance": 1.5})
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid balance: got 1.5; expected a Decimal (float money is refused) or an int
    """
    taken = frozenset(reserved)
    for k, v in data.items():
        if k in taken:
            raise InvalidArgument(k, v, f"event data not named {', '.join(sorted(taken))}")
        if type(v) is float:
            raise InvalidArgument(k, v, "a Decimal (float money is refused) or an int")
        if isinstance(v, dt.datetime):
            if v.tzinfo is None or v.tzinfo.utcoffset(v) is None:
                raise InvalidArgument(k, v, "a timezone-aware datetime")
            require_aware(v, k)  # and one with a UTC equivalent
        if k == "timezone":
            billing_zone(v, k)


def check_change_args(actor: object, reason: object, note: object) -> None:
    """Refuse a wrongly typed actor, reason code or note (before anything is decided).

    Raises:
        InvalidArgument: naming the argument and what was expected.
    """
    if actor is not None and not isinstance(actor, Actor):
        raise InvalidArgument("actor", actor, "an acctstate.Actor or None")
    if reason is not None and type(reason) is not str:
        raise InvalidArgument("reason", reason, "a reason code (str) or None")
    if note is not None and type(note) is not str:
        raise InvalidArgument("note", note, "a str or None")
