"""Hypothesis strategies for any workflow: accounts, actors, event data, trigger sequences.

Everything is derived from the workflow itself: the statuses come from its catalog,
the event-data keys from the ``attr`` its guards read, the permissions from its
transitions. A host application therefore gets meaningful inputs for its own
workflow, custom guards on standard attributes included, without writing a strategy.

>>> from acctstate.presets import isp
>>> sorted(guard_inputs(isp.workflow()).items())
[('balance', 'money'), ('payment_method', 'text'), ('period_end', 'instant'), ('status_since', 'instant')]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import strategies as st

from acctstate.core.workflow import Workflow
from acctstate.values.account import Account
from acctstate.values.actors import Actor
from acctstate.values.guards import Guard
from acctstate.values.status import Status

__all__ = [
    "EPOCH",
    "Step",
    "accounts",
    "actors",
    "event_data",
    "guard_inputs",
    "instants",
    "money",
    "offsets",
    "payment_methods",
    "permissions_of",
    "reasons_of",
    "statuses",
    "trigger_sequences",
    "triggers",
]

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""The instant generated data is centred on (fixed, so failures replay exactly)."""

# What each built-in guard reads by default, and of which kind. A guard built with
# ``attr=...`` reads that attribute instead (seen through its kwargs).
_DEFAULT_INPUTS: Mapping[str, tuple[str, str]] = {
    "balance_settled": ("balance", "money"),
    "days_in_status": ("status_since", "instant"),
    "has_payment_method": ("payment_method", "text"),
    # Without invoices or the past-due scalars, it reads balance as the amount past due.
    "nothing_past_due": ("balance", "money"),
    "period_ended": ("period_end", "instant"),
}

# Offsets that matter to the built-in guards and the seeds' rules (a month of dunning,
# 180 days to archive) are drawn often; anything else in between now and then.
_INTERESTING_DAYS = (0, 1, 7, 14, 30, 31, 60, 90, 180, 181, 365)


def _walk(guards: Sequence[Guard]) -> Iterator[Guard]:
    for g in guards:
        yield g
        for value in g.kwargs.values():
            if isinstance(value, Guard):
                yield from _walk([value])
            elif isinstance(value, tuple):
                yield from _walk([v for v in value if isinstance(v, Guard)])


def guard_inputs(wf: Workflow) -> dict[str, str]:
    """The attributes the workflow's built-in guards read, with their kind.

    The kind is ``"money"`` (a ``Decimal``), ``"instant"`` (an aware datetime) or
    ``"text"`` (a string or ``None``). Guards the kit does not know are skipped: give
    their inputs through ``event_data(extra=...)``.

    Args:
        wf: the workflow.

    Returns:
        ``{attribute: kind}``.
    """
    found: dict[str, str] = {}
    for edge in wf.transitions:
        for g in _walk(edge.guards):
            default = _DEFAULT_INPUTS.get(g.name)
            if default is None:
                continue
            attr = g.kwargs.get("attr", default[0])
            if isinstance(attr, str):
                found[attr] = default[1]
    return found


def permissions_of(wf: Workflow) -> tuple[str, ...]:
    """Every permission the workflow's transitions require (sorted).

    Both ``Transition(permission=...)`` and ``has_permission(...)`` guards count.
    """
    found: set[str] = set()
    for edge in wf.transitions:
        if edge.permission is not None:
            found.add(edge.permission)
        for g in _walk(edge.guards):
            perm = g.kwargs.get("permission") if g.name == "has_permission" else None
            if isinstance(perm, str):
                found.add(perm)
    return tuple(sorted(found))


def reasons_of(wf: Workflow, trigger: str, status: Status | None = None) -> tuple[str, ...]:
    """The reason codes ``trigger`` accepts (from ``status`` when given), sorted."""
    found: set[str] = set()
    for edge in wf.transitions:
        if edge.trigger == trigger and edge.reasons and (status is None or edge.source == status):
            found.update(edge.reasons)
    return tuple(sorted(found))


def money(
    *, min_value: Decimal = Decimal("-100"), max_value: Decimal = Decimal("1000")
) -> st.SearchStrategy[Decimal]:
    """Exact amounts with two decimal places; zero and small amounts come up often.

    >>> from hypothesis import find
    >>> find(money(), lambda d: d > 0)
    Decimal('0.01')
    """
    # Whole cents drawn as integers: exact, and much cheaper to draw than st.decimals.
    lo, hi = int(min_value * 100), int(max_value * 100)
    return st.one_of(
        st.sampled_from([Decimal("0"), Decimal("0.00"), Decimal("0.01"), Decimal("-0.01")]),
        st.integers(lo, hi).map(lambda cents: Decimal(cents).scaleb(-2)),
    )


def offsets(*, past: bool = True) -> st.SearchStrategy[dt.timedelta]:
    """Time offsets: the day counts the presets' rules use, and anything up to a year.

    Args:
        past: also draw negative offsets (back-dated events).
    """
    days = st.one_of(st.sampled_from(_INTERESTING_DAYS), st.integers(0, 400))
    forward = st.builds(lambda d, s: dt.timedelta(days=d, seconds=s), days, st.integers(0, 86_399))
    if not past:
        return forward
    return st.one_of(forward, forward.map(lambda d: -d))


