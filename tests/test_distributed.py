"""The sweep beyond one machine: Spark (``local[2]``) and a Dask cluster of worker
processes decide exactly as the single-machine column-wise sweep, on a book of 200,000
accounts whose columns have missing values of every kind, and on empty partitions.

The Spark tests need Java. On a developer machine without it they are skipped and the
run ends with a line saying so; in CI (``CI`` set) a missing Java fails the run.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import pickle
import shutil
import sys
import types
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pytest

from _workflows import hold_workflow
from acctstate.account import Account
from acctstate.automation import (
    AutomationPolicy,
    CreditHold,
    DunningLadder,
    HoldRelease,
    LadderCancellation,
    LadderStep,
    columns_from_accounts,
    reference_ladder,
    sweep,
    sweep_columns,
)
from acctstate.config import load_workflow
from acctstate.distributed import CHANGE_COLUMNS, dask_sweep, spark_sweep, sweep_frame
from acctstate.errors import ConfigError, InvalidArgument, MissingDependency
from acctstate.graph import Transition
from acctstate.guards import guard
from acctstate.presets import isp
from acctstate.values.actors import Actor
from acctstate.world.distributed._document import (
    FIELDS,
    policies_from_document,
    policies_to_document,
)
from acctstate.world.distributed._frame import job_text
from acctstate.world.distributed._spark import sweep_batches

pytestmark = [
    # PySpark 4 warns that it does not yet fully support pandas 3 when it converts
    # frames; the conversions these tests use are covered by the equality checks.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    # The Dask tests ship the book from the client on purpose (it is built in memory).
    pytest.mark.filterwarnings("ignore:Sending large graph:UserWarning"),
]

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
ISP_CODES = [1, 10, 11, 12, 13, -11, -12, -13, 41, -1, -2, -3, -4, 22, 21, 0, 99, -99, 32]
HOLD_CODES = [1, 7, 0, -2, 30]
POLICIES = (
    AutomationPolicy(
        isp.workflow(),
        ladder=reference_ladder(),
        trial_end="end_trial",
        contract_expiry="expire_contract",
        expiration="deactivate",
        archive="archive",
    ),
    AutomationPolicy(
        hold_workflow(),
        account_class="field",
        credit_hold=CreditHold(
            past_due_days=30,
            min_past_due=Decimal("100"),
            inactive_after_days=60,
            releases=[
                HoldRelease("A-000002", NOW - 2 * DAY, NOW + 5 * DAY),
                HoldRelease("A-000007", NOW - 9 * DAY, NOW - 2 * DAY),
            ],
        ),
    ),
)
N = 200_000


def make_book(n: int, seed: int = 17) -> pd.DataFrame:
    """Random accounts of two classes (two workflows), with gaps in every column:
    pandas nullable integers (``<NA>``), a nullable string class, an object column
    mixing ``None`` and ``NaN``, ``NaT`` in the dates, and a few unknown status codes."""
    rng = np.random.default_rng(seed)
    field = rng.random(n) < 0.2
    status = np.where(field, rng.choice(HOLD_CODES, n), rng.choice(ISP_CODES, n))
    status[rng.random(n) < 0.001] = 77

    def gaps(share: float) -> Any:
        return rng.random(n) < share

    def ints(values: Any, share: float = 0.1) -> pd.Series:
        return pd.Series(pd.array(values, dtype="Int64")).mask(gaps(share))

    def when(lo_days: int, hi_days: int, share: float = 0.2) -> pd.Series:
        secs = rng.integers(lo_days * 86_400, hi_days * 86_400, n)
        return pd.Series(pd.Timestamp(NOW) + pd.to_timedelta(secs, unit="s")).mask(gaps(share))

    classes = np.where(field, "field", None).astype(object)
    payment = rng.choice(np.array(["visa", None, np.nan], dtype=object), n)
    return pd.DataFrame(
        {
            "id": [f"A-{i:06d}" for i in range(n)],
            "account_class": pd.Series(classes, dtype="string"),
            # Every row has a status (a book with a missing one is refused whole);
            # unknown codes are there, and fail alone.
            "status": ints(status, 0.0),
            "balance": ints(rng.choice([0, 1, 9999, 10000, 25075], n)),
            "unpaid_invoices": ints(rng.integers(0, 4, n)),
            "payment_method": pd.Series(payment, dtype=object),
            "availability_days": ints(rng.integers(0, 90, n), 0.5),
            "status_since": when(-400, 0, 0.05),
            "oldest_unpaid_at": when(-120, 2),
            "trial_ends_at": when(-2, 2, 0.5),
            "contract_ends_at": when(-2, 2, 0.5),
            "expires_at": when(-1, 1, 0.6),
            "first_used_at": when(-60, 0, 0.3),
        }
    )


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """A result in one form whatever engine made it: nulls as ``None`` / ``<NA>``, rows
    sorted by account, kind, hop and rule."""
    text = {name: frame[name].to_numpy(dtype=object, na_value=None) for name in frame.columns}
    out = pd.DataFrame(
        {
            "id": text["id"],
            "kind": text["kind"],
            "hop": frame["hop"].astype("Int64"),
            "rule": text["rule"],
            "trigger": text["trigger"],
            "source": frame["source"].astype("int64"),
            "dest": frame["dest"].astype("Int64"),
            "reason": text["reason"],
        }
    )
    kind = out["kind"].map({"change": 0, "blocked": 1, "error": 2})
    order = np.lexsort((out["rule"].fillna(""), out["hop"].fillna(-1), kind, out["id"]))
    return out.iloc[order].reset_index(drop=True)


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    """The 200,000 accounts every engine sweeps."""
    return make_book(N)


@pytest.fixture(scope="module")
def expected(book: pd.DataFrame) -> pd.DataFrame:
    """The single-machine sweep of the whole book, in one piece."""
    return canonical(sweep_frame(book, POLICIES, now=NOW))


# -- the single-machine frame and what travels --------------------------------------------


def test_frame_is_the_columnwise_sweep_row_for_row() -> None:
    """sweep_frame reports exactly the column-wise sweep's changes, refusals and
    unplannable rows, under the accounts' ids."""
    frame = make_book(5_000, seed=3)
    out = sweep_columns(frame, POLICIES, now=NOW)
    got = sweep_frame(frame, POLICIES, now=NOW)
    assert [name for name, _ in CHANGE_COLUMNS] == list(got.columns)
    ids = frame["id"].tolist()
    changes = got[got["kind"] == "change"]
    decided: dict[int, list[tuple[str, str, int, int]]] = {}
    for row in changes.itertuples():
        decided.setdefault(ids.index(row.id), []).append(
            (row.rule, row.trigger, row.source, row.dest)
        )
    assert decided == out.decisions()
    refused: dict[int, list[tuple[str, str]]] = {}
    for row in got[got["kind"] == "blocked"].itertuples():
        refused.setdefault(ids.index(row.id), []).append((row.rule, row.trigger))
    assert refused == out.refusals()
    failed = got[got["kind"] == "error"]
    assert sorted(ids.index(i) for i in failed["id"]) == out.error_row.tolist()
    assert failed["reason"].str.contains("is not in workflow").all()
    assert got[got["kind"] == "blocked"]["reason"].str.contains("refused by").all()


