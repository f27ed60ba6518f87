"""Account statistics: how many accounts are in each status and each back-end class.

The "Show in Account Statistics" setting of a status: a status appears in the statistics only when
its ``show_in_statistics`` flag is on, and statuses that share a back-end class are added
together under that class. The result is plain data (records and dicts) that a notebook
can put in a DataFrame and plot; nothing here imports pandas.

>>> from acctstate.presets import isp
>>> from acctstate.account import Account
>>> wf = isp.workflow()
>>> accounts = [Account(id=f"A-{i}", status=c) for i, c in enumerate([1, 1, 61, -1, 0])]
>>> stats = account_statistics(wf, accounts)
>>> stats.by_backend()
{'prospect': 0, 'pending': 0, 'active': 3, 'suspended': 2, 'closed': 0}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from acctstate.operations.scopes import Entity
from acctstate.values.catalog import Catalog, StatusRef
from acctstate.values.errors import InvalidArgument, UnknownStatus
from acctstate.values.status import Backend, Status

if TYPE_CHECKING:  # pragma: no cover - the workflow is only read through its catalog
    from acctstate.core.workflow import Workflow

__all__ = ["AccountStatistics", "BackendCount", "StatusCount", "account_statistics"]


@attrs.frozen
class StatusCount:
    """How many accounts are in one status.

    Attributes:
        status: the status.
        count: the number of accounts in it.
    """

    status: Status
    count: int

    def to_record(self) -> dict[str, Any]:
        """This row as a plain dict (``status``, ``code``, ``label``, ``backend``,
        ``count``, ``shown``, ``color``)."""
        s = self.status
        return {
            "status": s.name,
            "code": s.code,
            "label": s.label,
            "backend": s.backend.value,
            "count": self.count,
            "shown": s.show_in_statistics,
            "color": s.color,
        }


@attrs.frozen
class BackendCount:
    """How many accounts are in one back-end class, statuses added together.

    Attributes:
        backend: the back-end class.
        count: the sum over its statuses that are shown in statistics.
        statuses: the names of the statuses added together, in code order.
    """

    backend: Backend
    count: int
    statuses: tuple[str, ...]

    def to_record(self) -> dict[str, Any]:
        """This row as a plain dict (``backend``, ``count``, ``statuses``)."""
        return {
            "backend": self.backend.value,
            "count": self.count,
            "statuses": list(self.statuses),
        }


@attrs.frozen
class AccountStatistics:
    """Counts of a set of accounts per status and per back-end class.

    Build it with [`account_statistics`][acctstate.stats.account_statistics].

    Attributes:
        statuses: one row per status in code order, zero counts included; only the
            statuses shown in statistics unless ``include_hidden`` was asked for.
        backends: one row per back-end class (in [`Backend`][acctstate.status.Backend] order) that
            has at least one status shown in statistics; hidden statuses never add to it.
        total: every account counted, shown or not.
        hidden: the accounts whose status is not shown in statistics.
        active: the accounts shown in statistics that the ``active=`` rule calls active
            (an account with any active subscription, say); ``None`` when no rule was
            given.
    """

    statuses: tuple[StatusCount, ...]
    backends: tuple[BackendCount, ...]
    total: int
    hidden: int
    active: int | None = None

    def count(self, status: StatusRef) -> int:
        """The count of one status (by code, name or ``Status``).

        Raises:
            UnknownStatus: the status is not one of the rows.
        """
        for row in self.statuses:
            s = row.status
            if status == s.code or status == s.name or status == s:
                return row.count
        raise UnknownStatus(status, known=[r.status.name for r in self.statuses])

    @property
    def shown(self) -> int:
        """The accounts counted in the statistics (``total - hidden``)."""
        return self.total - self.hidden

    def by_status(self) -> dict[str, int]:
        """``{status name: count}`` in code order."""
        return {r.status.name: r.count for r in self.statuses}

    def by_backend(self) -> dict[str, int]:
        """``{back-end class: count}`` in [`Backend`][acctstate.status.Backend] order (statuses
        added together)."""
        return {r.backend.value: r.count for r in self.backends}

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per status row, ready for ``pandas.DataFrame(...)``.

        >>> from acctstate.presets import isp
        >>> from acctstate.account import Account
        >>> s = account_statistics(isp.workflow(), [Account(id="A", status=1)])
        >>> [r for r in s.to_records() if r["count"]]
        [{'status': 'active', 'code': 1, 'label': 'Active', 'backend': 'active', 'count': 1, 'shown': True, 'color': None}]
        """
        return [r.to_record() for r in self.statuses]

    def backend_records(self) -> list[dict[str, Any]]:
        """One plain dict per back-end class row."""
        return [r.to_record() for r in self.backends]

    def to_dict(self) -> dict[str, Any]:
        """Everything as one JSON-ready dict: ``total``, ``shown``, ``hidden``,
        ``by_status`` and ``by_backend`` (and ``active`` when an ``active=`` rule counted
        it)."""
        out: dict[str, Any] = {
            "total": self.total,
            "shown": self.shown,
            "hidden": self.hidden,
            "by_status": self.by_status(),
            "by_backend": self.by_backend(),
        }
        if self.active is not None:
            out["active"] = self.active
        return out

    def __str__(self) -> str:
        width = max([len(r.backend.value) for r in self.backends] + [len("total")])
        lines = [f"{r.backend.value:<{width}}  {r.count:>7}" for r in self.backends]
        lines.append(f"{'total':<{width}}  {self.shown:>7}")
        return "\n".join(lines)


