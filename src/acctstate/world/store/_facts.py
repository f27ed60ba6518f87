"""A stored account as the workflow's rules see it: stored state, history and host facts.

The host's database is the source of truth for balances, time zones, currencies and
periods; a store reads them (a row of the host's ``facts``) when it plans and never
copies them. Money and time are never guessed: a rule that reads the account's
``timezone`` or ``currency`` when neither the facts nor the event data give one gets a
[`MissingFact`][acctstate.errors.MissingFact].
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from acctstate.values.errors import InvalidArgument, MissingFact
from acctstate.values.history import History
from acctstate.values.holds import Hold
from acctstate.world.store._types import StoredAccount

__all__ = ["STRICT_FACTS", "AccountView", "FactsSource", "memory_facts"]

STRICT_FACTS = frozenset({"currency", "timezone"})
"""Facts that are never defaulted: reading one that nobody gave is an error."""

# Stored state always wins over a host column of the same name.
_OWN = frozenset({"id", "status", "status_since", "version", "history", "holds"})

FactsSource = Mapping[str, Mapping[str, Any]] | Callable[[str], Mapping[str, Any] | None]
"""What a [`MemoryStore`][acctstate.store.memory.MemoryStore] takes as ``facts``: a mapping of
account id to its facts, or a callable returning an account's facts (or ``None``)."""


class AccountView:
    """One stored account for planning: its stored state and history, then its facts.

    Attributes are read in this order: the stored state (``id``, ``status``,
    ``status_since``, ``version``, ``history``, the standing ``holds``), then the
    host's facts. A strict fact
    (``timezone``, ``currency``) that the facts do not give reads as absent when the
    event data gives it (so the event data is used) and raises
    [`MissingFact`][acctstate.errors.MissingFact] otherwise.
    """

    __slots__ = (
        "_data",
        "_facts",
        "history",
        "holds",
        "id",
        "status",
        "status_since",
        "version",
    )

    def __init__(
        self,
        stored: StoredAccount,
        facts: Mapping[str, Any] | None,
        history: History | None,
        data: Mapping[str, Any],
        holds: Sequence[Hold] = (),
    ) -> None:
        self.id = stored.id
        self.holds = tuple(holds)
        self.status = stored.status
        self.status_since = stored.status_since
        self.version = stored.version
        self.history = history
        self._facts: Mapping[str, Any] = {} if facts is None else facts
        self._data = data

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not slots: the host's facts.
        if name.startswith("__"):
            raise AttributeError(name)
        facts = self._facts
        if name in facts and name not in _OWN:
            value = facts[name]
            if value is not None or name not in STRICT_FACTS:
                return value
        if name in STRICT_FACTS and name not in self._data:
            raise MissingFact(account_id=self.id, fact=name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"<AccountView {self.id!r} status={self.status} version={self.version}>"


def memory_facts(facts: object) -> Callable[[str], Mapping[str, Any] | None] | None:
    """``facts`` (a mapping or a callable, or ``None``) as a lookup by account id.

    Raises:
        InvalidArgument: ``facts`` is neither.
    """
    if facts is None:
        return None
    if isinstance(facts, Mapping):
        return lookup_checked(facts.get)
    if callable(facts):
        return lookup_checked(facts)
    raise InvalidArgument("facts", facts, "a mapping of account id to facts, a callable, or None")


def lookup_checked(
    lookup: Callable[[str], Any],
) -> Callable[[str], Mapping[str, Any] | None]:
    """``lookup`` refusing what is not a mapping (or ``None``) of facts."""

    def read(account_id: str) -> Mapping[str, Any] | None:
        found = lookup(account_id)
        if found is not None and not isinstance(found, Mapping):
            raise InvalidArgument(
                "facts", found, f"a mapping of facts (or None) for account {account_id!r}"
            )
        return found

    return read