def test_policies_travel_as_plain_data_and_come_back_equal() -> None:
    """Policies (ladder, credit hold with releases, actor, run time) survive the trip
    through JSON text, workflow and all."""
    tuned = attrs.evolve(
        POLICIES[0],
        account_class="retail",
        ladder=DunningLadder(
            [LadderStep(10, min_days=3, min_balance=Decimal("5.50"), min_invoices=1)],
            clear=("settle",),
        ),
        run_at=dt.time(3, 30),
        timezone="Europe/Paris",
        actor=Actor.system("nightly", permissions=frozenset({"edit_account_status"})),
        reason="automation",
    )
    policies = (*POLICIES, tuned)
    text = json.dumps(policies_to_document(policies))
    back = policies_from_document(json.loads(text))
    assert back == policies
    assert len(json.loads(text)["workflows"]) == 2  # each workflow written once


def test_the_document_covers_every_field() -> None:
    """A field added to a policy type must be added to the document too, or workers
    would build a different policy than the driver."""
    for cls, names in FIELDS.items():
        assert sorted(names) == sorted(f.name for f in attrs.fields(cls)), cls.__name__


def test_the_job_is_text_and_pickles_without_code() -> None:
    """What a Spark or Dask task receives is a module-level function and JSON text: the
    standard pickle (which cannot pickle closures) handles it, and the workflow inside is
    the workflow file."""
    text = job_text(POLICIES, now=NOW, scale=2)
    task = pickle.loads(pickle.dumps(functools.partial(sweep_batches, text)))
    assert task.args == (text,)
    doc = json.loads(text)
    assert doc["now"] == NOW.isoformat()
    assert load_workflow(doc["policies"]["workflows"][0]) == POLICIES[0].workflow