def instants(*, around: dt.datetime = EPOCH) -> st.SearchStrategy[dt.datetime]:
    """Timezone-aware instants within a year and a bit either side of ``around``."""
    return offsets().map(lambda d: around + d)


def payment_methods() -> st.SearchStrategy[str | None]:
    """``None`` (nothing on file), an empty string, or a payment method name."""
    return st.sampled_from([None, "", "card", "sepa", "invoice"])


def statuses(wf: Workflow) -> st.SearchStrategy[Status]:
    """Any status of the workflow's catalog."""
    return st.sampled_from(tuple(wf.catalog))


def triggers(wf: Workflow, *, unknown: bool = True) -> st.SearchStrategy[str]:
    """The workflow's triggers, and (when ``unknown``) a name it does not declare."""
    known = st.sampled_from(wf.triggers)
    return st.one_of(known, st.just("no_such_trigger")) if unknown else known


def _value(kind: str, around: dt.datetime) -> st.SearchStrategy[Any]:
    if kind == "money":
        return money()
    if kind == "instant":
        return instants(around=around)
    return payment_methods()


def event_data(
    wf: Workflow,
    *,
    around: dt.datetime = EPOCH,
    extra: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Event data for ``fire`` / ``plan``: any subset of the guards' inputs.

    ``status_since`` is an account fact, not event data, so it is never included.

    Args:
        wf: the workflow.
        around: instants are drawn near this one.
        extra: strategies for more keys (inputs of the host's own guards).
    """
    fields = {
        k: _value(kind, around) for k, kind in guard_inputs(wf).items() if k != "status_since"
    }
    fields.update(extra or {})
    if not fields:
        return st.just({})
    return st.fixed_dictionaries({}, optional=fields)


def actors(wf: Workflow) -> st.SearchStrategy[Actor | None]:
    """No actor, a person or a system actor, holding any subset of the permissions
    the workflow requires."""
    perms = permissions_of(wf)
    held = st.sets(st.sampled_from(perms)) if perms else st.just(set[str]())
    person = st.builds(lambda p: Actor("clerk", permissions=frozenset(p)), held)
    system = st.builds(lambda p: Actor.system("sweep", permissions=frozenset(p)), held)
    return st.one_of(st.none(), person, system)


_ACCOUNT_FIELDS = frozenset(a.name for a in attrs.fields(Account))


@st.composite
def _account(draw: st.DrawFn, wf: Workflow, pool: Sequence[Status], around: dt.datetime) -> Account:
    status = draw(st.sampled_from(pool))
    since = draw(instants(around=around))
    fields: dict[str, Any] = {}
    for name, kind in sorted(guard_inputs(wf).items()):
        if name in _ACCOUNT_FIELDS and name != "status_since":
            fields[name] = draw(_value(kind, around))
    fields.setdefault("balance", draw(money()))
    fields.setdefault("payment_method", draw(payment_methods()))
    return wf.open("A-1", status, at=since, imported=True, **fields)


def accounts(
    wf: Workflow,
    *,
    statuses: Sequence[Status | int | str] | None = None,
    around: dt.datetime = EPOCH,
) -> st.SearchStrategy[Account]:
    """Accounts in any status of ``wf`` (or of ``statuses``), with their history opened.

    The guards' inputs that are ``Account`` fields (balance, payment method, period
    end, ...) are drawn too, as is ``status_since``.

    Args:
        wf: the workflow.
        statuses: restrict to these statuses (default: the whole catalog).
        around: instants are drawn near this one.
    """
    pool = tuple(wf.catalog) if statuses is None else tuple(wf.catalog[s] for s in statuses)
    return _account(wf, pool, around)


@attrs.frozen
class Step:
    """One firing of a trigger sequence.

    Attributes:
        trigger: the trigger (possibly one the workflow does not declare).
        after: the time since the previous step (negative: back-dated).
        data: event data.
        actor: who fires it.
        reason: the reason code given.
    """

    trigger: str
    after: dt.timedelta
    data: Mapping[str, Any]
    actor: Actor | None
    reason: str | None


def trigger_sequences(
    wf: Workflow, *, min_size: int = 0, max_size: int = 20
) -> st.SearchStrategy[list[Step]]:
    """Sequences of [`Step`][acctstate.testing.Step] to fire one after the other on an account.

    Reasons are drawn from those the trigger accepts anywhere in the workflow, so
    transitions that require a reason do fire.
    """

    @st.composite
    def step(draw: st.DrawFn) -> Step:
        trigger = draw(triggers(wf))
        allowed = reasons_of(wf, trigger)
        reason = draw(st.one_of(st.none(), st.sampled_from(allowed))) if allowed else None
        return Step(
            trigger,
            draw(offsets()),
            draw(event_data(wf)),
            draw(actors(wf)),
            reason,
        )

    return st.lists(step(), min_size=min_size, max_size=max_size)
