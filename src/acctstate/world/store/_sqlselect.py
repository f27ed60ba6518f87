"""The SQL store's selections in SQL: a [`Selection`][acctstate.batch.Selection]'s filters as
a ``WHERE`` clause over the accounts joined to the host's facts, the accounts read as the
rules see them, and the batch-update panel's counts in one ``GROUP BY`` (a part of
[`SqlStore`][acctstate.store.sql.SqlStore])."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from acctstate.operations.batch._select import Selection, SelectionCounts
from acctstate.values.errors import UnknownStatus
from acctstate.world.store._chunk import OWN
from acctstate.world.store._facts import AccountView
from acctstate.world.store._nightly import SqlNightly
from acctstate.world.store._schema import accounts
from acctstate.world.store._types import StoredAccount

__all__ = ["SqlSelect"]


class SqlSelect(SqlNightly):
    """Selections in SQL (see the module)."""

    __slots__ = ()

    def _fact(self, name: str) -> Any:
        facts = self._facts
        if facts is None or name in OWN or name not in facts.c:
            return None
        return facts.c[name]

    def _where(self, selection: Selection) -> list[Any]:
        """The selection's filters as SQL, predicates aside (``matcher``'s rules)."""
        wf = self._workflow
        clauses: list[Any] = []
        codes: set[int] | None = None
        if selection.statuses is not None:
            codes = {wf.catalog[s].code for s in selection.statuses}
        if selection.backends is not None:
            wanted = set(selection.backends)
            in_class = {s.code for s in wf.catalog if s.backend in wanted}
            codes = in_class if codes is None else codes & in_class
        if codes is not None:
            clauses.append(accounts.c.status.in_(sorted(codes)))
        for name, values in (
            ("account_class", selection.account_classes),
            ("batch_id", selection.batch_ids),
        ):
            if values is not None:
                col = self._fact(name)
                clauses.append(sa.false() if col is None else col.in_(sorted(set(values))))
        if selection.ids is not None:
            clauses.append(accounts.c.id.in_(sorted(set(selection.ids))))
        for name, r in (
            ("activated_at", selection.activated),
            ("expires_at", selection.expires),
            ("first_used_at", selection.first_used),
        ):
            if r is not None:
                col = self._fact(name)
                if col is None:
                    clauses.append(sa.false())
                    continue
                clauses.append(col.is_not(None))
                if r.start is not None:
                    clauses.append(col >= r.start)
                if r.end is not None:
                    clauses.append(col < r.end)
        if selection.started is not None:
            used = self._fact("first_used_at")
            if used is None:
                clauses.append(sa.false() if selection.started else sa.true())
            else:
                clauses.append(used.is_not(None) if selection.started else used.is_(None))
        return clauses

    def _source(self) -> tuple[Any, list[Any], list[str]]:
        """The accounts joined to the facts, the columns read, and the facts' names."""
        cols: list[Any] = [
            accounts.c.id,
            accounts.c.status,
            accounts.c.status_since,
            accounts.c.version,
        ]
        facts = self._facts
        if facts is None:
            return accounts, cols, []
        names = [col.key for col in facts.c if col.key not in OWN]
        cols += [facts.c[n].label(f"f_{i}") for i, n in enumerate(names)]
        source = accounts.outerjoin(facts, facts.c[self._facts_key] == accounts.c.id)
        return source, cols, names

    def _read_views(
        self,
        conn: sa.Connection,
        clauses: list[Any],
        after: str | None,
        limit: int | None,
        *,
        lock: bool = False,
    ) -> list[AccountView]:
        source, cols, names = self._source()
        query = (
            sa.select(*cols)
            .select_from(source)
            .where(self._mine(accounts), *clauses)
            .order_by(accounts.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        if after is not None:
            query = query.where(accounts.c.id > after)
        if lock and self._locking:
            query = query.with_for_update(of=accounts)
        out: list[AccountView] = []
        for row in conn.execute(query):
            facts = dict(zip(names, row[4:], strict=True)) if names else None
            out.append(AccountView(StoredAccount(*row[:4]), facts, None, {}))
        return out

    def _counts(
        self, conn: sa.Connection, clauses: list[Any], threshold: Decimal
    ) -> SelectionCounts:
        """Selected, started, depleted and per status, in one ``GROUP BY``."""
        source, _, _ = self._source()
        used = self._fact("first_used_at")
        funds = self._fact("funds")
        started: Any = sa.literal(0) if used is None else sa.case((used.is_not(None), 1), else_=0)
        depleted: Any = (
            sa.literal(0)
            if funds is None
            else sa.case(
                (sa.and_(funds.is_not(None), sa.or_(funds <= 0, funds < threshold)), 1), else_=0
            )
        )
        query = (
            sa.select(
                accounts.c.status,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(started), 0),
                sa.func.coalesce(sa.func.sum(depleted), 0),
            )
            .select_from(source)
            .where(self._mine(accounts), *clauses)
            .group_by(accounts.c.status)
        )
        tally: Counter[int] = Counter()
        n_started = n_depleted = 0
        catalog = self._workflow.catalog
        for code, n, s, d in conn.execute(query):
            if catalog.get(code) is None:
                raise UnknownStatus(code, known=catalog.names)
            tally[code] += int(n)
            n_started += int(s)
            n_depleted += int(d)
        statuses = self._workflow.statuses_for(sorted(tally))
        per_status = tuple((s.name, tally[s.code]) for s in statuses)
        return SelectionCounts(sum(tally.values()), n_started, n_depleted, per_status)
