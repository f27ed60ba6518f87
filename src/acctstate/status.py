"""Account statuses: :class:`Status` and the back-end classes every status maps onto."""

from __future__ import annotations

import enum
import re
from typing import Any

import attrs

__all__ = ["Backend", "Status"]

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class Backend(enum.Enum):
    """The back-end class of a status: what the billing system does with the account.

    Every status, custom ones included, maps onto exactly one of these (seed 000's
    "back end status"). Statistics add statuses of the same class together.
    """

    PROSPECT = "prospect"
    """Not yet a customer: nothing is provisioned or billed."""
    PENDING = "pending"
    """On the way in (registration, installation, reinstatement): not yet in service."""
    ACTIVE = "active"
    """In service."""
    SUSPENDED = "suspended"
    """Temporarily out of service (non-payment, ban, inactive); may come back."""
    CLOSED = "closed"
    """Out of service for good (canceled, terminated, expired, archived)."""

    def __repr__(self) -> str:
        return f"Backend.{self.name}"


def _snake_case(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _SNAKE.match(value):
        from acctstate.errors import InvalidArgument

        raise InvalidArgument(
            f"Status.{attribute.name}", value, "a snake_case name such as 'active_dunning_1'"
        )


def _strict_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        from acctstate.errors import InvalidArgument

        raise InvalidArgument(f"Status.{attribute.name}", value, "an int")


def _optional_positive_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        from acctstate.errors import InvalidArgument

        raise InvalidArgument(f"Status.{attribute.name}", value, "None or an int >= 1")


def _backend(value: object) -> Backend:
    if isinstance(value, Backend):
        return value
    try:
        return Backend(value)
    except ValueError:
        from acctstate.errors import InvalidArgument

        raise InvalidArgument(
            "Status.backend", value, f"one of {[b.value for b in Backend]}"
        ) from None


def _default_label(self: Status) -> str:
    return self.name.replace("_", " ").capitalize()


@attrs.frozen(repr=False)
class Status:
    """One account status: its numeric code, its name and what it means for billing.

    Args:
        code: the numeric code stored on the account (seed 004's scheme: negative
            codes are de-provisioned).
        name: unique snake_case name, used in code and files.
        backend: the back-end class (:class:`Backend` or its value).
        label: human label; defaults to the name in sentence case.
        description: one sentence on what the status means.
        provisioned: service is delivered.
        billable: recurring charges are invoiced.
        usage_billable: usage is billed (seed 000: suspended accounts still bill usage).
        terminal: nothing ever leaves this status.
        one_way: once left, never entered again (prospect).
        dunning_step: position on the dunning ladder (1 = first step), or ``None``.
        icon: display icon (a name or URL).
        color: display colour (``#rrggbb`` or a CSS name).
        show_in_statistics: counted in account statistics (seed 000).

    >>> s = Status(code=1, name="active", backend="active", provisioned=True, billable=True)
    >>> s
    <Status 1 'active' (active)>
    >>> s.label
    'Active'
    """

    code: int = attrs.field(validator=_strict_int)
    name: str = attrs.field(validator=_snake_case)
    backend: Backend = attrs.field(converter=_backend)
    label: str = attrs.field(
        default=attrs.Factory(_default_label, takes_self=True),
        validator=attrs.validators.instance_of(str),
    )
    description: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    provisioned: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    billable: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    usage_billable: bool | None = attrs.field(default=None)
    terminal: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    one_way: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    dunning_step: int | None = attrs.field(default=None, validator=_optional_positive_int)
    icon: str | None = None
    color: str | None = None
    show_in_statistics: bool = attrs.field(
        default=True, validator=attrs.validators.instance_of(bool)
    )

    def __attrs_post_init__(self) -> None:
        # Usage follows recurring billing unless said otherwise; resolve it once so the
        # flag is always a plain bool.
        if self.usage_billable is None:
            object.__setattr__(self, "usage_billable", self.billable)
        elif not isinstance(self.usage_billable, bool):
            from acctstate.errors import InvalidArgument

            raise InvalidArgument("Status.usage_billable", self.usage_billable, "a bool or None")

    def __repr__(self) -> str:
        return f"<Status {self.code} {self.name!r} ({self.backend.value})>"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def is_dunning(self) -> bool:
        """Whether the status is a step of the dunning ladder."""
        return self.dunning_step is not None

    def evolve(self, **changes: Any) -> Status:
        """Return a copy with some fields changed (validated again).

        >>> Status(code=5, name="vacation", backend="suspended").evolve(label="On vacation").label
        'On vacation'
        """
        return attrs.evolve(self, **changes)