def test_unregistered_guard_cannot_travel() -> None:
    """A workflow with a guard no file can name is refused before anything runs."""
    vip = guard("is_vip", lambda ctx: None)
    wf = hold_workflow().extend(
        transitions=[Transition("close", "credit_hold", "closed", guards=[vip])]
    )
    policy = AutomationPolicy(wf, credit_hold=CreditHold(past_due_days=30))
    with pytest.raises(ConfigError, match="'is_vip' is not in the guard registry"):
        job_text(policy, now=NOW, scale=2)


def test_missing_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PySpark (or Dask) the error names the extra to install."""
    monkeypatch.setitem(sys.modules, "pyspark.sql.types", None)
    with pytest.raises(MissingDependency, match=r"pip install acctstate\[spark\]"):
        spark_sweep(object(), POLICIES, now=NOW)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(MissingDependency, match=r"pip install acctstate\[dask\]"):
        dask_sweep(object(), POLICIES, now=NOW)


# -- Dask: a LocalCluster of two worker processes -----------------------------------------


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A cluster of two single-threaded worker processes (so every task is pickled)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_dask_cluster_decides_as_one_machine(
    dask_client: Any, book: pd.DataFrame, expected: pd.DataFrame
) -> None:
    """The sweep of 200,000 accounts in 8 partitions on two worker processes equals
    the single-machine sweep of the whole book."""
    import dask.dataframe as dd

    frame = dd.from_pandas(book, npartitions=8)
    lazy = dask_sweep(frame, POLICIES, now=NOW)
    assert list(lazy.columns) == [name for name, _ in CHANGE_COLUMNS]
    got = lazy.compute()
    pids = dask_client.run(os.getpid)
    assert len(set(pids.values()) - {os.getpid()}) == 2
    pd.testing.assert_frame_equal(canonical(got), expected)


def test_dask_empty_partitions(dask_client: Any, book: pd.DataFrame) -> None:
    """Partitions with no rows give no rows; a book with no rows gives an empty result
    with the result's columns."""
    import dask.dataframe as dd

    frame = dd.from_pandas(book.iloc[:4_000], npartitions=4)
    first = frame[frame["id"] < "A-001000"]  # the last three partitions are empty
    assert first.map_partitions(len).compute().tolist()[1:] == [0, 0, 0]
    got = dask_sweep(first, POLICIES, now=NOW).compute()
    want = sweep_frame(book.iloc[:1_000], POLICIES, now=NOW)
    pd.testing.assert_frame_equal(canonical(got), canonical(want))
    none = dask_sweep(dd.from_pandas(book.iloc[:0], npartitions=1), POLICIES, now=NOW)
    assert none.compute().empty


