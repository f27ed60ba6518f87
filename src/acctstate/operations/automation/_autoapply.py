"""The daily auto-apply: unapplied payments and credits go to the oldest open invoice
balances first, before the ladder and credit hold are evaluated.

Planning is pure ([`planned_allocations`][acctstate.invoices.planned_allocations]): one
[`ApplyPayment`][acctstate.invoices.ApplyPayment] per allocation, keyed from the account, the
instant and its place in the run. Booking ([`auto_apply`][acctstate.invoices.auto_apply])
records one history entry (trigger ``auto_apply``, from the status to itself) carrying
those effects, then updates the account's payments and credits; a second run at the same
instant finds nothing unapplied to allocate.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from acctstate.core.workflow import Workflow
from acctstate.operations.holds._place import check_record
from acctstate.values.account import account_id_of
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks, dispatch
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import OPEN, History, StatusChange, effect_key_prefix
from acctstate.values.invoices import allocate
from acctstate.values.ledger import ApplyPayment

__all__ = ["AUTO_APPLY", "auto_apply", "planned_allocations", "refuse_auto_apply"]

AUTO_APPLY = "auto_apply"
"""The trigger recorded by the auto-apply's history entry (the status does not move)."""


def planned_allocations(account: Any, at: dt.datetime) -> tuple[ApplyPayment, ...]:
    """What the daily auto-apply would book on ``account`` at ``at``; nothing changes.

    An account without ``invoices`` (``None``) has nothing to allocate.

    Args:
        account: an ``Account`` or a host object with ``invoices``, ``payments`` and
            ``credits`` (and ``id``, ``timezone``).
        at: the instant of the run (timezone-aware).

    Returns:
        One keyed [`ApplyPayment`][acctstate.invoices.ApplyPayment] per allocation, oldest
        invoice first.

    Raises:
        InvalidArgument: a naive ``at``, or facts of the wrong type.
    """
    require_aware(at)
    invoices = getattr(account, "invoices", None)
    if invoices is None:
        return ()
    payments = getattr(account, "payments", None) or ()
    credits = getattr(account, "credits", None) or ()
    if not payments and not credits:
        return ()
    made = allocate(invoices, payments, credits, at=at, timezone=getattr(account, "timezone", None))
    if not made:
        return ()
    prefix = effect_key_prefix(account_id_of(account), AUTO_APPLY, at, 0)
    return tuple(
        ApplyPayment(invoice, amount, payment=fid, key=f"{prefix}#{i}")
        for i, (fid, invoice, amount) in enumerate(made)
    )


def _booked(account: Any, applied: tuple[ApplyPayment, ...]) -> dict[str, tuple[Any, ...]]:
    """The account's payments and credits once ``applied`` is booked (those it changes)."""
    out: dict[str, tuple[Any, ...]] = {}
    for name in ("payments", "credits"):
        funds = getattr(account, name, None) or ()
        by_id = {f.id: f for f in funds}
        changed = False
        for effect in applied:
            f = by_id.get(effect.payment)
            if f is not None:
                by_id[effect.payment] = f.applying(effect.invoice, effect.amount)
                changed = True
        if changed:
            out[name] = tuple(by_id[f.id] for f in funds)
    return out


def _book(account: Any, applied: tuple[ApplyPayment, ...]) -> None:
    """Record the allocations on the account's payments and credits."""
    for name, funds in _booked(account, applied).items():
        setattr(account, name, funds)


class AfterAutoApply:
    """The account as it will be once planned allocations are booked: its payments and
    credits say what they are applied to; every other fact is the account's own.

    The sweep plans on it, so the guards of the changes it plans (``nothing_past_due``
    on a ``settle``) read the facts the ladder read, as ``apply`` will find them once
    it has booked the allocations. Private to the automation.
    """

    __slots__ = ("_account", "_facts")

    def __init__(self, account: Any, applied: tuple[ApplyPayment, ...]) -> None:
        self._account = account
        self._facts = _booked(account, applied)

    def __getattr__(self, name: str) -> Any:
        facts = self._facts
        if name in facts:
            return facts[name]
        return getattr(self._account, name)


