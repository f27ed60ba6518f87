"""The SQL store's schema as a database engineer sees it: shipped migrations with a
version table, an index for every query, JSONB and an append-only history on PostgreSQL.

PostgreSQL tests work in a schema of their own (``search_path``), dropped afterwards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import pathlib
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from tests import _legacy_store_schema as legacy

import acctstate
from acctstate.automation import AutomationPolicy, reference_ladder
from acctstate.cli import main
from acctstate.presets import isp
from acctstate.store.migrate import HEAD, VERSION_TABLE, current, upgrade
from acctstate.store.sql import SqlStore, UtcDateTime, create_engine
from test_store_sql import PG_URL, needs_pg

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
SEC = dt.timedelta(seconds=1)
KINDS = ["sqlite", pytest.param("postgres", marks=needs_pg)]


@contextlib.contextmanager
def database(kind: str, tmp: pathlib.Path) -> Iterator[sa.Engine]:
    """An empty database: an SQLite file, or a fresh PostgreSQL schema on the search path."""
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp / f'm-{uuid.uuid4().hex[:6]}.db'}")
        yield engine
        engine.dispose()
        return
    assert PG_URL is not None
    schema = f"acctstate_mig_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def shape(engine: sa.Engine) -> dict[str, Any]:
    """Every table's columns, keys, indexes (with their predicates), comments and, on
    PostgreSQL, triggers."""
    insp = sa.inspect(engine)
    out: dict[str, Any] = {}
    for t in sorted(insp.get_table_names()):
        out[t] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)],
            "pk": insp.get_pk_constraint(t)["constrained_columns"],
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in insp.get_foreign_keys(t)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
            "indexes": sorted(
                (
                    i["name"],
                    tuple(i["column_names"]),
                    bool(i["unique"]),
                    json.dumps(i.get("dialect_options", {}), sort_keys=True, default=str),
                )
                for i in insp.get_indexes(t)
            ),
        }
        if engine.dialect.name == "postgresql":
            out[t]["comment"] = insp.get_table_comment(t)["text"]
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            out["triggers"] = sorted(
                conn.execute(
                    sa.text(
                        "SELECT c.relname || '.' || t.tgname FROM pg_trigger t "
                        "JOIN pg_class c ON c.oid = t.tgrelid "
                        "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
                    )
                ).scalars()
            )
    return out


def legacy_rows(engine: sa.Engine) -> None:
    """One account with a committed change and its pending effect, as the first release
    wrote them."""
    with engine.begin() as conn:
        conn.execute(
            legacy.accounts.insert(), {"id": "A-1", "status": -1, "status_since": T0, "version": 1}
        )
        base = {"account_id": "A-1", "at": T0, "actor_id": "ops", "actor_kind": "person"}
        conn.execute(
            legacy.history.insert(),
            [
                {
                    **base,
                    "version": 0,
                    "trigger": "open",
                    "source": 1,
                    "dest": 1,
                    "actor_permissions": "[]",
                },
                {
                    **base,
                    "version": 1,
                    "trigger": "suspend",
                    "source": 1,
                    "dest": -1,
                    "actor_permissions": '["suspend"]',
                },
            ],
        )
        conn.execute(
            legacy.outbox.insert(),
            {
                "key": "A-1/suspend#0",
                "account_id": "A-1",
                "version": 1,
                "position": 0,
                "kind": "deprovision",
                "payload": "{}",
                "created_at": T0,
                "attempts": 0,
            },
        )


@pytest.mark.parametrize("kind", KINDS)
def test_migrations_from_empty_from_the_first_release_and_from_create_schema_end_equal(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """`upgrade` creates the schema in an empty database, brings up a database made by the
    first release's `create_schema()` (rows kept, readable by the store), and stamps one
    made by today's `create_schema()`: all three end with the same tables, columns,
    indexes, constraints and triggers, at the same version."""
    with (
        database(kind, tmp_path) as empty,
        database(kind, tmp_path) as old,
        database(kind, tmp_path) as fresh,
    ):
        assert current(empty) is None
        assert upgrade(empty) == HEAD
        legacy.metadata.create_all(old)
        legacy_rows(old)
        assert upgrade(old) == HEAD
        SqlStore(isp.workflow(), fresh).create_schema()
        assert current(fresh) is None
        assert upgrade(fresh) == HEAD
        shapes = [shape(e) for e in (empty, old, fresh)]
        assert shapes[0] == shapes[1] == shapes[2]
        assert VERSION_TABLE in shapes[0]
        assert upgrade(old) == HEAD  # again: nothing to do
        store = SqlStore(isp.workflow(), old)
        assert [c.trigger for c in store.history("A-1")] == ["open", "suspend"]
        assert store.history("A-1")[1].actor.permissions == frozenset({"suspend"})
        rec = acctstate.RecordingHooks()
        assert store.deliver(acctstate.Hooks.from_object(rec)).delivered == ("A-1/suspend#0",)


def test_db_upgrade_on_the_command_line(tmp_path: pathlib.Path, capsys: Any) -> None:
    """`acctstate db upgrade URL` creates the schema, then says it is up to date."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "upgrade", url]) == 0
    assert capsys.readouterr().out == f"upgraded the schema from version none to {HEAD}\n"
    assert main(["db", "upgrade", url]) == 0
    assert capsys.readouterr().out == f"the schema is up to date (version {HEAD})\n"


