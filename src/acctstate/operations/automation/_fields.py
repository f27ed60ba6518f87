"""The field checks shared by the automation settings (counts, amounts, names)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from acctstate.values.errors import InvalidArgument

__all__: list[str] = []


def _count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgument(attribute.name, value, "a non-negative int")


def _count_or_none(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _count(inst, attribute, value)


def _amount(value: object) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidArgument("amount", value, "a finite Decimal (float money is refused)")
    if value < 0:
        raise InvalidArgument("amount", value, "a non-negative amount")
    return value


def _trigger(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str:
        raise InvalidArgument(attribute.name, value, "a trigger name (str)")


def _trigger_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgument(attribute.name, value, "a trigger name (str) or None")


def _status_ref(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgument(attribute.name, value, "a status code or name")


def _instance_of(kind: type | tuple[type, ...], expected: str) -> Callable[..., None]:
    """An attrs validator like ``attrs.validators.instance_of`` that raises
    ``InvalidArgument`` (attrs' own raises a bare ``TypeError``)."""

    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind) or (kind is bool and type(value) is not bool):
            raise InvalidArgument(attribute.name, value, expected)

    return check


def _text_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and type(value) is not str:
        raise InvalidArgument(attribute.name, value, "a str or None")