def book_allocations(
    wf: Workflow,
    account: Any,
    applied: tuple[ApplyPayment, ...],
    at: dt.datetime,
    *,
    actor: Actor | None,
    reason: str | None,
    hooks: Hooks | None,
) -> StatusChange:
    """Book planned allocations: the history entry first (it refuses an instant before
    the latest entry), then the payments and credits. Private to the automation."""
    status = wf.status_of(account)
    total = sum((e.amount for e in applied), Decimal(0))
    note = f"auto-apply: {total} to {len({e.invoice for e in applied})} invoice(s)"
    change = StatusChange(
        account_id_of(account),
        status,
        status,
        AUTO_APPLY,
        at,
        wf.clock.now(),
        reason,
        note,
        actor,
        applied,
    )
    check_record(account, change)  # refused before the host's ledger hears of it
    run = hooks if hooks is not None else wf.hooks
    if run is not None:
        if not isinstance(run, Hooks):
            raise InvalidArgument("hooks", run, "an acctstate.Hooks")
        dispatch(change, run)
    history = getattr(account, "history", None)
    if isinstance(history, History):
        if not history:
            since = getattr(account, "status_since", None) or at
            history.append(StatusChange(change.account_id, status, status, OPEN, since))
        history.append(change)
    _book(account, applied)
    return change


def auto_apply(
    wf: Workflow,
    account: Any,
    *,
    at: dt.datetime,
    actor: Actor | None = SYSTEM,
    reason: str | None = None,
    hooks: Hooks | None = None,
) -> StatusChange | None:
    """Run the daily auto-apply on one account now: apply its unapplied payments and
    credits to its oldest open invoice balances first.

    The allocations are recorded as one history entry (trigger ``auto_apply``, the
    status unchanged) whose effects are the
    [`ApplyPayment`][acctstate.invoices.ApplyPayment] values for the host's ledger; the
    account's payments and credits then say what they are applied to. Running it again
    at the same instant allocates nothing more.

    Args:
        wf: the account's workflow.
        account: an ``Account`` or a host object (``invoices``, ``payments``,
            ``credits`` settable).
        at: the instant of the run (timezone-aware).
        actor: who the entry is recorded as (the system actor by default).
        reason: a reason code for the entry.
        hooks: hooks for the effects (default: the workflow's own): the ledger's
            ``apply_payment`` receives each allocation, before anything is recorded;
            without a ledger hook the host books them from the entry.

    Returns:
        The recorded entry, or ``None`` when there was nothing to allocate.

    Raises:
        HistoryConflict: ``at`` is before the latest history entry (nothing changed).
        InvalidArgument: a naive ``at`` or facts of the wrong type (nothing changed).

    >>> import datetime as dt
    >>> from decimal import Decimal
    >>> from acctstate.account import Account
    >>> from acctstate.invoices import Invoice, Payment
    >>> from acctstate.presets import account_class
    >>> wf = account_class.workflow()
    >>> acct = Account(id="A-1", status=1,
    ...     invoices=[Invoice("I-1", Decimal("30"), dt.date(2026, 1, 1), dt.date(2026, 1, 15))],
    ...     payments=[Payment("P-1", Decimal("50"), dt.date(2026, 2, 1))])
    >>> at = dt.datetime(2026, 2, 2, 2, 0, tzinfo=dt.UTC)
    >>> [(e.payment, e.invoice, e.amount) for e in auto_apply(wf, acct, at=at).effects]
    [('P-1', 'I-1', Decimal('30'))]
    >>> acct.payments[0].unapplied, auto_apply(wf, acct, at=at)
    (Decimal('20'), None)
    """
    applied = planned_allocations(account, at)
    if not applied:
        return None
    return book_allocations(wf, account, applied, at, actor=actor, reason=reason, hooks=hooks)


def refuse_auto_apply(policies: Any, why: str) -> None:
    """Refuse an enabled policy with the daily auto-apply where a run cannot book it.

    Args:
        policies: the run's policies (``AutomationPolicy`` values).
        why: what the run lacks and what to do instead (the error's "expected" part).

    Raises:
        InvalidArgument: naming ``policy.auto_apply`` (or ``policy['<class>'].auto_apply``).
    """
    for p in policies:
        if getattr(p, "enabled", False) and getattr(p, "auto_apply", False):
            cls = getattr(p, "account_class", None)
            name = "policy.auto_apply" if cls is None else f"policy[{cls!r}].auto_apply"
            raise InvalidArgument(name, True, why)