def account_statistics(
    source: Workflow | Catalog,
    accounts: Iterable[Any],
    *,
    status_attr: str | None = None,
    include_hidden: bool = False,
    active: Callable[[Any], bool] | None = None,
) -> AccountStatistics:
    """Count ``accounts`` per status and per back-end class.

    Args:
        source: a workflow or a catalog (its statuses and flags are used).
        accounts: any iterable of accounts or host objects, or of customer trees
            ([`Entity`][acctstate.scopes.Entity] values: the top entity's object is counted).
        status_attr: the attribute holding the status code (default: the workflow's,
            or ``"status"`` for a catalog).
        include_hidden: also list the statuses not shown in statistics (their rows
            still never add to the back-end classes).
        active: a rule ``(account or tree) -> bool`` saying which accounts count as
            active, such as [`Scopes.is_active`][acctstate.scopes.Scopes.is_active] (an
            account is active while any subscription below it is); the result's
            ``active`` counts those shown in statistics.

    Returns:
        An [`AccountStatistics`][acctstate.stats.AccountStatistics].

    Raises:
        UnknownStatus: an account's status code is not in the catalog (a count that
            silently dropped it would be wrong).
        InvalidArgument: ``source`` is neither a workflow nor a catalog, or ``active``
            is not callable.

    >>> from acctstate.presets import isp
    >>> from acctstate.account import Account
    >>> wf = isp.workflow()
    >>> hidden = wf.extend(statuses=[wf.catalog["permanent"].evolve(show_in_statistics=False)])
    >>> s = account_statistics(hidden, [Account(id="A", status=1), Account(id="B", status=99)])
    >>> s.by_backend()["active"], s.total, s.hidden
    (1, 2, 1)
    """
    catalog = getattr(source, "catalog", source)
    if not isinstance(catalog, Catalog):
        raise InvalidArgument("source", source, "a Workflow or a Catalog")
    attr = status_attr or str(getattr(source, "status_attr", "status"))
    lit: Counter[Any] = Counter()
    if active is None:
        tally: Counter[Any] = Counter(getattr(_counted(a), attr) for a in accounts)
    elif not callable(active):
        raise InvalidArgument("active", active, "a rule (account) -> bool, or None")
    else:
        tally = Counter()
        for a in accounts:
            code = getattr(_counted(a), attr)
            tally[code] += 1
            if active(a):
                lit[code] += 1
    by_code = {s.code: s for s in catalog}
    for code in tally:
        if type(code) is not int or code not in by_code:
            raise UnknownStatus(code, known=catalog.names)
    rows = tuple(
        StatusCount(s, tally.get(s.code, 0))
        for s in catalog
        if include_hidden or s.show_in_statistics
    )
    backends: list[BackendCount] = []
    for b in Backend:
        members = [s for s in catalog.by_backend(b) if s.show_in_statistics]
        if members:
            backends.append(
                BackendCount(
                    b, sum(tally.get(s.code, 0) for s in members), tuple(s.name for s in members)
                )
            )
    total = sum(tally.values())
    hidden = sum(n for code, n in tally.items() if not by_code[code].show_in_statistics)
    shown_active = None
    if active is not None:
        shown_active = sum(n for code, n in lit.items() if by_code[code].show_in_statistics)
    return AccountStatistics(rows, tuple(backends), total, hidden, shown_active)


def _counted(item: Any) -> Any:
    """The object whose status counts: a customer tree's top entity's, or the item."""
    return item.account if isinstance(item, Entity) else item