def test_dask_refuses_bad_columns_before_running() -> None:
    """A float balance or a missing id column is refused at the call, not in a worker."""
    import dask.dataframe as dd

    floats = pd.DataFrame({"id": ["A-1"], "status": [1], "balance": [12.5]})
    with pytest.raises(InvalidArgument, match="float money is refused"):
        dask_sweep(dd.from_pandas(floats, npartitions=1), POLICIES, now=NOW)
    with pytest.raises(InvalidArgument, match="an 'id' column"):
        dask_sweep(dd.from_pandas(floats.drop(columns="id"), npartitions=1), POLICIES, now=NOW)


# -- Spark: a local[2] session ------------------------------------------------------------


def _no_spark_why() -> str | None:
    if shutil.which("java") is None:
        return "no 'java' on PATH (install Java 17)"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install acctstate[spark])"
    return None


NO_SPARK = _no_spark_why()
if NO_SPARK is not None and os.environ.get("CI"):
    # CI (.ci/run) insists on the Spark tests: fail loudly rather than skip.
    pytest.fail(f"the Spark tests are required in CI, but {NO_SPARK}", pytrace=False)
needs_spark = pytest.mark.skipif(
    NO_SPARK is not None, reason=f"Spark tests were NOT run: {NO_SPARK}"
)


