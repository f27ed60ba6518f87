"""The nightly run in partitions: ``run_automation(partition=...)`` and
``acctstate.distributed.run_partitioned``.

Pinned here: the partitions computed in SQL are disjoint, cover the book and agree with
the Python hash on SQLite and PostgreSQL; runs over every partition write exactly the
rows (accounts, history, outbox, compared after sorting) of one run over the whole book;
two worker processes on an SQLite file and on PostgreSQL do the same; bad arguments and
unusable databases are refused before any worker starts; a failed worker is reported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pathlib
import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from acctstate.automation import AutomationPolicy, reference_ladder
from acctstate.distributed import run_partitioned
from acctstate.errors import ConfigError, InvalidArgument, PartitionFailed
from acctstate.presets import isp
from acctstate.store import RunReport
from acctstate.store.sql import SqlStore, create_engine, metadata
from acctstate.world.distributed import _partition
from acctstate.world.store._partition import in_partition, partition_of
from test_store_nightly import POLICY, STARTS, WF, customers, facts_of, host, table_rows
from test_store_sql import PG_URL, needs_pg

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
ACCOUNTS = metadata.tables["acctstate_accounts"]


def random_book(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` accounts across the ladder, trials and closed accounts; about half move."""
    rnd = random.Random(seed)
    book = []
    for _ in range(n):
        book.append(
            {
                "start": rnd.choice(STARTS),
                "since_days": rnd.randint(0, 250),
                "balance": Decimal(rnd.choice([0, 0, 2500, 8000])) / 100,
                "unpaid_invoices": rnd.randint(0, 3),
                "late_days": rnd.choice([None, 5, 20, 40, 80]),
                "trial_days": rnd.choice([None, -3, 4]),
                "payment_method": rnd.choice([None, "card"]),
                "timezone": rnd.choice(["UTC", "Europe/Berlin"]),
                "currency": "EUR",
                "period_price": rnd.choice([None, Decimal("30.00")]),
            }
        )
    return book


def fill(store: SqlStore, book: list[dict[str, Any]]) -> None:
    """The book as stored accounts (opened set-based) and the host's facts rows."""
    ids = [f"A-{n:05d}" for n in range(len(book))]
    with store.engine.begin() as conn:
        conn.execute(
            ACCOUNTS.insert(),
            [
                {
                    "id": i,
                    "status": WF.catalog[a["start"]].code,
                    "status_since": NOW - a["since_days"] * DAY,
                    "version": 0,
                }
                for i, a in zip(ids, book, strict=True)
            ],
        )
        conn.execute(
            customers.insert(), [{"id": i, **facts_of(a)} for i, a in zip(ids, book, strict=True)]
        )


@contextlib.contextmanager
def sqlite_file(path: pathlib.Path) -> Iterator[tuple[str, sa.Engine, str | None]]:
    """A fresh SQLite file with the store's and the host's tables: URL, engine, schema."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    metadata.create_all(engine)
    host.create_all(engine)
    try:
        yield url, engine, None
    finally:
        engine.dispose()


@contextlib.contextmanager
def pg_schema() -> Iterator[tuple[str, sa.Engine, str | None]]:
    """A fresh PostgreSQL schema of this test's own with both tables: URL, engine, schema."""
    assert PG_URL is not None
    schema = f"acctstate_part_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(PG_URL).execution_options(schema_translate_map={None: schema})
    try:
        metadata.create_all(engine)
        host.create_all(engine)
        yield PG_URL, engine, schema
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def database(
    kind: str, tmp_path: pathlib.Path, name: str
) -> Iterator[tuple[str, sa.Engine, str | None]]:
    with sqlite_file(tmp_path / f"{name}.db") if kind == "sqlite" else pg_schema() as db:
        yield db


KINDS = ["sqlite", pytest.param("postgres", marks=needs_pg)]


