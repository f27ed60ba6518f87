"""The operator's commands on a store URL (explain, history, stats, export, deliver) on
a temporary SQLite file: their text and JSON output, CSV and Parquet exports, delivery
through imported or recording hooks, and errors as one line, never a traceback."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import pathlib
import subprocess
import sys

import pytest

from acctstate.cli import main
from acctstate.presets import isp

sql = pytest.importorskip("acctstate.store.sql")

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 6, 10, 9, 0, tzinfo=dt.UTC)
TO_ACTIVE = [
    "register",
    "confirm_registration",
    "receive_service_order",
    "accept_service_order",
    "start_service_order",
    "complete_service_order",
    "activate",
]


@pytest.fixture
def url(tmp_path: pathlib.Path) -> str:
    """A store file with A-0 a prospect, A-1 active since June (three effects pending)
    and A-2 registered."""
    path = tmp_path / "accounts.db"
    store = sql.SqlStore(isp.workflow(), sql.create_engine(f"sqlite:///{path}"))
    store.create_schema()
    for i in range(3):
        store.open(f"A-{i}", "prospect", at=T0)
    for trigger in TO_ACTIVE:
        store.fire("A-1", trigger, at=T1, reason=None)
    store.fire("A-2", "register", at=T0)
    store.engine.dispose()
    return f"sqlite:///{path}"


def _store(url: str) -> object:
    return sql.SqlStore(isp.workflow(), sql.create_engine(url))


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_explain_says_why_not_and_what_is_allowed(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`explain` names the account's status, the answer, and the triggers allowed."""
    assert main(["explain", url, "A-1", "settle", "--at", "2026-07-01"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "account 'A-1' is 'active' (1) since 2026-06-10T09:00:00+00:00"
    assert out[1] == "'settle' is not a transition from 'active'"
    assert out[2].startswith("allowed here: ban, cancel, deactivate")


def test_explain_json_for_scripts(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`explain --json` gives the answer as data, refusals included."""
    assert main(["explain", url, "A-1", "suspend", "--at", "2026-07-01T00:00Z", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["account"] == "A-1" and doc["status"] == "active" and doc["code"] == 1
    assert doc["trigger"] == "suspend" and doc["legal"] is True
    assert doc["allowed"] == (doc["refusals"] == [])
    assert all(set(r) == {"guard", "reason"} for r in doc["refusals"])
    assert "cancel" in doc["allowed_here"]


def test_explain_takes_event_data(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--data NAME=VALUE` passes facts to the guards, as `fire` would get them."""
    args = ["explain", url, "A-1", "suspend", "--at", "2026-07-01", "--json"]
    assert main([*args, "--data", "balance=12.50", "--data", "vip=true"]) == 0
    assert json.loads(capsys.readouterr().out)["trigger"] == "suspend"


def test_history_since_a_date(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`history --since` lists the changes from that date on, oldest first, with effects."""
    assert main(["history", url, "A-1", "--since", "2026-06-01"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(TO_ACTIVE)
    assert out[0].startswith("2026-06-10T09:00:00+00:00  register: prospect (30) -> ")
    assert out[-1].endswith("active (1)  [start_billing start_usage_billing]")
    assert main(["history", url, "A-0", "--since", "2026-06-01"]) == 0
    assert "no changes to account 'A-0'" in capsys.readouterr().out


def test_history_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`history --json` gives one record per change, the opening included."""
    assert main(["history", url, "A-1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["trigger"] for r in rows] == ["open", *TO_ACTIVE]
    assert [r["version"] for r in rows] == list(range(len(TO_ACTIVE) + 1))


def test_stats_counts_per_status(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`stats` counts the stored accounts per status; `--json` gives the same as data."""
    assert main(["stats", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["status", "code", "accounts"]
    assert [line.split() for line in out[1:]] == [
        ["active", "1", "1"],
        ["prospect", "30", "1"],
        ["registered_pending_activation", "32", "1"],
        ["total", "3"],
    ]
    assert main(["stats", url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"] == 3 and doc["by_status"]["active"] == 1


@pytest.mark.parametrize(
    ("what", "rows", "first"),
    [("accounts", 3, "A-0"), ("history", 1 + 1 + len(TO_ACTIVE) + 2, "A-0"), ("outbox", 3, None)],
)
def test_export_csv(
    url: str, what: str, rows: int, first: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`export --format csv` writes a header and one row per account, change or
    pending effect to stdout."""
    assert main(["export", url, "--what", what, "-q"]) == 0
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(records) == rows
    if first is not None:
        assert records[0][next(iter(records[0]))] == first
    if what == "outbox":
        assert [r["kind"] for r in records] == ["provision", "start_billing", "start_usage_billing"]


def test_export_parquet_to_a_file(
    url: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`export --format parquet -o FILE` writes a Parquet file with the same rows."""
    pq = pytest.importorskip("pyarrow.parquet")
    target = tmp_path / "accounts.parquet"
    assert main(["export", url, "--what", "accounts", "-f", "parquet", "-o", str(target)]) == 0
    table = pq.read_table(target)
    assert table.column("id").to_pylist() == ["A-0", "A-1", "A-2"]
    assert table.column("status").to_pylist() == [
        "prospect",
        "active",
        "registered_pending_activation",
    ]
    assert "wrote 3 rows" in capsys.readouterr().err


def test_export_parquet_needs_a_file(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Parquet is not written to a terminal."""
    assert main(["export", url, "--what", "accounts", "-f", "parquet"]) == 1
    assert "give a file with --output" in _one_error_line(capsys.readouterr().err)


def test_deliver_records_and_marks_done(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`deliver --record` runs nothing, lists each effect and marks it done."""
    assert main(["deliver", url, "--record", "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out[:3]] == [
        "provision",
        "start_billing",
        "start_usage_billing",
    ]
    assert out[3] == "delivered 3, skipped 0, failed 0; 0 still pending"
    assert _store(url).pending() == ()  # type: ignore[attr-defined]


HOOKS = """
from acctstate.effects import RecordingHooks

ran = []

class Hooks(RecordingHooks):
    def start_billing(self, effect, change):
        ran.append(effect.key)
        raise RuntimeError("billing is down")
"""


def test_deliver_through_imported_hooks(
    url: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`deliver --hooks module:attr` imports the host's hooks (from the working folder);
    a failed effect stays pending, is reported, and the exit status is 1."""
    (tmp_path / "house_hooks.py").write_text(HOOKS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "house_hooks", raising=False)
    assert main(["deliver", url, "--hooks", "house_hooks:Hooks", "--json", "-q"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["delivered"]) == 1 and doc["delivered"][0].endswith("10033#0")
    assert [f["error"] for f in doc["failed"]] == ["RuntimeError: billing is down"]
    assert doc["pending"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "sqlite:///{tmp}/missing.db"], "no database file at"),
        (["stats", "{tmp}/accounts.db"], "expected a database URL"),
        (["stats", "nosuchdialect://x"], "cannot open 'nosuchdialect://x'"),
        (["stats", "sqlite:///{tmp}/empty.db"], "cannot read the store at sqlite:///"),
        (["explain", "{url}", "A-9", "settle"], "expected the id of an account in the store"),
        (["explain", "{url}", "A-1", "setle"], "unknown trigger 'setle'; did you mean 'settle'"),
        (["history", "{url}", "A-1", "-w", "ips"], "no preset or file named 'ips'"),
        (["deliver", "{url}"], "say how to carry the effects out"),
        (["deliver", "{url}", "--hooks", "nowhere_at_all:x"], "cannot import the hooks"),
        (["deliver", "{url}", "--hooks", "nocolon"], "expects module:attribute"),
    ],
)
def test_store_errors_are_one_line(
    url: str,
    tmp_path: pathlib.Path,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A command that cannot do its job prints one line naming the command, exits 1."""
    (tmp_path / "empty.db").write_bytes(b"")
    argv = [a.format(tmp=tmp_path, url=url) for a in argv]
    assert main(argv) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"acctstate {argv[0]}: error: ") and message in line


def test_bad_dates_are_refused_by_the_parser(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A date-time without an offset names no instant: refused on the command line."""
    with pytest.raises(SystemExit) as exit_:
        main(["history", url, "A-1", "--since", "2026-06-01T09:00"])
    assert exit_.value.code == 2
    assert "UTC offset" in _one_error_line(capsys.readouterr().err)


def test_python_dash_m_store_command(url: str) -> None:
    """The store commands run as `python -m acctstate`, with help and without tracebacks."""
    env = {**os.environ, "ACCTSTATE_DEBUG": ""}
    for argv, code in [
        (["stats", url, "--json"], 0),
        (["export", "--help"], 0),
        (["explain", url, "A-404", "settle"], 1),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "acctstate", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == code, done.stderr
        assert "Traceback" not in done.stderr


def test_without_rich_there_is_no_bar_and_the_command_still_runs(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The progress bar is rich's (the `cli` extra); without it, commands run unchanged
    and draw nothing."""
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    assert main(["export", url, "--what", "history"]) == 0
    assert main(["simulate", "isp", "-n", "5", "-d", "3"]) == 0
    assert capsys.readouterr().err == ""


def test_export_history_draws_progress(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Exporting every account's history draws a progress bar on stderr (off with -q)."""
    assert main(["export", url, "--what", "history"]) == 0
    err = capsys.readouterr().err
    assert "exporting" in err and "3/3 accounts" in err
