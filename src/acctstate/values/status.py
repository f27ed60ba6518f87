"""Account statuses: [`Status`][acctstate.status.Status] and the back-end classes every status maps
onto."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from acctstate.values._views import show_html
from acctstate.values.errors import InvalidArgument

__all__ = ["BACKEND_DEFAULTS", "Backend", "Status"]

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class Backend(enum.Enum):
    """The back-end class of a status: what the billing system does with the account.

    Every status, custom ones included, maps onto exactly one of these (EngageIP's
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


BACKEND_DEFAULTS: Mapping[Backend, Mapping[str, bool]] = MappingProxyType(
    {
        Backend.PROSPECT: MappingProxyType(
            {"provisioned": False, "billable": False, "terminal": False, "one_way": True}
        ),
        Backend.PENDING: MappingProxyType(
            {"provisioned": False, "billable": False, "terminal": False, "one_way": False}
        ),
        Backend.ACTIVE: MappingProxyType(
            {"provisioned": True, "billable": True, "terminal": False, "one_way": False}
        ),
        Backend.SUSPENDED: MappingProxyType(
            {"provisioned": False, "billable": False, "terminal": False, "one_way": False}
        ),
        Backend.CLOSED: MappingProxyType(
            {"provisioned": False, "billable": False, "terminal": False, "one_way": False}
        ),
    }
)
"""The behaviour a custom status inherits from its back-end class (see
[`Status.custom`][acctstate.status.Status.custom]).

Usage billing follows ``billable`` unless a status says otherwise. A prospect is
one-way (once left, never re-entered); nothing is terminal by default,
since EngageIP-style billing lets even a cancelled account be enabled again.
"""

_BEHAVIOUR = ("provisioned", "billable", "usage_billable", "terminal", "one_way")


def _snake_case(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _SNAKE.match(value):
        raise InvalidArgument(
            f"Status.{attribute.name}", value, "a snake_case name such as 'active_dunning_1'"
        )


def _strict_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"Status.{attribute.name}", value, "an int")


def _optional_positive_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidArgument(f"Status.{attribute.name}", value, "None or an int >= 1")


def _backend(value: object) -> Backend:
    if isinstance(value, Backend):
        return value
    try:
        return Backend(value)
    except ValueError:
        raise InvalidArgument(
            "Status.backend", value, f"one of {[b.value for b in Backend]}"
        ) from None


def _default_label(self: Status) -> str:
    return self.name.replace("_", " ").capitalize()


@attrs.frozen(repr=False)
class Status:
    """One account status: its numeric code, its name and what it means for billing.

    Args:
        code: the numeric code stored on the account (in the status-code table's scheme, negative
            codes are de-provisioned).
        name: unique snake_case name, used in code and files.
        backend: the back-end class ([`Backend`][acctstate.status.Backend] or its value).
        label: human label; defaults to the name in sentence case.
        description: one sentence on what the status means.
        provisioned: service is delivered.
        billable: recurring charges are invoiced.
        usage_billable: usage is billed (a suspended EngageIP account still bills usage).
        terminal: nothing ever leaves this status.
        one_way: once left, never entered again (prospect).
        dunning_step: position on the dunning ladder (1 = first step), or ``None``.
        icon: display icon (a name or URL).
        color: display colour (``#rrggbb`` or a CSS name).
        show_in_statistics: counted in account statistics.

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
            raise InvalidArgument("Status.usage_billable", self.usage_billable, "a bool or None")

    def __repr__(self) -> str:
        return f"<Status {self.code} {self.name!r} ({self.backend.value})>"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def _repr_html_(self) -> str:
        return show_html("status_html", self)

    @classmethod
    def custom(
        cls,
        code: int,
        name: str,
        *,
        backend: Backend | str | None = None,
        activates: bool | None = None,
        like: Status | None = None,
        **overrides: Any,
    ) -> Status:
        """A custom status that behaves like its back-end class unless told otherwise.

        Behaviour (provisioned, billable, usage billed, terminal, one-way) comes, in
        order of precedence, from ``overrides``, then ``activates``, then ``like``
        (another status, e.g. the catalog's own ``suspended``), then
        [`BACKEND_DEFAULTS`][acctstate.status.BACKEND_DEFAULTS]. Name, code, label, icon, colour and
        ``show_in_statistics`` are the custom status's own.

        Args:
            code: its numeric code.
            name: its snake_case name.
            backend: its back-end class; defaults to ``like``'s, else to ``active``
                when ``activates`` and ``suspended`` when not.
            activates: the Sonar-style flag: the status provisions the service and bills
                it (``True``) or neither (``False``).
            like: a status whose behaviour it copies.
            **overrides: any other [`Status`][acctstate.status.Status] field (``label``, ``icon``,
                ``color``, ``description``, ``terminal``, ``usage_billable`` ...).

        Raises:
            InvalidArgument: no back-end class can be told, or a field is invalid.

        >>> vacation = Status.custom(7, "vacation", backend="suspended", icon="plane",
        ...                          color="#6fa8dc")
        >>> vacation.provisioned, vacation.billable, vacation.backend
        (False, False, Backend.SUSPENDED)
        >>> Status.custom(5, "pending_install", activates=False, backend="pending").activates
        False
        >>> Status.custom(6, "business", activates=True).backend
        Backend.ACTIVE
        """
        if like is not None and not isinstance(like, Status):
            raise InvalidArgument("like", like, "a Status to copy behaviour from, or None")
        if activates is not None and not isinstance(activates, bool):
            raise InvalidArgument("activates", activates, "True, False or None")
        if backend is None:
            if like is not None:
                backend = like.backend
            elif activates is not None:
                backend = Backend.ACTIVE if activates else Backend.SUSPENDED
            else:
                raise InvalidArgument(
                    "backend", None, f"one of {[b.value for b in Backend]}, like= or activates="
                )
        bk = _backend(backend)
        flags: dict[str, Any] = dict(BACKEND_DEFAULTS[bk])
        flags["usage_billable"] = None
        if like is not None:
            flags.update({k: getattr(like, k) for k in _BEHAVIOUR})
        if activates is not None:
            flags.update(provisioned=activates, billable=activates, usage_billable=None)
        flags.update(overrides)
        return cls(code=code, name=name, backend=bk, **flags)

    @property
    def activates(self) -> bool:
        """The Sonar-style flag: the status provisions the service and bills it."""
        return self.provisioned and self.billable

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
