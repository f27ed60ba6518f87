"""The [`Catalog`][acctstate.catalog.Catalog]: a workflow's statuses, ordered by code, looked up by
code or name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import overload

from acctstate.values.errors import DefinitionError, UnknownStatus, Violation
from acctstate.values.status import Backend, Status

__all__ = ["Catalog", "StatusRef"]

StatusRef = int | str | Status
"""Anything that names a status: its code, its name or the [`Status`][acctstate.status.Status]
itself."""


class Catalog:
    """An immutable, ordered set of statuses with lookup by code or by name.

    Args:
        statuses: the statuses; codes and names must be unique.

    Raises:
        DefinitionError: duplicate codes or names (all of them listed).

    >>> from acctstate.status import Status
    >>> cat = Catalog([Status(code=1, name="active", backend="active"),
    ...                Status(code=0, name="inactive", backend="suspended")])
    >>> [s.name for s in cat]
    ['inactive', 'active']
    >>> cat[1] is cat["active"]
    True
    >>> cat["activ"]
    Traceback (most recent call last):
    ...
    acctstate.errors.UnknownStatus: unknown status 'activ'; did you mean 'active', 'inactive'?
    """

    __slots__ = ("_by_code", "_by_name", "_ordered")

    def __init__(self, statuses: Iterable[Status]) -> None:
        ordered = sorted(statuses, key=lambda s: s.code)
        problems: list[Violation] = []
        by_code: dict[int, Status] = {}
        by_name: dict[str, Status] = {}
        for s in ordered:
            if not isinstance(s, Status):
                problems.append(Violation("type", f"{s!r} is not a Status"))
                continue
            if s.code in by_code:
                problems.append(
                    Violation(
                        "duplicate-code",
                        f"code {s.code} is used by {by_code[s.code].name!r} and {s.name!r}",
                    )
                )
            if s.name in by_name:
                problems.append(
                    Violation(
                        "duplicate-name",
                        f"name {s.name!r} is used by codes {by_name[s.name].code} and {s.code}",
                    )
                )
            by_code.setdefault(s.code, s)
            by_name.setdefault(s.name, s)
        if problems:
            raise DefinitionError(problems)
        self._ordered: tuple[Status, ...] = tuple(ordered)
        self._by_code = by_code
        self._by_name = by_name

    @overload
    def __getitem__(self, key: StatusRef) -> Status: ...
    @overload
    def __getitem__(self, key: object) -> Status: ...
    def __getitem__(self, key: object) -> Status:
        """Return the status with this code or name (a ``Status`` is checked and returned)."""
        if isinstance(key, Status):
            found = self._by_code.get(key.code)
            if found is None or found != key:
                raise UnknownStatus(key.name, known=self._by_name)
            return found
        if isinstance(key, bool):
            raise UnknownStatus(key)
        if isinstance(key, int):
            found = self._by_code.get(key)
        elif isinstance(key, str):
            found = self._by_name.get(key)
        else:
            found = None
        if found is None:
            raise UnknownStatus(key, known=self._by_name)
        return found

    def get(self, key: object, default: Status | None = None) -> Status | None:
        """Return the status with this code or name, or ``default`` when there is none."""
        try:
            return self[key]
        except UnknownStatus:
            return default

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __iter__(self) -> Iterator[Status]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Catalog) and self._ordered == other._ordered

    def __hash__(self) -> int:
        return hash(self._ordered)

    def __repr__(self) -> str:
        return f"<Catalog of {len(self)} statuses>"

    @property
    def codes(self) -> tuple[int, ...]:
        """Every code, ascending."""
        return tuple(s.code for s in self._ordered)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name, in code order."""
        return tuple(s.name for s in self._ordered)

    def by_backend(self, backend: Backend | str) -> tuple[Status, ...]:
        """The statuses of one back-end class, in code order."""
        b = Backend(backend)
        return tuple(s for s in self._ordered if s.backend is b)

    def extend(self, statuses: Iterable[Status]) -> Catalog:
        """Return a new catalog with more statuses; a status with an existing code
        replaces the old one (to relabel or restyle it), anything else is added.
        """
        merged = {s.code: s for s in self._ordered}
        for s in statuses:
            merged[s.code] = s
        return Catalog(merged.values())
