"""Who makes a change: [`Actor`][acctstate.actors.Actor], a person or the system, with
permissions."""

from __future__ import annotations

import enum

import attrs

__all__ = ["SYSTEM", "Actor", "ActorKind"]


class ActorKind(enum.Enum):
    """Whether a change was made by a person or by automation."""

    PERSON = "person"
    SYSTEM = "system"


def _permissions(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset([value])
    return frozenset(str(v) for v in value)  # type: ignore[attr-defined]


@attrs.frozen
class Actor:
    """A person or a system process that fires triggers.

    Args:
        id: a stable identifier (user id, job name).
        kind: [`ActorKind`][acctstate.actors.ActorKind] (or its value); persons by default.
        permissions: the permissions held (e.g. "edit_account_status").

    >>> clerk = Actor("u-7", permissions={"edit_account_status"})
    >>> clerk.can("edit_account_status"), clerk.is_system
    (True, False)
    """

    id: str = attrs.field(validator=attrs.validators.instance_of(str))
    kind: ActorKind = attrs.field(default=ActorKind.PERSON, converter=ActorKind)
    permissions: frozenset[str] = attrs.field(default=frozenset(), converter=_permissions)

    def can(self, permission: str) -> bool:
        """Whether this actor holds ``permission``."""
        return permission in self.permissions

    @property
    def is_system(self) -> bool:
        """Whether this is an automatic (system) actor."""
        return self.kind is ActorKind.SYSTEM

    @classmethod
    def system(cls, id: str = "acctstate", *, permissions: frozenset[str] = frozenset()) -> Actor:
        """An automation actor (dunning runs, sweeps, scheduled changes)."""
        return cls(id, kind=ActorKind.SYSTEM, permissions=permissions)


SYSTEM = Actor.system()
"""The default system actor, used by automation when none is given."""