class _SparkNotice:
    """Ends the run with a plain line when the Spark tests were skipped."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(f"Spark tests were NOT run: {NO_SPARK}", yellow=True, bold=True)


@pytest.fixture(autouse=True, scope="module")
def _announce_missing_spark(request: pytest.FixtureRequest) -> None:
    """Register the end-of-run notice once when Spark cannot run here."""
    manager = request.config.pluginmanager
    if NO_SPARK is not None and not manager.has_plugin("acctstate-spark-notice"):
        manager.register(_SparkNotice(), "acctstate-spark-notice")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2] session for the module; its Python workers run this interpreter."""
    from pyspark.sql import SparkSession

    before = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("acctstate-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        if before is None:
            os.environ.pop("PYSPARK_PYTHON", None)
        else:
            os.environ["PYSPARK_PYTHON"] = before


@needs_spark
def test_spark_decides_as_one_machine(
    spark: Any, book: pd.DataFrame, expected: pd.DataFrame
) -> None:
    """The sweep of 200,000 accounts in 4 partitions on local[2] equals the
    single-machine sweep of the whole book."""
    frame = spark.createDataFrame(book)
    assert frame.rdd.getNumPartitions() == 4
    result = spark_sweep(frame, POLICIES, now=NOW)
    assert result.columns == [name for name, _ in CHANGE_COLUMNS]
    assert dict(result.dtypes)["id"] == "string"
    pd.testing.assert_frame_equal(canonical(result.toArrow().to_pandas()), expected)


@needs_spark
def test_spark_empty_partitions(spark: Any, book: pd.DataFrame) -> None:
    """Partitions with no rows give no rows; a book with no rows gives an empty result."""
    small = book.iloc[:3]
    frame = spark.createDataFrame(small).repartition(8)
    sizes = frame.rdd.glom().map(len).collect()
    assert sum(sizes) == 3 and sizes.count(0) >= 5
    got = spark_sweep(frame, POLICIES, now=NOW).toArrow().to_pandas()
    pd.testing.assert_frame_equal(canonical(got), canonical(sweep_frame(small, POLICIES, now=NOW)))
    empty = spark.createDataFrame(book.iloc[:0], schema=frame.schema)
    assert spark_sweep(empty, POLICIES, now=NOW).count() == 0


@needs_spark
def test_spark_refuses_bad_columns_before_running(spark: Any) -> None:
    """A DOUBLE balance, a naive (NTZ) date or a missing id column is refused at the
    call, not in an executor."""
    floats = spark.createDataFrame([("A-1", 1, 12.5)], "id string, status long, balance double")
    with pytest.raises(InvalidArgument, match="float money is refused"):
        spark_sweep(floats, POLICIES, now=NOW)
    naive = spark.createDataFrame(
        [("A-1", 1, dt.datetime(2026, 1, 1))], "id string, status long, status_since timestamp_ntz"
    )
    with pytest.raises(InvalidArgument, match="naive is refused"):
        spark_sweep(naive, POLICIES, now=NOW)
    with pytest.raises(InvalidArgument, match="an 'id' column"):
        spark_sweep(floats.drop("id"), POLICIES, now=NOW)


# -- ladders both ways, and what a distributed sweep cannot do -------------------------------


def _ladder_policies() -> list[AutomationPolicy]:
    """The reference ladder (it steps down); the same steps most severe first with a
    final cancellation; a nested ladder with control tags and failure reasons."""
    wf = isp.workflow()
    ref = reference_ladder()
    cancel = LadderCancellation("terminate")
    first_match = DunningLadder(
        [attrs.evolve(ref.steps[-1], cancel=cancel), *ref.steps[-2::-1]],
        home="active",
        order="first_match",
        clear=ref.clear,
        deescalate="deescalate_dunning",
        ends_in_cancellation=True,
    )
    tagged = DunningLadder(
        [
            LadderStep(10, min_days=1, min_balance=Decimal("0.01")),
            LadderStep(11, min_days=15, min_balance=Decimal("0.01"), without_tags={"AUTO_PAY_OFF"}),
            LadderStep(
                12, min_days=30, min_balance=Decimal("50"), failure_reasons={"INVALID_CARD"}
            ),
        ],
        home="active",
        clear=ref.clear,
        deescalate="deescalate_dunning",
        enforcement_off="OVERDUE_ENFORCEMENT_OFF",
    )
    return [AutomationPolicy(wf, ladder=ladder) for ladder in (ref, first_match, tagged)]


TAGS: tuple[tuple[str, ...], ...] = ((), ("AUTO_PAY_OFF",), ("OVERDUE_ENFORCEMENT_OFF",))
FAILURES = (None, "INVALID_CARD", "DECLINED")


def _ladder_book(n: int, seed: int) -> list[Account]:
    rng = np.random.default_rng(seed)
    codes = [1, 10, 11, 12, 13, -11, -12, -13, 22]
    book = []
    for i in range(n):
        owed = Decimal(int(rng.choice([0, 1, 4999, 5000, 25075]))).scaleb(-2)
        book.append(
            Account(
                id=f"L-{i:04d}",
                status=int(rng.choice(codes)),
                status_since=NOW - int(rng.integers(0, 200)) * DAY,
                balance=owed,
                unpaid_invoices=int(rng.integers(0, 4)) if owed else 0,
                oldest_unpaid_at=NOW - int(rng.integers(0, 120)) * DAY if owed else None,
                payment_method=str(rng.choice(["visa", ""])) or None,
                control_tags=TAGS[int(rng.integers(0, len(TAGS)))],
                last_payment_failure=FAILURES[int(rng.integers(0, len(FAILURES)))],
            )
        )
    return book


def _as_frame(book: list[Account]) -> pd.DataFrame:
    """The accounts as a frame; control tags as a text column holds them (names
    separated by commas), which survives Dask turning object columns into text."""
    cols = columns_from_accounts(book)
    frame = pd.DataFrame({k: list(v) if v.dtype.kind == "O" else v for k, v in cols.items()})
    frame["id"] = [a.id for a in book]
    frame["control_tags"] = [", ".join(a.control_tags) or None for a in book]
    for name in frame.columns:
        if str(frame[name].dtype).startswith("datetime64"):
            frame[name] = frame[name].dt.tz_localize("UTC")
    return frame


def _per_account(book: list[Account], policy: AutomationPolicy) -> set[tuple[Any, ...]]:
    out: set[tuple[Any, ...]] = set()
    for p in sweep(book, policy, now=NOW):
        for hop, c in enumerate(p.changes):
            out.add((p.account_id, "change", hop, c.rule, c.trigger, c.source.code, c.dest.code))
        for b in p.blocked:
            out.add((p.account_id, "blocked", None, b.rule, b.trigger, b.status.code, None))
    return out


def _rows(frame: pd.DataFrame) -> set[tuple[Any, ...]]:
    out: set[tuple[Any, ...]] = set()
    for r in canonical(frame).itertuples(index=False):
        hop = None if pd.isna(r.hop) else int(r.hop)
        dest = None if pd.isna(r.dest) else int(r.dest)
        out.add((r.id, r.kind, hop, r.rule, r.trigger, int(r.source), dest))
    return out


@pytest.mark.parametrize("which", ["steps down", "first match, cancels", "tags and failures"])
def test_frame_and_dask_decide_ladders_as_the_per_account_sweep(which: str) -> None:
    """Stepping down, first-match order, a final step that cancels, control tags (one
    turning enforcement off) and last payment failures: the frame sweep, and Dask over
    three partitions, plan exactly the per-account sweep's changes and refusals."""
    policy = _ladder_policies()[
        ["steps down", "first match, cancels", "tags and failures"].index(which)
    ]
    book = _ladder_book(400, seed=len(which))
    want = _per_account(book, policy)
    assert any(r[3] == "dunning_down" for r in want) or which != "steps down"
    assert any(r[3] == "dunning_cancel" for r in want) or which != "first match, cancels"
    frame = _as_frame(book)
    assert _rows(sweep_frame(frame, policy, now=NOW)) == want
    dd = pytest.importorskip("dask.dataframe")
    lazy = dask_sweep(dd.from_pandas(frame, npartitions=3), policy, now=NOW)
    assert _rows(lazy.compute(scheduler="sync")) == want


def test_distributed_sweeps_refuse_the_daily_auto_apply() -> None:
    """A frame has no invoice table, so the auto-apply the per-account sweep runs cannot
    run in partitions: the frame sweep, the job Spark and Dask ship, and the
    partitioned nightly run refuse such a policy, naming it, before anything runs; a
    disabled one is no obstacle."""
    from acctstate.distributed import run_partitioned

    applying = AutomationPolicy(isp.workflow(), ladder=reference_ladder(), auto_apply=True)
    frame = _as_frame(_ladder_book(3, seed=1))
    with pytest.raises(InvalidArgument, match=r"policy\.auto_apply.*no invoice table"):
        sweep_frame(frame, applying, now=NOW)
    classed = attrs.evolve(applying, account_class="retail")
    with pytest.raises(InvalidArgument, match=r"policy\['retail'\]\.auto_apply"):
        job_text([POLICIES[0], classed], now=NOW, scale=2)
    with pytest.raises(InvalidArgument, match=r"policy\.auto_apply"):
        run_partitioned("sqlite:///unused.db", applying.workflow, applying, now=NOW)
    off = attrs.evolve(applying, enabled=False)
    assert sweep_frame(frame, [off], now=NOW).empty


def test_tags_held_as_text_are_read_as_names_or_reported() -> None:
    """Control tags as text: names separated by commas read as those names on both
    paths; the text of a tuple (what an engine that turns object columns into text
    makes of tuples) is not taken for tags: both paths report that account as an
    error, and decide the others."""
    policy = _ladder_policies()[2]
    book = _ladder_book(60, seed=5)
    for a in book[:20]:
        a.control_tags = "AUTO_PAY_OFF, OVERDUE_ENFORCEMENT_OFF"  # type: ignore[assignment]
    # A host object (an Account refuses such tags when they are set).
    host = types.SimpleNamespace(
        **{f.name: getattr(book[20], f.name) for f in attrs.fields(Account)}
    )
    host.control_tags = "('AUTO_PAY_OFF',)"
    host.status, host.balance, host.oldest_unpaid_at = 1, Decimal("60"), NOW - 40 * DAY
    book[20] = host  # type: ignore[call-overload]
    want = _per_account(book, policy)
    errors = {p.account_id for p in sweep(book, policy, now=NOW) if p.error is not None}
    assert "L-0020" in errors
    frame = _as_frame(book)
    frame["control_tags"] = [a.control_tags or None for a in book]
    got = sweep_frame(frame, policy, now=NOW)
    assert set(got[got["kind"] == "error"]["id"]) == errors
    assert _rows(got) - {r for r in _rows(got) if r[1] == "error"} == want