@pytest.mark.parametrize("kind", KINDS)
def test_partitions_computed_in_sql_are_disjoint_and_cover_the_book(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """Each account is in exactly one of the ``count`` partitions the database computes,
    the one :func:`partition_of` gives in Python, and the partitions are of like size."""
    ids = [f"A-{n:05d}" for n in range(2000)] + ["Ä-ü", "", "x" * 200]
    with database(kind, tmp_path, "p") as (_url, engine, _schema):
        with engine.begin() as conn:
            conn.execute(
                ACCOUNTS.insert(),
                [{"id": i, "status": 1, "status_since": NOW, "version": 0} for i in ids],
            )
        for count in (1, 2, 3, 7):
            seen: dict[str, int] = {}
            with engine.connect() as conn:
                for index in range(count):
                    where = in_partition(conn, ACCOUNTS.c.id, (index, count))
                    for (i,) in conn.execute(sa.select(ACCOUNTS.c.id).where(where)):
                        assert i not in seen
                        seen[i] = index
            assert seen == {i: partition_of(i, count) for i in ids}
            sizes = [list(seen.values()).count(k) for k in range(count)]
            assert max(sizes) - min(sizes) < len(ids) // count // 4


def store_on(engine: sa.Engine) -> SqlStore:
    return SqlStore(WF, engine, facts=customers)


@pytest.mark.parametrize("kind", KINDS)
def test_runs_over_every_partition_write_what_one_run_writes(
    kind: str, tmp_path: pathlib.Path
) -> None:
    """``run_automation`` over each of 3 partitions in turn (small chunks) leaves the
    same accounts, history and outbox rows as one run over the whole book, and the
    partitions' reports add up to its report."""
    book = random_book(300, seed=3)
    with database(kind, tmp_path, "one") as one, database(kind, tmp_path, "three") as three:
        whole, parts = store_on(one[1]), store_on(three[1])
        fill(whole, book)
        fill(parts, book)
        report = whole.run_automation(POLICY, now=NOW, chunk=50)
        seen: list[tuple[int, int]] = []
        reports = [
            parts.run_automation(
                POLICY,
                now=NOW,
                chunk=17,
                partition=(i, 3),
                progress=lambda done, total: seen.append((done, total)),
            )
            for i in range(3)
        ]
        assert table_rows(parts) == table_rows(whole)
        assert report.changed > 50
        assert sum(r.examined for r in reports) == report.examined == len(book)
        assert sum(r.changes for r in reports) == report.changes
        assert sum(r.blocked for r in reports) == report.blocked
        totals = {total for _, total in seen}
        assert sum(totals) == len(book)  # each partition counts only its own rows
        again = parts.run_automation(POLICY, now=NOW, partition=(1, 3))
        assert (again.changed, again.changes) == (0, 0)


@pytest.mark.parametrize(
    "partition", [(0, 0), (2, 2), (-1, 2), (True, 2), (0, 2.0), [0, 2], (0, 1, 2), "0/2"]
)
def test_a_bad_partition_is_refused(partition: Any, tmp_path: pathlib.Path) -> None:
    """A partition that is not ``(index, count)`` with ``0 <= index < count`` is refused
    before anything is read or written."""
    with sqlite_file(tmp_path / "bad.db") as (_url, engine, _schema):
        store = store_on(engine)
        fill(store, random_book(5, seed=1))
        before = table_rows(store)
        with pytest.raises(InvalidArgument, match=r"partition.*\(index, count\)"):
            store.run_automation(POLICY, now=NOW, partition=partition)
        assert table_rows(store) == before


@pytest.mark.parametrize("kind", KINDS)
def test_two_worker_processes_write_what_one_run_writes(kind: str, tmp_path: pathlib.Path) -> None:
    """``run_partitioned`` with 2 worker processes (and with 4 partitions on 2 workers)
    ends with exactly the accounts, history and outbox rows of one in-process run, the
    recording instants included (the workflow's fixed clock travels); its report is the
    one run's report."""
    book = random_book(1000, seed=7)
    with (
        database(kind, tmp_path, "one") as one,
        database(kind, tmp_path, "two") as two,
        database(kind, tmp_path, "four") as four,
    ):
        alone = store_on(one[1])
        fill(alone, book)
        fill(store_on(two[1]), book)
        fill(store_on(four[1]), book)
        expected = alone.run_automation(POLICY, now=NOW, chunk=200)
        url, engine, schema = two
        facts = "customers" if schema is None else f"{schema}.customers"
        report = run_partitioned(
            url, WF, POLICY, now=NOW, workers=2, chunk=200, facts=facts, schema=schema
        )
        assert table_rows(store_on(engine)) == table_rows(alone)
        assert _counts(report) == _counts(expected)
        assert report.changed > 300
        url, engine, schema = four
        facts = "customers" if schema is None else f"{schema}.customers"
        report = run_partitioned(
            url, WF, POLICY, now=NOW, workers=2, partitions=4, facts=facts, schema=schema
        )
        assert table_rows(store_on(engine)) == table_rows(alone)
        assert _counts(report) == _counts(expected)


def _counts(report: RunReport) -> tuple[Any, ...]:
    return (
        report.at,
        report.examined,
        report.changed,
        report.changes,
        report.by_rule,
        report.blocked,
        report.failed,
    )


def test_one_worker_runs_in_process_and_again_changes_nothing(tmp_path: pathlib.Path) -> None:
    """With one worker the run needs no other process; a second run at the same ``now``
    examines every account again and changes nothing."""
    with sqlite_file(tmp_path / "one.db") as (url, engine, _schema):
        store = store_on(engine)
        fill(store, random_book(200, seed=2))
        first = run_partitioned(url, WF, POLICY, now=NOW, workers=1, facts="customers")
        before = table_rows(store)
        again = run_partitioned(url, WF, POLICY, now=NOW, workers=1, facts="customers")
        assert first.changed > 0
        assert (again.examined, again.changed) == (200, 0)
        assert table_rows(store) == before


def test_bad_arguments_are_refused_before_any_worker_starts(tmp_path: pathlib.Path) -> None:
    """A naive ``now``, bad counts, a policy on another workflow, an in-memory or
    unknown database, a database without the store's tables and a missing facts table
    are refused in the calling process, and nothing is written."""
    other = AutomationPolicy(
        isp.workflow().extend(remove=[("terminate", "active")]), ladder=reference_ladder()
    )
    with sqlite_file(tmp_path / "args.db") as (url, engine, _schema):
        store = store_on(engine)
        fill(store, random_book(5, seed=1))
        before = table_rows(store)
        cases: list[tuple[dict[str, Any], type[Exception], str]] = [
            ({"now": NOW.replace(tzinfo=None)}, InvalidArgument, "now"),
            ({"workers": 0}, InvalidArgument, "workers"),
            ({"workers": True}, InvalidArgument, "workers"),
            ({"partitions": 0}, InvalidArgument, "partitions"),
            ({"chunk": 0}, InvalidArgument, "chunk"),
            ({"policy": other}, InvalidArgument, "policy"),
            ({"workflow": "isp"}, InvalidArgument, "workflow"),
            ({"url": "sqlite://"}, InvalidArgument, "SQLite database file"),
            ({"url": "nonsense"}, InvalidArgument, "url"),
            ({"url": f"sqlite:///{tmp_path / 'empty.db'}"}, InvalidArgument, "store's tables"),
            ({"facts": "nowhere"}, ConfigError, "no table or view 'nowhere'"),
            ({"facts": object()}, InvalidArgument, "facts"),
            ({"schema": 3}, InvalidArgument, "schema"),
            ({"facts_key": None}, InvalidArgument, "facts_key"),
        ]
        for change, error, words in cases:
            args: dict[str, Any] = {
                "url": url,
                "workflow": WF,
                "policy": POLICY,
                "now": NOW,
                "facts": "customers",
                **change,
            }
            with pytest.raises(error, match=words):
                run_partitioned(args.pop("url"), args.pop("workflow"), args.pop("policy"), **args)
        assert table_rows(store) == before


def test_a_failed_worker_is_reported_and_the_rest_stays_written(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a worker stops, ``PartitionFailed`` names its partition; what was written
    stays, and a run again at the same ``now`` finishes the book."""
    with sqlite_file(tmp_path / "fail.db") as (url, engine, _schema):
        store = store_on(engine)
        fill(store, random_book(100, seed=5))
        original = _partition.run_partition_job

        def second_fails(text: str, index: int) -> dict[str, Any]:
            if index == 1:
                return {"error": "OperationalError: the server closed the connection"}
            return original(text, index)

        monkeypatch.setattr(_partition, "run_partition_job", second_fails)
        # In process (the workers would import the unpatched function): one worker,
        # two partitions.
        monkeypatch.setattr(
            _partition,
            "_in_processes",
            lambda text, count, workers: [
                _partition.run_partition_job(text, i) for i in range(count)
            ],
        )
        with pytest.raises(
            PartitionFailed, match=r"partition 1 of 2 failed: OperationalError"
        ) as info:
            run_partitioned(url, WF, POLICY, now=NOW, workers=1, partitions=2, facts="customers")
        assert (info.value.index, info.value.count) == (1, 2)
        monkeypatch.undo()
        versions = {row[0]: row[3] for row in table_rows(store)["acctstate_accounts"]}
        moved = {partition_of(i, 2) for i, v in versions.items() if v > 0}
        assert moved == {0}  # partition 0 was written, partition 1 not
        report = run_partitioned(url, WF, POLICY, now=NOW, workers=1, facts="customers")
        assert report.ok
        again = run_partitioned(url, WF, POLICY, now=NOW, workers=1, facts="customers")
        assert again.changed == 0


def test_a_worker_reports_its_error_as_text() -> None:
    """A worker never raises: a job that cannot run comes back as an error text (plain
    data, so it crosses the process boundary whatever the error)."""
    out = _partition.run_partition_job('{"policies": {"format": 99}}', 0)
    assert out["error"].startswith("ConfigError: <policies>: policy document format 99")


def test_the_public_path_and_the_error() -> None:
    """``run_partitioned`` is reached from ``acctstate.distributed``; its error is an
    ``AcctStateError`` under ``acctstate.errors``."""
    import acctstate.distributed

    assert acctstate.distributed.run_partitioned is run_partitioned
    assert issubclass(PartitionFailed, acctstate.AcctStateError)
    assert str(PartitionFailed(index=0, count=2, problem="boom")).startswith(
        "partition 0 of 2 failed: boom; run again at the same now"
    )
