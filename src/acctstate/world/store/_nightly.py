"""The SQL store's nightly run: automation read as columns and written set-based.

A chunk of accounts (status, version and the host's facts) is read in one query, planned
by the column-wise sweep, and each changed account's steps are planned again by the
workflow (guards, effects and keys exactly as ``fire``). The chunk is then written in
one transaction: one compare-and-set ``UPDATE`` over all its changed rows, each checked
against the version that was read, and multi-row inserts of the history and outbox rows
of the rows that won. Rows that lost a race, or that the sweep could not plan, are
planned again one by one, each in a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from acctstate.operations.automation import AutomationPolicy, sweep_columns
from acctstate.operations.automation._book import DATE_COLUMNS, _minor, _ns, _numpy
from acctstate.operations.automation._rules import plan_one
from acctstate.values.clock import require_aware
from acctstate.values.effects import Effect
from acctstate.values.errors import AcctStateError, ConcurrentChange
from acctstate.values.history import History, StatusChange
from acctstate.world.store._automation import Hop, Policies, Tally, check_progress, plan_hops
from acctstate.world.store._codec import (
    check_count,
    duplicate_key,
    effect_payload,
    error_text,
    unknown_account,
)
from acctstate.world.store._facts import AccountView
from acctstate.world.store._nightly_holds import SqlNightlyHolds
from acctstate.world.store._partition import check_partition, in_partition
from acctstate.world.store._schema import UtcDateTime, accounts, history, outbox
from acctstate.world.store._sqlengine import (
    CAS,
    INSERT_HISTORY,
    INSERT_OUTBOX,
    LOAD,
    TAKEN,
    account_of,
    history_row,
    outbox_rows,
)
from acctstate.world.store._types import Progress, RunReport, StoredAccount

__all__ = ["SqlNightly"]

# Stored state wins over a host column of the same name.
_OWN = frozenset({"id", "status", "status_since", "version", "history"})
# Bound parameters per statement stay well under SQLite's and PostgreSQL's limits.
_IN_BATCH = 1000


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_FIXED: dict[type[Effect], str | None] = {}


def _payload(effect: Effect) -> str:
    """``effect_payload(effect)``, computed once per type for effects without fields."""
    kind = type(effect)
    fixed = _FIXED.get(kind, "")
    if fixed == "":
        fields = [a for a in attrs.fields(kind) if a.init and a.name != "key"]
        fixed = _FIXED[kind] = None if fields else effect_payload(effect)
    return effect_payload(effect) if fixed is None else fixed


class _Write:
    """The rows one chunk writes: the compare-and-set updates, history and outbox."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.hops: dict[str, Sequence[Hop]] = {}
        self.holds: list[dict[str, Any]] = []  # hold rows placed
        self.releases: list[dict[str, Any]] = []  # hold rows released

    def add(
        self,
        stored: StoredAccount,
        hops: Sequence[Hop],
        changes: list[StatusChange],
        created: dt.datetime,
    ) -> None:
        version = stored.version
        for change in changes:
            version += 1
            self.history.append(history_row(change, version))
            if change.effects:
                payloads = [_payload(e) for e in change.effects]
                self.outbox.extend(outbox_rows(change, version, payloads, created))
        last = changes[-1]
        self.updates.append(
            {
                "b_id": stored.id,
                "b_version": stored.version,
                "status": last.dest.code,
                "status_since": last.at,
                "version": version,
            }
        )
        self.hops[stored.id] = hops


