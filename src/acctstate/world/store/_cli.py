"""``acctstate run-automation URL --policy FILE``: the nightly run from the command line.

The policy file (TOML) names the workflow, the automation settings and the host's facts
table::

    workflow = "isp"                # a preset or a workflow file
    [policy]
    ladder = "reference"            # the reference dunning ladder, a [policy.ladder]
                                    # table as in workflow files, or leave it out
    archive = "archive"             # any AutomationPolicy setting given by name
    archive_after_days = 180
    [facts]
    table = "customers"             # the host's table of facts, read where it is
    key = "id"
"""

from __future__ import annotations

import datetime as dt
import pathlib
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import IO, Any

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import AutomationPolicy, reference_ladder
from acctstate.values.clock import require_aware
from acctstate.values.errors import ConfigError, InvalidArgument, MissingDependency
from acctstate.world.config import ladder_from_document
from acctstate.world.store._types import RunReport

__all__ = ["policy_from_file", "run_automation_command"]

_SETTINGS = (
    "account_class",
    "enabled",
    "trial_end",
    "activation",
    "expiration",
    "contract_expiry",
    "archive",
    "archive_after_days",
    "reason",
)


def policy_from_file(
    path: pathlib.Path, load: Callable[[str], Workflow]
) -> tuple[AutomationPolicy, str | None, str]:
    """The policy a file describes, and its facts table name and key column.

    Raises:
        ConfigError: the file is not valid TOML or names an unknown setting.
    """
    source = str(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(exc), source=source) from None
    wf = load(str(doc.get("workflow", "isp")))
    raw = doc.get("policy", {})
    if not isinstance(raw, dict):
        raise ConfigError("expected a table of automation settings", source=source, path="policy")
    settings: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "ladder" and isinstance(value, dict):
            # The form of a workflow file's [ladders.<name>] table.
            settings["ladder"] = ladder_from_document(value, path="policy.ladder", source=source)
        elif key == "ladder":
            if value != "reference":
                raise ConfigError(
                    f"got {value!r}; expected 'reference' (the reference dunning ladder) or "
                    "a ladder table as in workflow files",
                    source=source,
                    path="policy.ladder",
                )
            settings["ladder"] = reference_ladder()
        elif key in _SETTINGS:
            settings[key] = value
        else:
            raise ConfigError(
                f"unknown setting {key!r}; expected one of ladder, {', '.join(_SETTINGS)}",
                source=source,
                path=f"policy.{key}",
            )
    facts = doc.get("facts", {})
    table = facts.get("table") if isinstance(facts, dict) else None
    key = facts.get("key", "id") if isinstance(facts, dict) else "id"
    return AutomationPolicy(wf, **settings), table, str(key)


@contextmanager
def _bar(quiet: bool, stream: IO[str]) -> Iterator[Callable[[int, int], None] | None]:
    if quiet:
        yield None
        return
    try:
        from rich.progress import Progress
    except ImportError:  # pragma: no cover - rich comes with the sql extra
        yield None
        return
    from rich.console import Console

    with Progress(console=Console(file=stream), transient=False) as bar:
        task = bar.add_task("nightly run", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield show


def run_automation_command(
    url: str,
    policy_file: str,
    *,
    load: Callable[[str], Workflow],
    now: dt.datetime | None,
    chunk: int,
    quiet: bool,
    out: IO[str],
    err: IO[str],
) -> RunReport:
    """Run the policy over the store at ``url``, print a summary; the report."""
    try:
        import sqlalchemy as sa

        from acctstate.world.store.sql import SqlStore, UtcDateTime, create_engine
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependency(
            "SQLAlchemy 2", needed_for="run-automation", install="pip install 'acctstate[sql]'"
        ) from exc
    policy, table, key = policy_from_file(pathlib.Path(policy_file), load)
    when = dt.datetime.now(dt.UTC) if now is None else require_aware(now, "now")
    try:
        engine = create_engine(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidArgument("URL", url, f"a database URL ({exc})") from None
    try:
        facts = None
        if table is not None:
            try:
                facts = sa.Table(table, sa.MetaData(), autoload_with=engine)
            except sa.exc.NoSuchTableError:
                raise ConfigError(
                    f"no table {table!r} in the database", source=policy_file, path="facts.table"
                ) from None
            if engine.dialect.name == "sqlite":
                # SQLite keeps no offset: its timestamps are UTC, as the store's own are.
                for column in facts.c:
                    if isinstance(column.type, sa.DateTime):
                        column.type = UtcDateTime()
        store = SqlStore(policy.workflow, engine, facts=facts, facts_key=key)
        with _bar(quiet, err) as progress:
            report = store.run_automation(policy, now=when, chunk=chunk, progress=progress)
    except sa.exc.OperationalError as exc:
        raise InvalidArgument(
            "URL", url, f"a reachable database with the store's tables ({exc.orig})"
        ) from None
    finally:
        engine.dispose()
    print(
        f"{report.examined} accounts examined at {report.at.isoformat()}: "
        f"{report.changed} changed ({report.changes} changes), {report.blocked} blocked, "
        f"{len(report.failed)} failed",
        file=out,
    )
    for rule, n in report.by_rule:
        print(f"  {rule:<20} {n:>8}", file=out)
    for account_id, error in report.failed[:20]:
        print(f"  failed {account_id}: {error}", file=out)
    return report
