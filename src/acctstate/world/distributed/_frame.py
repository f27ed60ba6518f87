"""One partition's sweep: a pandas frame of accounts in, a frame of planned changes out.

This is all a worker runs. It receives the job as text (the policies' document, the
instant and the money scale; see ``_document``), builds the policies once per process
and job, and hands its rows to the column-wise sweep: the same function, the same
decisions as one sweep of the whole book on one machine.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from typing import Any

from acctstate.operations.automation import RULES, AutomationPolicy, sweep_columns
from acctstate.operations.automation._autoapply import refuse_auto_apply
from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument, MissingDependency
from acctstate.world.distributed._document import policies_from_document, policies_to_document

__all__ = ["CHANGE_COLUMNS", "job_text", "sweep_frame", "sweep_job"]

CHANGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "the account id, as in the accounts' id column"),
    (
        "kind",
        "'change' (a planned transition), 'blocked' (a rule the guards refused) or "
        "'error' (the account could not be planned)",
    ),
    ("hop", "the step of the account's walk, from 0 (changes only)"),
    ("rule", "the automation rule (changes and refusals)"),
    ("trigger", "the trigger it fires, or tried first"),
    ("source", "the status code the change leaves; where a refused or failed account stays"),
    ("dest", "the status code the change enters (changes only)"),
    (
        "reason",
        "why a rule was refused (the guards or permission on its edges), or why "
        "the account could not be planned",
    ),
)
"""The columns of a sweep's result, in order, with what each holds (``None`` where it
does not apply)."""

_KINDS = ("change", "blocked", "error")


def _pandas() -> Any:
    try:
        import pandas  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - pandas comes with both extras
        raise MissingDependency(
            "pandas", needed_for="the distributed sweep", install="pip install acctstate[dask]"
        ) from None
    return pandas


def _numpy() -> Any:
    import numpy  # comes with pandas

    return numpy


def _policies(
    policy: AutomationPolicy | Sequence[AutomationPolicy],
) -> tuple[AutomationPolicy, ...]:
    """The policies of a distributed sweep, refusing what it cannot do as one machine.

    Raises:
        InvalidArgument: no policy, or an enabled policy with the daily auto-apply: a
            distributed sweep (and the partitioned nightly run) reads the accounts'
            columns only, no invoice table, so it cannot allocate payments and credits
            as the per-account sweep does; it is refused rather than run without it.
            Likewise a credit hold that places holds (the frame has no table of holds).
    """
    given = (policy,) if isinstance(policy, AutomationPolicy) else tuple(policy)
    if not given:
        raise InvalidArgument("policy", policy, "an AutomationPolicy (or a sequence of them)")
    refuse_auto_apply(
        (p for p in given if isinstance(p, AutomationPolicy)),
        "a policy without the daily auto-apply: the distributed sweeps read no "
        "invoice table, so they cannot apply payments and credits (apply them "
        "before the run and give past_due_balance, or sweep with "
        "sweep_columns(..., invoices=...))",
    )
    for p in given:
        if isinstance(p, AutomationPolicy) and p.credit_hold is not None and p.credit_hold.hold:
            # The frame has no table of holds: refuse rather than plan without them.
            raise InvalidArgument(
                "policy",
                p.credit_hold.hold,
                "a credit hold that moves the status (a policy placing holds runs with "
                "sweep_columns(..., holds=...) or a store's run_automation)",
            )
    return given


def job_text(
    policy: AutomationPolicy | Sequence[AutomationPolicy], *, now: dt.datetime, scale: int
) -> str:
    """The job every worker receives, as JSON text: the policies' document (workflows in
    their file form), ``now`` and the money scale. Plain data, nothing executable."""
    require_aware(now, "now")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 0:
        raise InvalidArgument("scale", scale, "a non-negative int (2: cents)")
    doc = {
        "policies": policies_to_document(_policies(policy)),
        "now": now.isoformat(),
        "scale": scale,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


@functools.lru_cache(maxsize=8)
def _job(text: str) -> tuple[tuple[AutomationPolicy, ...], dt.datetime, int]:
    # Once per worker process and job: building a workflow validates its whole graph.
    doc = json.loads(text)
    return (
        policies_from_document(doc["policies"]),
        dt.datetime.fromisoformat(doc["now"]),
        doc["scale"],
    )


def sweep_job(frame: Any, text: str) -> Any:
    """[`sweep_frame`][acctstate.distributed.sweep_frame] with the job as text (what a worker runs
    on a partition)."""
    policies, now, scale = _job(text)
    return _changes(frame, policies, now, scale)


def sweep_frame(
    frame: Any,
    policy: AutomationPolicy | Sequence[AutomationPolicy],
    *,
    now: dt.datetime,
    scale: int = 2,
) -> Any:
    """Plan the sweep of a pandas DataFrame of accounts: one row per planned change,
    refused rule and unplannable account (see
    [`CHANGE_COLUMNS`][acctstate.distributed.CHANGE_COLUMNS]); nothing changes.

    This is what every partition of [`spark_sweep`][acctstate.distributed.spark_sweep] and
    [`dask_sweep`][acctstate.distributed.dask_sweep] runs, so the answer for a book is the same
    whether it is swept here in one piece or in partitions on a cluster. The accounts' columns are
    those of [`sweep_columns`][acctstate.automation.sweep_columns], plus an ``id`` column.

    Args:
        frame: the accounts (a pandas DataFrame with ``id`` and ``status`` columns).
        policy: one policy, or one per account class.
        now: the instant of the sweep (timezone-aware).
        scale: decimals of integer money columns (2: cents).

    Returns:
        A pandas DataFrame, sorted by account (in the frame's order), then changes in
        order, refusals, errors.

    Raises:
        InvalidArgument: no ``id`` column, a naive ``now``, a column the column-wise
            sweep refuses (float money, naive dates ...), or a policy with the daily
            auto-apply (a frame has no invoice table to apply payments to).

    >>> import datetime as dt, pandas as pd
    >>> from acctstate.automation import AutomationPolicy, reference_ladder
    >>> from acctstate.presets import isp
    >>> now = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
    >>> book = pd.DataFrame({
    ...     "id": ["A-1", "A-2", "A-3"], "status": [1, 12, 77],
    ...     "balance": pd.array([4000, 0, None], dtype="Int64"),
    ...     "oldest_unpaid_at": pd.to_datetime(["2026-05-10", None, None], utc=True)})
    >>> policy = AutomationPolicy(isp.workflow(), ladder=reference_ladder())
    >>> out = sweep_frame(book, policy, now=now)
    >>> print(out[["id", "kind", "hop", "source", "dest"]].to_string(index=False))
     id   kind  hop  source  dest
    A-1 change    0       1    10
    A-1 change    1      10    11
    A-2 change    0      12     1
    A-3  error <NA>      77  <NA>
    >>> out["trigger"][:3].tolist()
    ['escalate_dunning', 'escalate_dunning', 'settle']
    >>> out["reason"].iloc[-1]
    "status code 77 is not in workflow 'isp'"
    """
    return _changes(frame, _policies(policy), require_aware(now, "now"), scale)


def _changes(
    frame: Any, policies: tuple[AutomationPolicy, ...], now: dt.datetime, scale: int
) -> Any:
    pd = _pandas()
    np = _numpy()
    if "id" not in frame.columns:
        raise InvalidArgument(
            "columns", sorted(map(str, frame.columns)), "an 'id' column naming each account"
        )
    out = sweep_columns(frame, policies, now=now, scale=scale)
    changed, blocked, failed = out.change_row, out.blocked_row, out.error_row
    n, m, k = len(changed), len(blocked), len(failed)
    rows = np.concatenate([changed, blocked, failed])
    kind = np.repeat(np.arange(3, dtype=np.int8), [n, m, k])
    # By account in the frame's order; a row's changes (in hop order), then its
    # refusals (in rule order), then its error.
    order = np.lexsort((kind, rows))
    stays = out.status[np.concatenate([blocked, failed])].astype(np.int64)
    rules = np.asarray(RULES, dtype=object)
    triggers = np.asarray(out.triggers or ("",), dtype=object)
    none = np.full(k, None, dtype=object)
    only_changes = np.concatenate([np.zeros(n, dtype=bool), np.ones(m + k, dtype=bool)])
    padding = np.zeros(m + k, dtype=np.int64)
    reasons = _Reasons(frame, policies)
    refused = [
        reasons.refused(r, c, t)
        for r, c, t in zip(
            blocked.tolist(),
            stays[:m].tolist(),
            triggers[out.blocked_trigger].tolist(),
            strict=True,
        )
    ]
    unplanned = [
        reasons.failed(r, c) for r, c in zip(failed.tolist(), stays[m:].tolist(), strict=True)
    ]
    columns = {
        "kind": np.asarray(_KINDS, dtype=object)[kind],
        "hop": pd.arrays.IntegerArray(
            np.concatenate([out.change_hop, padding]).astype(np.int64), only_changes
        ),
        "rule": np.concatenate([rules[out.change_rule], rules[out.blocked_rule], none]),
        "trigger": np.concatenate(
            [triggers[out.change_trigger], triggers[out.blocked_trigger], none]
        ),
        "source": np.concatenate([out.change_source, stays]).astype(np.int64),
        "dest": pd.arrays.IntegerArray(
            np.concatenate([out.change_dest, padding]).astype(np.int64), only_changes
        ),
        "reason": np.array([*([None] * n), *refused, *unplanned], dtype=object),
    }
    # The ids keep the frame's own column type; the text columns stay plain objects
    # (inferring a string type for them would cost more than the sweep).
    out_columns = {"id": frame["id"].iloc[rows[order]].reset_index(drop=True)}
    for name, values in columns.items():
        kept = values[order]
        out_columns[name] = pd.Series(kept, dtype=object) if kept.dtype == object else kept
    return pd.DataFrame(out_columns)


class _Reasons:
    """Why a rule was refused or an account could not be planned, in words (few rows)."""

    def __init__(self, frame: Any, policies: tuple[AutomationPolicy, ...]) -> None:
        self.by_class = {p.account_class: p for p in policies}
        self.classes = (
            frame["account_class"].to_numpy(dtype=object, na_value=None)
            if "account_class" in frame.columns
            else None
        )
        self.said: dict[tuple[Any, ...], str] = {}

    def policy(self, row: int) -> AutomationPolicy:
        cls = None if self.classes is None else self.classes[row]
        p = self.by_class.get(cls) if cls in self.by_class else None
        return p if p is not None else self.by_class[None]

    def refused(self, row: int, code: int, trigger: str) -> str:
        p = self.policy(row)
        key = (p.account_class, code, trigger)
        if key not in self.said:
            wf = p.workflow
            parts = []
            for _, _, edge in wf.table.candidates(code, trigger):
                where = f"{edge.source.name} -> {edge.dest.name}"
                if edge.permission is not None and not p.actor.can(edge.permission):
                    parts.append(f"{where}: {p.actor.id!r} lacks permission {edge.permission!r}")
                else:
                    names = ", ".join(g.name for g in edge.guards)
                    parts.append(f"{where}: refused by {names}")
            self.said[key] = "; ".join(parts)
        return self.said[key]

    def failed(self, row: int, code: int) -> str:
        p = self.policy(row)
        wf = p.workflow
        if code not in wf.catalog:
            return f"status code {code} is not in workflow {wf.name!r}"
        return "the rules do not settle: the account would keep moving"
