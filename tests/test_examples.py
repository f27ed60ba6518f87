"""Every script in examples/ runs to completion (they are documentation too)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
import re
import sqlite3
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """The script exits 0 and prints something (run in a scratch directory)."""
    env = {**os.environ, "ACCTSTATE_OUT": str(tmp_path), "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()


def test_demo_leaves_a_store_a_newcomer_can_open(tmp_path: pathlib.Path) -> None:
    """``make demo``'s script, small: it prints where its SQLite file is, and the file holds
    the host's ``customers`` table beside the store's accounts and history; the nightly
    run it reports changed exactly the accounts whose history it wrote (at the night's
    instant, by the automation), and every effect it reports delivered is marked done."""
    script = EXAMPLES[0].parent / "demo.py"
    env = {**os.environ, "ACCTSTATE_OUT": str(tmp_path / "out"), "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(script), "--accounts", "300", "--days", "60"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.search(r"^\s*store \(SQLite\):\s+(\S+)$", done.stdout, re.M)
    assert found, done.stdout
    path = pathlib.Path(found.group(1))
    assert path.is_absolute() and path.is_file()
    assert path.parent == (tmp_path / "out").resolve()
    summary = re.search(
        r"the nightly run at (\S+) changed (\d+) accounts \((\d+) changes, .*?\); "
        r"(\d+) effects delivered",
        done.stdout,
    )
    assert summary, done.stdout
    night, changed, changes, delivered = summary.groups()
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        assert {"customers", "acctstate_accounts", "acctstate_history"} <= tables
        (customers,) = db.execute("SELECT count(*) FROM customers").fetchone()
        ids = {i for (i,) in db.execute("SELECT id FROM acctstate_accounts")}
        assert customers == len(ids) >= 300
        assert {i for (i,) in db.execute("SELECT id FROM customers")} == ids
        # Each account was brought in with its opening row; the nightly run wrote the rest.
        opened = db.execute("SELECT count(*) FROM acctstate_history WHERE version = 0")
        assert opened.fetchone() == (len(ids),)
        night_rows = db.execute(
            "SELECT account_id, note, at FROM acctstate_history WHERE version > 0"
        ).fetchall()
        assert len(night_rows) == int(changes) > 0
        assert len({a for a, _, _ in night_rows}) == int(changed) > 0
        assert all(note.startswith("automation: ") for _, note, _ in night_rows)
        at = dt.datetime.fromisoformat(night).astimezone(dt.UTC).replace(tzinfo=None)
        assert {dt.datetime.fromisoformat(when) for _, _, when in night_rows} == {at}
        moved = db.execute("SELECT count(*) FROM acctstate_accounts WHERE version > 0")
        assert moved.fetchone() == (int(changed),)
        # The accounts stand where their last history row took them.
        stale = db.execute(
            "SELECT count(*) FROM acctstate_accounts a JOIN acctstate_history h "
            "ON h.account_id = a.id AND h.version = a.version WHERE h.dest != a.status"
        )
        assert stale.fetchone() == (0,)
        outbox = db.execute("SELECT count(*), count(done_at) FROM acctstate_outbox")
        assert outbox.fetchone() == (int(delivered), int(delivered))