class SqlNightly(SqlNightlyHolds):
    """The nightly run (a part of [`SqlStore`][acctstate.store.sql.SqlStore])."""

    __slots__ = ()

    def run_automation(
        self,
        policy: AutomationPolicy | Sequence[AutomationPolicy],
        *,
        now: dt.datetime,
        chunk: int = 10_000,
        connection: sa.Connection | None = None,
        progress: Progress | None = None,
        partition: tuple[int, int] | None = None,
    ) -> RunReport:
        """Run the automation's rules over every stored account, set-based, in id order.

        Each chunk of ``chunk`` accounts is read as columns (status, version and the
        host's facts), planned with the column-wise sweep, and written in one
        transaction: one compare-and-set ``UPDATE`` over its changed rows, each checked
        against the version read, then the history and outbox rows in multi-row
        inserts. The rows written are those ``fire`` writes for the same changes (each
        step is planned again by the workflow: guards, effects, keys). An account that
        another writer changed in between is planned again on its own; running again
        at the same ``now`` changes nothing more. Memory is bounded by the chunk.

        Args:
            policy: one policy, or one per account class (on the store's workflow).
            now: the instant of the run (timezone-aware); every change is effective then.
            chunk: accounts read and written per transaction.
            connection: run inside this connection's transaction (the caller commits).
            progress: called with ``(done, total)`` after each chunk.
            partition: ``(index, count)``: run over that partition of the accounts only
                (a hash of the id, computed in SQL; see
                [`run_partitioned`][acctstate.distributed.run_partitioned]). The ``count``
                partitions are disjoint and together hold every account, so runs over
                all of them, in any order or at once, write what one run writes.

        Returns:
            A [`RunReport`][acctstate.store.RunReport].

        Raises:
            InvalidArgument: a naive ``now``, a bad ``chunk``, ``progress`` or
                ``partition``, or a policy on another workflow.
        """
        require_aware(now, "now")
        check_count(chunk, "chunk")
        report = check_progress(progress)
        part = check_partition(partition)
        policies = Policies(self._workflow, policy)
        tally = Tally(now)
        total = 0
        if report is not None:
            with self._tx(connection) as conn:
                counting = sa.select(sa.func.count()).select_from(accounts)
                if part is not None:
                    counting = counting.where(in_partition(conn, accounts.c.id, part))
                total = conn.execute(counting).scalar_one()
        cursor: str | None = None
        while True:
            one_by_one: list[str] = []
            write = _Write()
            rows: list[tuple[StoredAccount, dict[str, Any] | None]] = []
            try:
                with self._tx(connection) as conn:
                    rows = self._read_chunk(conn, cursor, chunk, part)
                    if not rows:
                        break
                    write = self._plan_chunk(conn, rows, policies, now, tally, one_by_one)
                    lost = self._write_chunk(conn, write, check_keys=connection is not None)
            except sa.exc.IntegrityError:
                # A step's effect key is already in the outbox (the whole chunk rolled
                # back): plan every changed account alone to say which, and go on.
                lost = set(write.hops)
            tally.chunks += 1
            tally.examined += len(rows)
            for account_id, hops in write.hops.items():
                if account_id not in lost:
                    tally.made(hops)
            tally.retried += len(lost)
            for account_id in sorted({*one_by_one, *lost}):
                try:
                    self._automate_alone(policies, account_id, now, tally, connection)
                except AcctStateError as exc:
                    tally.failed.append((account_id, error_text(exc)))
            cursor = rows[-1][0].id
            if report is not None:
                report(tally.examined, total)
            if len(rows) < chunk:
                break
        return tally.report()

    # -- reading ---------------------------------------------------------------------

    def _read_chunk(
        self,
        conn: sa.Connection,
        after: str | None,
        limit: int,
        partition: tuple[int, int] | None = None,
    ) -> list[tuple[StoredAccount, dict[str, Any] | None]]:
        cols: list[Any] = [
            accounts.c.id,
            accounts.c.status,
            accounts.c.status_since,
            accounts.c.version,
        ]
        source: Any = accounts
        names: list[str] = []
        facts = self._facts
        if facts is not None:
            names = [col.key for col in facts.c if col.key not in _OWN]
            cols += [facts.c[n].label(f"f_{i}") for i, n in enumerate(names)]
            source = accounts.outerjoin(facts, facts.c[self._facts_key] == accounts.c.id)
        query = sa.select(*cols).select_from(source).order_by(accounts.c.id).limit(limit)
        if after is not None:
            query = query.where(accounts.c.id > after)
        if partition is not None:
            query = query.where(in_partition(conn, accounts.c.id, partition))
        found = conn.execute(query).all()
        if not names:
            return [(StoredAccount(*row), None) for row in found]
        return [(StoredAccount(*row[:4]), dict(zip(names, row[4:], strict=True))) for row in found]

    def _histories(self, conn: sa.Connection, read: dict[str, int]) -> dict[str, History]:
        """The histories of accounts up to the versions read (``id -> version``)."""
        ids = sorted(read)
        found: dict[str, list[StatusChange]] = {i: [] for i in ids}
        query = (
            sa.select(history)
            .where(history.c.account_id.in_(sa.bindparam("ids", expanding=True)))
            .order_by(history.c.account_id, history.c.version)
        )
        for part in _batches(ids, _IN_BATCH):
            for row in conn.execute(query, {"ids": list(part)}):
                if row.version <= read[row.account_id]:
                    found[row.account_id].append(self._change(row, ())[1])
        return {i: History(changes) for i, changes in found.items()}

    # -- planning --------------------------------------------------------------------

    def _plan_chunk(
        self,
        conn: sa.Connection,
        rows: list[tuple[StoredAccount, dict[str, Any] | None]],
        policies: Policies,
        now: dt.datetime,
        tally: Tally,
        one_by_one: list[str],
    ) -> _Write:
        # The time zone is a strict fact: the column-wise sweep would read a missing one
        # as UTC, so those rows take the per-account path, which refuses with MissingFact
        # when a rule needs the zone, exactly as ``fire`` and the memory store do.
        unzoned = [r for r in rows if r[1] is None or r[1].get("timezone") is None]
        if unzoned and self._workflow.default_timezone is None:  # else the sweep reads it
            one_by_one.extend(stored.id for stored, _ in unzoned)
            rows = [r for r in rows if r[1] is not None and r[1].get("timezone") is not None]
            if not rows:
                return _Write()
        views = [AccountView(stored, facts, None, {}) for stored, facts in rows]
        held_cols = self._chunk_holds(conn, rows)
        holds = None if held_cols is None else held_cols[1]
        out = sweep_columns(_book(rows), policies.given, now=now, holds=holds)
        held = set() if held_cols is None else self._held_rows(out, held_cols[0], rows)
        tally.blocked += len(set(out.blocked_row.tolist()))
        one_by_one.extend(rows[i][0].id for i in out.error_row.tolist())
        decisions = out.decisions()
        changed = sorted(set(decisions) - held)
        needs = {
            rows[i][0].id: rows[i][0].version
            for i in changed
            if any(t in policies.reads_history for _, t, _, _ in decisions[i])
        }
        past = self._histories(conn, needs) if needs else {}
        write = _Write()
        created = self._workflow.clock.now()
        wf = self._workflow
        for i in changed:
            stored, facts = rows[i]
            hops = [(rule, trigger, src, dst) for rule, trigger, src, dst in decisions[i]]
            c = policies.pick(views[i])
            if c is None:  # pragma: no cover - the sweep plans only accounts with a policy
                continue
            try:
                changes = plan_hops(wf, c, stored, facts, past.get(stored.id), hops, now)
            except AcctStateError:
                one_by_one.append(stored.id)
                continue
            write.add(stored, hops, changes, created)
        if held and held_cols is not None:  # hold changes, or status steps under holds
            found = held_cols[0]
            self._plan_held(conn, rows, views, held, found, out, policies, now, write, one_by_one)
        return write

    # -- writing ---------------------------------------------------------------------

    def _write_chunk(self, conn: sa.Connection, write: _Write, *, check_keys: bool) -> set[str]:
        """Write the chunk; the ids whose compare-and-set lost (nothing written for them)."""
        if not write.updates:
            return set()
        clashed: set[str] = set()
        if check_keys:
            # In the caller's transaction an error must come before any write: leave
            # the accounts whose keys are taken to the one-by-one path.
            owner = {r["key"]: r["account_id"] for r in write.outbox}
            for part in _batches(list(owner), _IN_BATCH):
                taken = conn.execute(TAKEN, {"keys": list(part)}).scalars()
                clashed.update(owner[k] for k in taken)
            if clashed:
                self._without(write, clashed)
        won = self._compare_and_set(conn, write.updates) if write.updates else set()
        lost = {u["b_id"] for u in write.updates} - won
        if lost:
            self._without(write, lost)
        self._insert(conn, history, write.history)
        self._insert(conn, outbox, write.outbox)
        self._write_holds(conn, write.holds, write.releases)
        return lost | clashed

    @staticmethod
    def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """A multi-row insert of ``rows`` (all with the same keys)."""
        if not rows:
            return
        names = list(rows[0])
        translate = conn.get_execution_options().get("schema_translate_map") or {}
        if (
            conn.dialect.name == "postgresql"
            and conn.dialect.driver == "psycopg"
            and not conn.dialect.is_async  # the async store: a multi-row insert below
        ):
            # COPY: the rows stream in one command, in the chunk's transaction.
            quote = conn.dialect.identifier_preparer.quote
            schema = translate.get(table.schema, table.schema)
            target = ".".join(quote(x) for x in ([schema] if schema else []) + [table.name])
            columns = ", ".join(quote(n) for n in names)
            driver = conn.connection.driver_connection
            command = f"COPY {target} ({columns}) FROM STDIN"
            try:
                with driver.cursor() as cursor, cursor.copy(command) as copy:  # type: ignore[union-attr]
                    for row in rows:
                        copy.write_row(tuple(row[n] for n in names))
            except conn.dialect.dbapi.IntegrityError as exc:  # type: ignore[union-attr]
                # The driver's own cursor: wrap its error as SQLAlchemy would, so a
                # taken effect key is handled as on every other backend.
                raise sa.exc.IntegrityError(command, None, exc) from exc
            return
        if conn.dialect.name != "sqlite" or translate:
            conn.execute(table.insert(), rows)
            return
        # SQLite runs in process: what costs is building each row's parameters, so hand
        # the driver plain tuples, instants as the UTC text the store's columns keep.
        sql = str(table.insert().compile(dialect=conn.dialect, column_keys=names))
        conn.exec_driver_sql(sql, _sqlite_rows(table, names, rows))

    @staticmethod
    def _without(write: _Write, lost: set[str]) -> None:
        write.updates = [u for u in write.updates if u["b_id"] not in lost]
        write.history = [r for r in write.history if r["account_id"] not in lost]
        write.outbox = [r for r in write.outbox if r["account_id"] not in lost]
        write.holds = [r for r in write.holds if r["account_id"] not in lost]
        write.releases = [r for r in write.releases if r["b_account"] not in lost]

    def _compare_and_set(self, conn: sa.Connection, updates: list[dict[str, Any]]) -> set[str]:
        """Update each row still at the version read; the ids updated."""
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql as pg

            def column(name: str, kind: Any) -> Any:
                return sa.func.unnest(sa.bindparam(name, type_=pg.ARRAY(kind)))

            v = sa.select(
                column("ids", sa.String).label("id"),
                column("olds", sa.Integer).label("old"),
                column("codes", sa.Integer).label("status"),
                column("sinces", sa.DateTime(timezone=True)).label("since"),
                column("news", sa.Integer).label("new"),
            ).subquery("v")
            stmt = (
                accounts.update()
                .where(accounts.c.id == v.c.id, accounts.c.version == v.c.old)
                .values(status=v.c.status, status_since=v.c.since, version=v.c.new)
                .returning(accounts.c.id)
            )
            won: set[str] = set()
            for part in _batches(updates, 10_000):
                params = {
                    "ids": [u["b_id"] for u in part],
                    "olds": [u["b_version"] for u in part],
                    "codes": [u["status"] for u in part],
                    "sinces": [u["status_since"] for u in part],
                    "news": [u["version"] for u in part],
                }
                won.update(conn.execute(stmt, params).scalars())
            return won
        # Elsewhere (SQLite: the chunk's transaction holds the write lock from its first
        # read, so no other writer can come between) one statement run for every row.
        if conn.dialect.name == "sqlite" and not conn.get_execution_options().get(
            "schema_translate_map"
        ):
            sql = str(CAS.compile(dialect=conn.dialect))
            names = ["status", "status_since", "version", "b_id", "b_version"]
            done = conn.exec_driver_sql(sql, _sqlite_rows(accounts, names, updates)).rowcount
        else:
            done = conn.execute(CAS, updates).rowcount
        if done == len(updates):
            return {u["b_id"] for u in updates}
        now = {
            r.id: r.version
            for part in _batches([u["b_id"] for u in updates], _IN_BATCH)
            for r in conn.execute(
                sa.select(accounts.c.id, accounts.c.version).where(accounts.c.id.in_(list(part)))
            )
        }
        return {u["b_id"] for u in updates if now.get(u["b_id"]) == u["version"]}

    # -- one account at a time -------------------------------------------------------

    def _automate_alone(
        self,
        policies: Policies,
        account_id: str,
        now: dt.datetime,
        tally: Tally,
        connection: sa.Connection | None,
    ) -> None:
        """Plan and write one account's steps in a transaction of its own."""
        if self._workflow.hold_types:
            return self._automate_held(policies, account_id, now, tally, connection)
        with self._tx(connection) as conn:
            row = conn.execute(LOAD, {"id": account_id}).first()
            if row is None:
                raise unknown_account(account_id)
            stored = account_of(row)
            facts = self._facts_of(conn, account_id)
            view = AccountView(stored, facts, None, {})
            c = policies.pick(view)
            if c is None:
                return
            planned = plan_one(c, view, now)
            if planned is None:
                return
            hops, blocked = planned
            if blocked:
                tally.blocked += 1
            if not hops:
                return
            changes = plan_hops(
                self._workflow, c, stored, facts, self._past(conn, stored), hops, now
            )
            write = _Write()
            write.add(stored, hops, changes, self._workflow.clock.now())
            keys = [r["key"] for r in write.outbox]
            if keys:
                taken = conn.execute(TAKEN, {"keys": keys}).scalars().first()
                if taken is not None:
                    raise duplicate_key(account_id, changes[0].trigger, now, taken)
            (update,) = write.updates
            if conn.execute(CAS, update).rowcount != 1:
                raise ConcurrentChange(
                    account_id=account_id, expected_version=stored.version, actual_version=None
                )
            conn.execute(INSERT_HISTORY, write.history)
            if write.outbox:
                conn.execute(INSERT_OUTBOX, write.outbox)
            tally.made(hops)