@needs_pg
def test_postgres_history_is_append_only_and_json_is_jsonb(tmp_path: pathlib.Path) -> None:
    """On PostgreSQL the database itself refuses to update, delete or truncate history
    rows, and the JSON columns are JSONB."""
    with database("postgres", tmp_path) as engine:
        store = SqlStore(isp.workflow(), engine)
        store.create_schema()
        store.open("A-1", "active", at=T0, imported=True)
        store.fire("A-1", "suspend", at=T0 + SEC)
        for sql in (
            "UPDATE acctstate_history SET note = 'x'",
            "DELETE FROM acctstate_history",
            "TRUNCATE acctstate_history CASCADE",
        ):
            with (
                pytest.raises(sa.exc.DBAPIError, match="acctstate history is append-only"),
                engine.begin() as conn,
            ):
                conn.exec_driver_sql(sql)
        assert len(store.history("A-1")) == 2
        types = {
            (t, c["name"]): str(c["type"])
            for t in ("acctstate_outbox", "acctstate_history", "acctstate_scheduled")
            for c in sa.inspect(engine).get_columns(t)
        }
        assert types[("acctstate_outbox", "payload")] == "JSONB"
        assert types[("acctstate_history", "actor_permissions")] == "JSONB"
        assert types[("acctstate_scheduled", "data")] == "JSONB"
        with engine.connect() as conn:
            kinds = conn.exec_driver_sql(
                "SELECT payload->>'currency' FROM acctstate_outbox LIMIT 1"
            ).all()
        assert kinds  # queryable with the JSON operators


