"""The nightly run in partitions: N worker processes, each running the store's
set-based nightly run over its own partition of the accounts.

The partitions are a hash of the account id computed in SQL (see
`SqlStore.run_automation`,
``partition=``), so each worker reads only its own rows, and no two workers ever write
the same account, history or outbox row. The job reaches the workers as text: the
database URL, the workflow in its file form, the policies' document and the instant.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import multiprocessing
from collections.abc import Sequence
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import RULES, AutomationPolicy
from acctstate.values.clock import FixedClock, require_aware
from acctstate.values.errors import (
    ConfigError,
    InvalidArgument,
    MissingDependency,
    PartitionFailed,
)
from acctstate.world.config import dump_workflow, load_workflow
from acctstate.world.distributed._document import policies_from_document, policies_to_document
from acctstate.world.distributed._frame import _policies
from acctstate.world.store._types import RunReport

__all__ = ["run_partition_job", "run_partitioned"]

# What a worker sends back: the report's counts as plain data.
_COUNTS = ("examined", "changed", "changes", "blocked", "retried", "chunks")


def _check_int(value: object, name: str, expected: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(name, value, expected)
    return value


def _sql() -> Any:
    try:
        import sqlalchemy
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise MissingDependency(
            "SQLAlchemy 2", needed_for="run_partitioned", install="pip install 'acctstate[sql]'"
        ) from None
    return sqlalchemy


def _engine(url: str, schema: str | None) -> Any:
    from acctstate.world.store.sql import create_engine

    engine = create_engine(url)
    if schema is not None:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def _facts(engine: Any, facts: str | None) -> Any:
    """The host's facts table or view, read from the database (``"schema.name"`` or
    ``"name"``).

    Raises:
        ConfigError: no such table or view.
    """
    if facts is None:
        return None
    sa = _sql()
    from acctstate.world.store.sql import UtcDateTime

    schema, _, name = facts.rpartition(".")
    try:
        table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise ConfigError(f"no table or view {facts!r} in the database", source="facts") from None
    if engine.dialect.name == "sqlite":
        # SQLite keeps no offset: its timestamps are UTC, as the store's own are.
        for column in table.c:
            if isinstance(column.type, sa.DateTime):
                column.type = UtcDateTime()
    return table


def _store(job: dict[str, Any]) -> Any:
    from acctstate.world.store.sql import SqlStore

    wf = load_workflow(job["workflow"], format="json")
    if job["clock"] is not None:
        wf = wf.with_clock(FixedClock(dt.datetime.fromisoformat(job["clock"])))
    engine = _engine(job["url"], job["schema"])
    return SqlStore(wf, engine, facts=_facts(engine, job["facts"]), facts_key=job["facts_key"])


def run_partition_job(text: str, index: int) -> dict[str, Any]:
    """Run the job (as text) over partition ``index``: what one worker process does.

    Returns:
        The partition's report as plain data, or ``{"error": text}`` when it failed.
    """
    try:
        job = json.loads(text)
        policies = policies_from_document(job["policies"])
        store = _store(job)
        try:
            report = store.run_automation(
                policies,
                now=dt.datetime.fromisoformat(job["now"]),
                chunk=job["chunk"],
                partition=(index, job["partitions"]),
            )
        finally:
            store.engine.dispose()
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        return {"error": f"{type(exc).__name__}: {text}"}
    out: dict[str, Any] = {name: getattr(report, name) for name in _COUNTS}
    out["by_rule"] = [list(pair) for pair in report.by_rule]
    out["failed"] = [list(pair) for pair in report.failed]
    return out


def _merge(now: dt.datetime, parts: list[dict[str, Any]]) -> RunReport:
    rules: dict[str, int] = {}
    for part in parts:
        for rule, n in part["by_rule"]:
            rules[rule] = rules.get(rule, 0) + n
    return RunReport(
        at=now,
        by_rule=tuple((r, rules[r]) for r in RULES if rules.get(r)),
        failed=tuple(sorted((a, e) for part in parts for a, e in part["failed"])),
        **{name: sum(part[name] for part in parts) for name in _COUNTS},
    )


def _check_database(job: dict[str, Any]) -> None:
    """Refuse, before any worker starts, what every worker would fail on.

    Raises:
        InvalidArgument: an unusable URL, an in-memory SQLite database, a database other
            than PostgreSQL or SQLite, or one without the store's tables.
        ConfigError: no such facts table.
    """
    sa = _sql()
    url = job["url"]
    try:
        engine = _engine(url, job["schema"])
    except sa.exc.ArgumentError as exc:
        raise InvalidArgument("url", url, f"a database URL ({exc})") from None
    try:
        name = engine.dialect.name
        if name not in ("postgresql", "sqlite"):
            raise InvalidArgument("url", url, "a PostgreSQL or SQLite database")
        if name == "sqlite" and engine.url.database in (None, "", ":memory:"):
            raise InvalidArgument(
                "url", url, "an SQLite database file (each worker opens the database itself)"
            )
        from acctstate.world.store.sql import metadata

        accounts = metadata.tables["acctstate_accounts"]
        try:
            with engine.connect() as conn:
                conn.execute(sa.select(accounts.c.id).limit(1)).all()
        except sa.exc.DBAPIError as exc:
            raise InvalidArgument(
                "url", url, f"a reachable database with the store's tables ({exc.orig})"
            ) from None
        _facts(engine, job["facts"])
    finally:
        engine.dispose()


def run_partitioned(
    url: str,
    workflow: Workflow,
    policy: AutomationPolicy | Sequence[AutomationPolicy],
    *,
    now: dt.datetime,
    workers: int = 2,
    partitions: int | None = None,
    chunk: int = 10_000,
    facts: str | None = None,
    facts_key: str = "id",
    schema: str | None = None,
) -> RunReport:
    """Run the automation over the SQL store at ``url`` in worker processes, one
    partition of the accounts each.

    Every worker opens the database itself and runs
    `SqlStore.run_automation` with
    ``partition=(index, partitions)``: it reads only its own accounts (a hash of the id,
    computed in SQL), plans them with the column-wise sweep and writes each chunk
    set-based. The partitions are disjoint, so workers never contend for a row, and the
    accounts, history and outbox rows written are those of one run over the whole book.

    The workflow and policies travel as text (the workflow in its file form), so their
    guards and effect rules must be ones a workflow file can name. The instants that
    say when rows were recorded come from each worker's system clock, unless the
    workflow's clock is a [`FixedClock`][acctstate.clock.FixedClock], whose instant travels.

    The workers are spawned processes, which import the calling script's module: in a
    script, call this under ``if __name__ == "__main__":``.

    Args:
        url: the database (``"postgresql+psycopg://..."``, or an SQLite file).
        workflow: the store's workflow.
        policy: one policy, or one per account class (on ``workflow``).
        now: the instant of the run (timezone-aware).
        workers: how many processes run at once.
        partitions: how many partitions the book is cut into (default: ``workers``);
            more partitions than workers are taken in turn as workers free up.
        chunk: accounts read and written per transaction, in each worker.
        facts: the host's facts table or view (``"name"`` or ``"schema.name"``),
            read where it is as [`SqlStore`][acctstate.store.sql.SqlStore] reads ``facts``.
        facts_key: the facts' column holding the account id.
        schema: the PostgreSQL schema of the store's tables (default: the search path).

    Returns:
        One [`RunReport`][acctstate.store.RunReport] for the whole book.

    Raises:
        InvalidArgument: a naive ``now``, bad ``workers``, ``partitions``, ``chunk``,
            ``facts`` or ``schema``, a policy on another workflow or with the daily
            auto-apply (the nightly run reads no invoice table), or a database the
            workers cannot use (an in-memory SQLite database, one without the store's
            tables, a database other than PostgreSQL or SQLite).
        ConfigError: no such facts table, or a guard or effect rule a workflow file
            cannot name.
        PartitionFailed: a worker stopped; the partitions that finished stay written.
    """
    from acctstate.world.store._automation import Policies

    require_aware(now, "now")
    _check_int(workers, "workers", "a positive int")
    count = workers if partitions is None else partitions
    _check_int(count, "partitions", "a positive int (default: workers)")
    _check_int(chunk, "chunk", "a positive int")
    if not isinstance(workflow, Workflow):
        raise InvalidArgument("workflow", workflow, "a Workflow")
    given = _policies(policy)
    Policies(workflow, given)
    if not isinstance(url, str):
        raise InvalidArgument("url", url, "a database URL as text")
    for name, value in (("facts", facts), ("schema", schema)):
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(name, value, "a name as text, or None")
    if not isinstance(facts_key, str):
        raise InvalidArgument("facts_key", facts_key, "a column name as text")
    clock = workflow.clock
    job = {
        "url": url,
        "schema": schema,
        "facts": facts,
        "facts_key": facts_key,
        "workflow": dump_workflow(workflow, format="json"),
        "clock": clock.now().isoformat() if isinstance(clock, FixedClock) else None,
        "policies": policies_to_document(given),
        "now": now.isoformat(),
        "chunk": chunk,
        "partitions": count,
    }
    _check_database(job)
    text = json.dumps(job, separators=(",", ":"), sort_keys=True)
    if workers == 1 and count == 1:
        parts = [run_partition_job(text, 0)]
    else:
        parts = _in_processes(text, count, min(workers, count))
    for index, part in enumerate(parts):
        if "error" in part:
            raise PartitionFailed(index=index, count=count, problem=part["error"])
    return _merge(now, parts)


def _in_processes(text: str, count: int, workers: int) -> list[dict[str, Any]]:
    """Each partition's result, run in ``workers`` fresh processes (spawned: no state
    of this process is inherited, only the job's text travels)."""
    context = multiprocessing.get_context("spawn")
    results: list[dict[str, Any]] = []
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(run_partition_job, text, i) for i in range(count)]
        try:
            for future in futures:
                try:
                    results.append(future.result())
                except concurrent.futures.process.BrokenProcessPool as exc:
                    results.append({"error": f"the worker process ended ({exc})"})
        except BaseException:
            # Interrupted: stop the workers now rather than let them finish their
            # partitions (every chunk they committed stays; a run again completes it).
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results
