"""Scopes, cascade rules, the entity tree and the scope errors (private).

A [`Scope`][acctstate.scopes.Scope] is a level (account, site, subscription) with its own
workflow; an [`Entity`][acctstate.scopes.Entity] is one account, site or subscription in
a tree; a [`Cascade`][acctstate.scopes.Cascade] or
[`HoldCascade`][acctstate.scopes.HoldCascade] is a declared rule that carries a change at
one level to the levels below (or, for a roll-up, above).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

from acctstate.core.workflow import Workflow
from acctstate.values.account import account_id_of
from acctstate.values.errors import AcctStateError, InvalidArgument
from acctstate.values.holds import CAPABILITIES

__all__ = [
    "EXEMPTIONS",
    "Cascade",
    "Entity",
    "Exemption",
    "HoldCascade",
    "Scope",
    "ScopeConflict",
    "UnknownEntity",
    "paid_ahead",
]

_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")

Exemption = Callable[[Any, dt.datetime], bool]
"""``(child, at) -> bool``: whether a rule spares this child (an account, site or
subscription object) at ``at``, unless the operator names the spared children."""


@attrs.frozen
class _PaidAhead:
    attr: str

    def __call__(self, child: Any, at: dt.datetime) -> bool:
        until = getattr(child, self.attr, None)
        return isinstance(until, dt.datetime) and until.astimezone(dt.UTC) > at.astimezone(dt.UTC)


def paid_ahead(*, attr: str = "period_end") -> Exemption:
    """An exemption: the child is paid beyond the change's time (its ``attr``, a
    timezone-aware datetime, is later), as an annual plan paid up front is.

    >>> import datetime as dt
    >>> from types import SimpleNamespace
    >>> at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    >>> paid_ahead()(SimpleNamespace(period_end=dt.datetime(2026, 12, 31, tzinfo=dt.UTC)), at)
    True
    >>> paid_ahead()(SimpleNamespace(period_end=None), at)
    False
    """
    if not isinstance(attr, str) or not attr:
        raise InvalidArgument("attr", attr, "an attribute name such as 'period_end'")
    return _PaidAhead(attr)


EXEMPTIONS: dict[str, Callable[..., Exemption]] = {"paid_ahead": paid_ahead}
"""Exemptions by name, for files (``exempt = "paid_ahead"``); hosts may add their own."""


def _snake(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _SNAKE.match(value):
        raise InvalidArgument(attribute.name, value, "a snake_case name such as 'site'")


def _names(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset([value])
    try:
        found = frozenset(value)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidArgument("statuses", value, "status names") from None
    if not found or not all(isinstance(v, str) for v in found):
        raise InvalidArgument("statuses", sorted(map(str, found)), "one or more status names")
    return frozenset(str(v) for v in found)


def _names_or_none(value: object) -> frozenset[str] | None:
    return None if value is None else _names(value)


def _workflow(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Workflow):
        raise InvalidArgument("Scope.workflow", value, "an acctstate.Workflow")


@attrs.frozen
class Scope:
    """A level of the entity tree, with its own workflow.

    Args:
        name: the level's snake_case name (``"account"``, ``"site"``, ``"subscription"``).
        workflow: the workflow its entities follow (a subscription's lifecycle may differ
            from the account's).
        parent: the level above (``None`` for the top level, exactly one).
    """

    name: str = attrs.field(validator=_snake)
    workflow: Workflow = attrs.field(validator=_workflow, eq=False)
    parent: str | None = attrs.field(default=None)

    @parent.validator
    def _parent(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            _snake(self, attribute, value)


@attrs.frozen
class Cascade:
    """A declared rule: an entity entering a status fires a trigger on entities of another
    level.

    Downward (``target`` below ``scope``): every entity of ``target`` below it whose status
    is in ``among`` is fired ``fire`` (for example "account cancelled: every open
    subscription cancelled"). Upward, a roll-up (``target`` above ``scope``): when every
    entity of ``scope`` below the ancestor of level ``target`` is in ``entering``, that
    ancestor is fired ``fire`` if its status has the transition.

    Args:
        scope: the level whose change starts the cascade.
        entering: the statuses (names) whose entry starts it.
        target: the level the cascade fires on.
        fire: the trigger fired on each target entity; the target's workflow must have it
            from every status in ``among``.
        among: the target statuses it applies to (default: every status with a ``fire``
            transition).
        strict: the parent's status then *forbids* ``among`` below it: nobody is spared
            and no child may fire back into those statuses while the parent stands there.
        exempt: ``(child, at) -> bool``, which children the rule spares unless the operator
            names the spared ones (not with ``strict``).
        reason: the reason code given to the cascaded changes.
        name: a label for messages and the change set (default: built from the rule).
    """

    scope: str = attrs.field(validator=_snake)
    entering: frozenset[str] = attrs.field(converter=_names)
    target: str = attrs.field(validator=_snake)
    fire: str = attrs.field(validator=_snake)
    among: frozenset[str] | None = attrs.field(default=None, converter=_names_or_none)
    strict: bool = False
    exempt: Exemption | None = attrs.field(default=None, eq=False)
    reason: str | None = None
    name: str = ""
    label: str = attrs.field(init=False, eq=False, repr=False)
    """The rule's name, or ``scope entering -> target fire``."""

    @label.default
    def _label(self) -> str:
        if self.name:
            return self.name
        entering = "|".join(sorted(self.entering))
        return f"{self.scope} {entering} -> {self.target} {self.fire}"


@attrs.frozen
class HoldCascade:
    """A declared rule: a hold placed on an entity of ``scope`` stands on every entity of
    ``target`` below it too, as an inherited hold placed and released with it.

    Args:
        scope: the level the hold is placed on.
        target: a level below it.
        types: the hold types carried down (default: every type both levels declare).
        blocks: carry only hold types blocking one of these capabilities (``"service"``:
            "an account hold on service blocks every subscription's service").
        exempt: ``(child, at) -> bool``, which children the rule spares unless the operator
            names the spared ones (a paid annual subscription keeps its service).
        name: a label for messages (default: built from the rule).
    """

    scope: str = attrs.field(validator=_snake)
    target: str = attrs.field(validator=_snake)
    types: frozenset[str] | None = attrs.field(default=None, converter=_names_or_none)
    blocks: frozenset[str] | None = attrs.field(default=None, converter=_names_or_none)
    exempt: Exemption | None = attrs.field(default=None, eq=False)
    name: str = ""
    label: str = attrs.field(init=False, eq=False, repr=False)
    """The rule's name, or ``scope hold -> target``."""

    @blocks.validator
    def _capabilities(self, _: attrs.Attribute[Any], value: frozenset[str] | None) -> None:
        if value is not None and not value <= set(CAPABILITIES):
            raise InvalidArgument(
                "HoldCascade.blocks", sorted(value), f"capabilities among {CAPABILITIES}"
            )

    @label.default
    def _label(self) -> str:
        return self.name or f"{self.scope} hold -> {self.target}"


def _children(value: Iterable[Entity]) -> tuple[Entity, ...]:
    found = tuple(value)
    for c in found:
        if not isinstance(c, Entity):
            raise InvalidArgument("Entity.children", c, "Entity values")
    return found


@attrs.frozen(eq=False)
class Entity:
    """One account, site or subscription in a tree, with the entities below it.

    The object (an ``Account`` or a host object) carries the status, holds and history;
    the tree only says who belongs to whom. Entities compare by identity, as the
    objects they hold change.

    Args:
        scope: the level's name.
        account: the object (``id``, status, optionally ``holds`` and ``history``).
        children: the entities one level below.
    """

    scope: str = attrs.field(validator=_snake)
    account: Any
    children: tuple[Entity, ...] = attrs.field(default=(), converter=_children)
    id: str = attrs.field(init=False)
    """The object's id, as text (read once, when the entity is made)."""

    @id.default
    def _id(self) -> str:
        return account_id_of(self.account)

    def walk(self) -> Iterator[Entity]:
        """This entity and every one below it, top down."""
        stack = [self]
        while stack:  # a stack, not nested generators: trees are walked on every fire
            e = stack.pop()
            yield e
            stack.extend(reversed(e.children))

    def below(self, scope: str) -> tuple[Entity, ...]:
        """The entities of level ``scope`` below this one (not itself), top down."""
        return tuple(e for c in self.children for e in c.walk() if e.scope == scope)

    def find(self, entity_id: object) -> Entity:
        """The entity with this id in the tree.

        Raises:
            UnknownEntity: no entity has it.
        """
        wanted = str(entity_id)
        for e in self.walk():
            if e.id == wanted:
                return e
        raise UnknownEntity(entity_id, known=[e.id for e in self.walk()])

    def path_to(self, entity_id: str) -> tuple[Entity, ...]:
        """The entities from this one down to ``entity_id``, both included (empty if absent)."""
        if self.id == entity_id:
            return (self,)
        for c in self.children:
            found = c.path_to(entity_id)
            if found:
                return (self, *found)
        return ()


class UnknownEntity(AcctStateError, LookupError):
    """No entity of the tree has this id.

    Attributes:
        entity_id: the id asked for.
        known: the ids the tree has.
    """

    def __init__(self, entity_id: object, *, known: Iterable[str] = ()) -> None:
        self.entity_id = entity_id
        self.known = tuple(sorted(known))
        super().__init__(
            f"no entity {entity_id!r} in the tree; known: {', '.join(map(repr, self.known))}"
        )


class ScopeConflict(AcctStateError):
    """A change would leave an entity in a status its parent's status forbids, or a
    cascaded change was refused; nothing changed.

    Attributes:
        entity_id: the entity whose change was asked for.
        problems: every reason, one sentence each.
        cause: the error that refused a cascaded change, if one did (also ``__cause__``).
    """

    def __init__(
        self, entity_id: str, problems: Iterable[str], *, cause: BaseException | None = None
    ) -> None:
        self.entity_id = entity_id
        self.problems = tuple(problems)
        self.cause = cause
        listed = "; ".join(self.problems)
        super().__init__(f"refused on {entity_id!r}, nothing changed: {listed}")


# Errors print under the path users import them from (``acctstate.scopes.ScopeConflict``
# in a traceback), not the private module that holds the code.
UnknownEntity.__module__ = ScopeConflict.__module__ = "acctstate.scopes"