class Recorder:
    """Every statement the store sends, with its parameters."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.seen.append((statement, params))


@needs_pg
def test_every_query_on_the_outbox_and_history_uses_an_index(tmp_path: pathlib.Path) -> None:
    """Every statement the store makes while opening, firing, scheduling, sweeping, running
    the nightly automation (its chunk read joined to the host's facts and its history
    read), delivering (with failures, dead letters, retries and skips), listing and
    pruning is run again under ``EXPLAIN``: none scans the outbox or the history
    sequentially, and each that filters the accounts on their status searches an index
    by status.

    ``enable_seqscan = off`` is set for the ``EXPLAIN``: on a small table the planner
    rightly prefers a sequential scan, so the question asked is the one that matters at
    600,000 rows -- is there an index the query *can* use? With sequential scans
    disabled the planner still picks one when no index serves the query, so a
    ``Seq Scan`` left in a plan is a missing index."""
    with database("postgres", tmp_path) as engine:
        clock = acctstate.FixedClock(T0 + dt.timedelta(days=1))
        wf = isp.workflow().with_clock(clock)
        host = sa.MetaData()
        customers = sa.Table(
            "customers",
            host,
            sa.Column("id", sa.String(200), primary_key=True),
            sa.Column("balance", sa.Numeric(12, 2)),
            sa.Column("unpaid_invoices", sa.Integer),
            sa.Column("oldest_unpaid_at", UtcDateTime),
            sa.Column("timezone", sa.String(50)),
            sa.Column("currency", sa.String(3)),
            sa.Column("payment_method", sa.String(20)),
            sa.Column("period_price", sa.Numeric(12, 2)),
        )
        host.create_all(engine)
        store = SqlStore(wf, engine, facts=customers)
        store.create_schema()
        with engine.begin() as conn:
            conn.execute(
                customers.insert(),
                [
                    {
                        "id": f"A-{i}",
                        "balance": Decimal("0"),
                        "unpaid_invoices": 0,
                        "oldest_unpaid_at": None,
                        "timezone": "UTC",
                        "currency": "USD",
                        "payment_method": "card",
                        "period_price": Decimal("30"),
                    }
                    for i in range(4)
                ],
            )
        rec = Recorder()
        sa.event.listen(engine, "before_cursor_execute", rec)
        for i in range(3):
            store.open(f"A-{i}", "active", at=T0, imported=True)
        # Paid while suspended in dunning: the nightly run reinstates it and bills back
        # from when billing stopped, so the run reads its history.
        store.open("A-3", "suspended_dunning_2", at=T0 - dt.timedelta(days=10), imported=True)
        nightly = store.run_automation(
            AutomationPolicy(wf, ladder=reference_ladder()), now=T0 + SEC / 2
        )
        assert (nightly.changed, nightly.ok) == (1, True)
        store.fire("A-0", "ban", at=T0 + SEC)
        store.fire("A-1", "deactivate", at=T0 + SEC, expected_version=0)
        store.schedule("A-2", "deactivate", at=T0 + SEC)
        store.apply_due(at=T0 + 2 * SEC)
        store.scheduled(account_id="A-2")
        store.sweep(lambda a: None, at=T0 + 3 * SEC, statuses=["active"])
        store.accounts(statuses=["inactive"])
        store.history("A-0")
        store.pending(account_id="A-0")

        class Failing:
            def _run(self, effect: Any, change: Any) -> None:
                if effect.kind == "deprovision":
                    raise RuntimeError("down")

            stop_billing = stop_usage_billing = deprovision = _run

        hooks = acctstate.Hooks.from_object(Failing())
        store.deliver(hooks, max_attempts=1)
        store.deliver(hooks, account_id="A-1", transactional=True)
        dead = store.dead_letters()
        store.dead_letters(account_id="A-0")
        store.retry_dead(dead[0].key, reason="fixed")
        store.skip_dead(dead[1].key, reason="by hand")
        store.dead_letter_log(account_id="A-0")
        store.deliver(hooks)
        store.prune(before=clock.now() + SEC)
        sa.event.remove(engine, "before_cursor_execute", rec)

        checked = 0
        scans: list[str] = []
        explained: list[str] = []
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SET enable_seqscan = off")
            for statement, params in rec.seen:
                head = statement.lstrip().split(None, 1)[0].upper()
                touches = "acctstate_outbox" in statement or "acctstate_history" in statement
                by_status = re.search(r"\bWHERE\b.*\bacctstate_accounts\.status\b", statement, re.S)
                if head not in ("SELECT", "UPDATE", "DELETE") or not (touches or by_status):
                    continue
                cur.execute("EXPLAIN " + statement, params)
                plan = "\n".join(r[0] for r in cur.fetchall())
                checked += 1
                explained.append(statement)
                if (
                    "Seq Scan on acctstate_outbox" in plan
                    or "Seq Scan on acctstate_history" in plan
                    # Filtering the accounts on status: an index searched by status, not
                    # a scan of every row (sequential, or along the primary key).
                    or (by_status and not re.search(r"Index Cond: \(.*\bstatus\b", plan))
                ):
                    scans.append(f"{statement}\n{plan}")
            raw.rollback()
        finally:
            raw.close()
        assert checked >= 15
        # The nightly run's history read, and the reads by status, were among them.
        assert any(
            re.search(r"FROM acctstate_history\s+WHERE acctstate_history\.account_id IN", s)
            for s in explained
        ), "the nightly run's history read was not explained"
        assert sum(bool(re.search(r"acctstate_accounts\.status IN", s)) for s in explained) >= 2
        assert scans == [], "\n\n".join(scans)
