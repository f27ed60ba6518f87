"""Tables: plain records of workflows, histories, sweeps and batches, and pandas
DataFrames of them (pandas imported only when a frame is asked for)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import ApplyOutcome, ColumnarSweep, SweepPlan
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import History, StatusChange
from acctstate.world.export._deps import pandas_module
from acctstate.world.simulation import SimulationResult

__all__ = [
    "apply_records",
    "change_record",
    "history_frame",
    "status_records",
    "statuses_frame",
    "sweep_records",
    "to_frame",
    "transition_records",
    "transitions_frame",
    "workflow_frame",
]


def status_records(wf: Workflow) -> list[dict[str, Any]]:
    """One plain dict per status of ``wf``, in code order.

    >>> from acctstate.presets import isp
    >>> row = status_records(isp.workflow())[0]
    >>> row["code"], row["name"], row["backend"], row["terminal"]
    (-99, 'archived', 'closed', True)
    """
    return [
        {
            "code": s.code,
            "name": s.name,
            "label": s.label,
            "backend": s.backend.value,
            "provisioned": s.provisioned,
            "billable": s.billable,
            "usage_billable": s.usage_billable,
            "terminal": s.terminal,
            "one_way": s.one_way,
            "dunning_step": s.dunning_step,
            "show_in_statistics": s.show_in_statistics,
            "icon": s.icon,
            "color": s.color,
            "description": s.description,
        }
        for s in wf.catalog
    ]


def transition_records(wf: Workflow) -> list[dict[str, Any]]:
    """One plain dict per transition of ``wf`` (``Workflow.table_rows`` with the codes
    and with guards and reasons as text), in workflow order."""
    out = []
    for e, row in zip(wf.transitions, wf.table_rows(), strict=True):
        out.append(
            {
                "trigger": row["trigger"],
                "from": row["from"],
                "from_code": e.source.code,
                "to": row["to"],
                "to_code": e.dest.code,
                "guards": ", ".join(row["guards"]),
                "permission": row["permission"],
                "reasons": None if row["reasons"] is None else ", ".join(row["reasons"]),
                "description": row["description"],
            }
        )
    return out


def change_record(change: StatusChange) -> dict[str, Any]:
    """One change as a plain dict (the columns of ``History.to_records`` plus the account)."""
    return {
        "account": change.account_id,
        "at": change.at,
        "recorded_at": change.recorded_at,
        "from": change.source.name,
        "to": change.dest.name,
        "trigger": change.trigger,
        "reason": change.reason,
        "note": change.note,
        "actor": None if change.actor is None else change.actor.id,
        "automatic": change.automatic,
        "effects": [e.kind for e in change.effects],
        "cause": None if (cause := change.cause) is None else str(cause),
    }


def sweep_records(plan: SweepPlan) -> list[dict[str, Any]]:
    """One plain dict per planned transition, blocked rule and error of a sweep.

    Columns: ``account``, ``outcome`` (``planned``, ``blocked`` or ``error``),
    ``hop`` (the change's position for its account), ``rule``, ``trigger``, ``from``,
    ``to`` and ``detail`` (the refusals or the error).
    """
    out: list[dict[str, Any]] = []
    for p in plan.plans:
        for hop, c in enumerate(p.changes):
            out.append(
                {
                    "account": p.account_id,
                    "outcome": "planned",
                    "hop": hop,
                    "rule": c.rule,
                    "trigger": c.trigger,
                    "from": c.source.name,
                    "to": c.dest.name,
                    "detail": None,
                }
            )
        for b in p.blocked:
            out.append(
                {
                    "account": p.account_id,
                    "outcome": "blocked",
                    "hop": None,
                    "rule": b.rule,
                    "trigger": b.trigger,
                    "from": b.status.name,
                    "to": None,
                    "detail": "; ".join(str(r) for r in b.refusals),
                }
            )
        if p.error is not None:
            out.append(
                {
                    "account": p.account_id,
                    "outcome": "error",
                    "hop": None,
                    "rule": None,
                    "trigger": None,
                    "from": None,
                    "to": None,
                    "detail": str(p.error),
                }
            )
    return out


def apply_records(outcome: ApplyOutcome) -> list[dict[str, Any]]:
    """One plain dict per change made by applying a sweep, plus one per account that
    stopped on an error (``outcome`` ``changed`` or ``error``)."""
    out: list[dict[str, Any]] = []
    for r in outcome.results:
        for c in r.changes:
            out.append({"outcome": "changed", **change_record(c), "error": None})
        if r.error is not None:
            out.append({"outcome": "error", "account": r.account_id, "error": str(r.error)})
    return out


def _frame(records: list[dict[str, Any]], columns: list[str] | None, needed_for: str) -> Any:
    pd = pandas_module(needed_for)
    return pd.DataFrame.from_records(records, columns=columns)


def statuses_frame(wf: Workflow) -> Any:
    """The statuses of ``wf`` as a pandas DataFrame (see
    [`status_records`][acctstate.export.status_records]).

    Raises:
        MissingDependency: pandas is not installed (``pip install acctstate[notebook]``).
    """
    return _frame(status_records(wf), None, "statuses_frame")


def workflow_frame(wf: Workflow, *, what: str = "transitions") -> Any:
    """The transitions (or, with ``what="statuses"``, the statuses) of ``wf`` as a
    pandas DataFrame; what ``Workflow.to_frame`` returns.

    Raises:
        InvalidArgument: ``what`` is neither.
        MissingDependency: pandas is not installed (``pip install acctstate[notebook]``).
    """
    if what == "transitions":
        return transitions_frame(wf)
    if what == "statuses":
        return statuses_frame(wf)
    raise InvalidArgument("what", what, "'transitions' or 'statuses'")


def transitions_frame(wf: Workflow) -> Any:
    """The transitions of ``wf`` as a pandas DataFrame (see
    [`transition_records`][acctstate.export.transition_records]).

    Raises:
        MissingDependency: pandas is not installed (``pip install acctstate[notebook]``).
    """
    return _frame(transition_records(wf), None, "transitions_frame")


_HISTORY_COLUMNS = [
    "account",
    "at",
    "recorded_at",
    "from",
    "to",
    "trigger",
    "reason",
    "note",
    "actor",
    "automatic",
    "effects",
    "cause",
]


def _changes_of(source: Any) -> Iterable[StatusChange]:
    history = getattr(source, "history", source)
    if isinstance(history, History):
        return history
    if isinstance(source, Iterable) and not isinstance(source, str | bytes):
        return (c for item in source for c in _changes_of(item))
    if isinstance(source, StatusChange):
        return (source,)
    raise InvalidArgument(
        "source",
        source,
        "a History, an account with a history, StatusChange values, or an iterable of them",
    )


def history_frame(source: Any) -> Any:
    """Changes as a pandas DataFrame, one row per change, in the order given.

    Args:
        source: a [`History`][acctstate.history.History], an account with a ``history``, a
            [`StatusChange`][acctstate.history.StatusChange], or an iterable of any of these (many
            accounts' histories are stacked; the ``account`` column tells them apart).

    Raises:
        InvalidArgument: ``source`` holds something else.
        MissingDependency: pandas is not installed (``pip install acctstate[notebook]``).
    """
    records = [change_record(c) for c in _changes_of(source)]
    return _frame(records, _HISTORY_COLUMNS, "history_frame")


def to_frame(obj: Any) -> Any:
    """Any acctstate result as a pandas DataFrame.

    A ``Workflow`` gives its transitions (use [`statuses_frame`][acctstate.export.statuses_frame]
    for its statuses), a history, an account or changes give
    [`history_frame`][acctstate.export.history_frame], a sweep plan
    [`sweep_records`][acctstate.export.sweep_records], the outcome of applying it
    [`apply_records`][acctstate.export.apply_records], a column-wise sweep its own ``to_frame()``, a
    simulation its daily counts (one row per day, one column per status that ever held an account),
    and anything with ``to_records()`` (a batch ``Preview`` or ``BatchReport``, account statistics)
    its records.

    Raises:
        InvalidArgument: ``obj`` is none of these.
        MissingDependency: pandas is not installed (``pip install acctstate[notebook]``).
    """
    if isinstance(obj, Workflow):
        return transitions_frame(obj)
    if isinstance(obj, SweepPlan):
        return _frame(sweep_records(obj), None, "to_frame")
    if isinstance(obj, ApplyOutcome):
        return _frame(apply_records(obj), None, "to_frame")
    if isinstance(obj, ColumnarSweep):
        pandas_module("to_frame")
        return obj.to_frame()
    if isinstance(obj, SimulationResult):
        pd = pandas_module("to_frame")
        days = sorted(obj.daily)
        frame = pd.DataFrame.from_records([obj.daily[d] for d in days], columns=list(obj.seen()))
        frame.index = pd.DatetimeIndex(days, name="date")
        return frame
    if isinstance(obj, History | StatusChange) or isinstance(
        getattr(obj, "history", None), History
    ):
        return history_frame(obj)
    to_records = getattr(obj, "to_records", None)
    if callable(to_records):
        return _frame(to_records(), None, "to_frame")
    if isinstance(obj, list | tuple) and all(isinstance(c, StatusChange) for c in obj):
        return history_frame(obj)
    raise InvalidArgument(
        "obj",
        obj,
        "a Workflow, History, account, StatusChange values, SweepPlan, ApplyOutcome, "
        "ColumnarSweep, SimulationResult or an object with to_records()",
    )