def _sqlite_rows(
    table: sa.Table, names: list[str], rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """``rows`` as the driver's tuples in ``names`` order, instants as stored text."""
    stamps = {
        i for i, n in enumerate(names) if n in table.c and isinstance(table.c[n].type, UtcDateTime)
    }
    seen: dict[dt.datetime, str] = {}  # a chunk's rows share a few instants

    def stamp(value: Any) -> Any:
        if value is None:
            return None
        text = seen.get(value)
        if text is None:
            text = seen[value] = _sqlite_stamp(value)
        return text

    return [
        tuple(stamp(row[n]) if i in stamps else row[n] for i, n in enumerate(names)) for row in rows
    ]


def _sqlite_stamp(value: dt.datetime) -> str:
    """An instant as SQLAlchemy's SQLite ``DateTime`` stores it (UTC, no offset)."""
    require_aware(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _book(rows: list[tuple[StoredAccount, dict[str, Any] | None]]) -> dict[str, Any]:
    """The chunk as the columns the sweep reads, as ``columns_from_accounts`` makes them
    from the same accounts (read straight from the rows, without an object per row)."""
    np = _numpy()
    n = len(rows)
    facts = [{} if f is None else f for _, f in rows]
    names = {k for f in facts for k in f}

    def column(name: str) -> list[Any]:
        return [f.get(name) for f in facts]

    def objects(values: list[Any]) -> Any:
        out = np.empty(n, dtype=object)
        out[:] = values
        return out

    book: dict[str, Any] = {
        "id": objects([stored.id for stored, _ in rows]),
        "status": np.fromiter((stored.status for stored, _ in rows), dtype=np.int64, count=n),
    }
    book["account_class"] = objects(
        column("account_class") if "account_class" in names else [None] * n
    )
    book["balance"] = (
        np.fromiter((_minor(v, "balance", 2) for v in column("balance")), dtype=np.int64, count=n)
        if "balance" in names
        else np.zeros(n, dtype=np.int64)
    )
    book["unpaid_invoices"] = (
        np.fromiter((v or 0 for v in column("unpaid_invoices")), dtype=np.int64, count=n)
        if "unpaid_invoices" in names
        else np.zeros(n, dtype=np.int64)
    )
    book["payment_method"] = (
        np.fromiter((bool(v) for v in column("payment_method")), dtype=bool, count=n)
        if "payment_method" in names
        else np.zeros(n, dtype=bool)
    )
    book["availability_days"] = (
        np.fromiter(
            (-1 if v is None else v for v in column("availability_days")), dtype=np.int64, count=n
        )
        if "availability_days" in names
        else np.full(n, -1, dtype=np.int64)
    )
    nat = np.iinfo(np.int64).min
    for name in DATE_COLUMNS:
        if name == "status_since":
            values: list[Any] = [stored.status_since for stored, _ in rows]
        elif name in names:
            values = column(name)
        else:
            book[name] = np.full(n, nat, dtype=np.int64).view("datetime64[ns]")
            continue
        ns = (nat if v is None else _ns(require_aware(v, name)) for v in values)
        book[name] = np.fromiter(ns, dtype=np.int64, count=n).view("datetime64[ns]")
    # Host columns a guard without a column-wise form may read, as objects.
    for name in sorted(names - book.keys()):
        book[name] = objects(column(name))
    return book
