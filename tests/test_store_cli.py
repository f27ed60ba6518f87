"""``acctstate run-automation URL --policy FILE``: the nightly run from the command line."""

from __future__ import annotations

import datetime as dt
import pathlib
from decimal import Decimal

import pytest
import sqlalchemy as sa

from acctstate.cli import main
from acctstate.presets import isp
from acctstate.store.sql import SqlStore, UtcDateTime, create_engine

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
POLICY = """
workflow = "isp"
[policy]
ladder = "reference"
archive = "archive"
[facts]
table = "customers"
"""


def book(path: pathlib.Path) -> str:
    """A SQLite file with three stored accounts and the host's ``customers`` table."""
    url = f"sqlite:///{path / 'accounts.db'}"
    engine = create_engine(url)
    host = sa.MetaData()
    customers = sa.Table(
        "customers",
        host,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("balance", sa.Numeric(12, 2)),
        sa.Column("unpaid_invoices", sa.Integer),
        sa.Column("oldest_unpaid_at", UtcDateTime),
        sa.Column("timezone", sa.String),
    )
    host.create_all(engine)
    store = SqlStore(isp.workflow(), engine, facts=customers)
    store.create_schema()
    store.open("A-1", "active", at=NOW - 90 * DAY, imported=True)
    store.open("A-2", "active", at=NOW - 90 * DAY, imported=True)
    store.open("A-3", "canceled", at=NOW - 200 * DAY, imported=True)
    with engine.begin() as conn:
        conn.execute(
            customers.insert(),
            [
                {"id": "A-1", "balance": Decimal("80"), "unpaid_invoices": 2,
                 "oldest_unpaid_at": NOW - 20 * DAY, "timezone": "UTC"},
                {"id": "A-2", "balance": Decimal("0"), "unpaid_invoices": 0,
                 "oldest_unpaid_at": None, "timezone": "UTC"},
                # Archiving counts calendar days in the billing time zone: a fact.
                {"id": "A-3", "balance": Decimal("0"), "unpaid_invoices": 0,
                 "oldest_unpaid_at": None, "timezone": "UTC"},
            ],
        )  # fmt: skip
    engine.dispose()
    return url


def test_run_automation_command(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command runs the policy over the stored accounts with the host's facts and
    prints what changed; a second run at the same instant changes nothing."""
    url = book(tmp_path)
    policy = tmp_path / "nightly.toml"
    policy.write_text(POLICY)
    args = ["run-automation", url, "--policy", str(policy), "--now", NOW.isoformat(), "-q"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "3 accounts examined at 2026-06-01T02:00:00+00:00: 2 changed (3 changes), "
        "0 blocked, 0 failed"
    )
    assert "dunning" in out and "archive" in out
    engine = create_engine(url)
    store = SqlStore(isp.workflow(), engine)
    names = [store.workflow.catalog[store.load(i).status].name for i in ("A-1", "A-2", "A-3")]
    engine.dispose()
    assert names == ["active_dunning_1", "active", "archived"]
    assert main(args) == 0
    assert " 0 changed" in capsys.readouterr().out


def test_run_automation_command_refuses_a_bad_policy(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown setting or a missing facts table is one line on stderr and exit 1."""
    url = book(tmp_path)
    policy = tmp_path / "nightly.toml"
    policy.write_text(POLICY.replace('archive = "archive"', 'archvie = "archive"'))
    assert main(["run-automation", url, "--policy", str(policy), "-q"]) == 1
    assert "unknown setting 'archvie'" in capsys.readouterr().err
    policy.write_text(POLICY.replace('"customers"', '"clients"'))
    assert main(["run-automation", url, "--policy", str(policy), "-q"]) == 1
    assert "no table 'clients'" in capsys.readouterr().err


def test_run_automation_command_draws_progress(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``-q`` the nightly run draws a progress bar on stderr, driven by the run's
    progress to the end (here in two chunks); stdout holds the same summary as with
    ``-q``, and ``-q`` draws nothing."""
    url = book(tmp_path)
    policy = tmp_path / "nightly.toml"
    policy.write_text(POLICY)
    args = ["run-automation", url, "--policy", str(policy), "--now", NOW.isoformat()]
    assert main([*args, "--chunk", "2"]) == 0
    captured = capsys.readouterr()
    assert "nightly run" in captured.err and "100%" in captured.err
    assert "nightly run" not in captured.out
    assert captured.out.startswith("3 accounts examined at 2026-06-01T02:00:00+00:00: 2 changed")
    assert main([*args, "-q"]) == 0
    assert capsys.readouterr().err == ""
