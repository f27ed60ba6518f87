"""Invoices, payments and credits as facts, and what they say about an account as of
any instant: the past-due balance, the days past due of the oldest past-due invoice,
the number of past-due invoices and the unapplied funds.

Past due is a property of invoices, not of a balance. An invoice is *open* while part of
it is unpaid; it is *past due* from the first instant of the calendar day after its due
date, in the account's billing time zone, for as long as it is open. Its due date itself
is day 0 (not past due); day N past due begins at local midnight N calendar days after
the due date (the first instant of that day when the clocks skip midnight). A total
balance that includes an invoice not yet due is therefore not past due at all.

A due date may be a ``datetime.date`` (a calendar day in the billing time zone) or an
aware instant (its calendar day in that zone counts). ``issued`` and ``received`` say
from when an invoice or a payment exists: a date stands for the first instant of that
day in the billing time zone; before it, the invoice or payment is ignored.

>>> import datetime as dt
>>> from decimal import Decimal
>>> inv = [Invoice("I-1", Decimal("40.00"), dt.date(2026, 1, 1), dt.date(2026, 1, 15)),
...        Invoice("I-2", Decimal("40.00"), dt.date(2026, 2, 1), dt.date(2026, 2, 15))]
>>> facts = past_due(inv, (), (), at=dt.datetime(2026, 2, 10, 2, 0, tzinfo=dt.UTC))
>>> facts.past_due_balance, facts.days_past_due, facts.past_due_invoices, facts.open_balance
(Decimal('40.00'), 26, 1, Decimal('80.00'))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from acctstate.values.clock import billing_zone, calendar_days, require_aware, start_of_local_day
from acctstate.values.errors import InvalidArgument

__all__ = [
    "Credit",
    "Invoice",
    "PastDue",
    "Payment",
    "allocate",
    "dunning_facts",
    "past_due",
]

When = dt.datetime | dt.date


def _id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str or not value:
        raise InvalidArgument(attribute.name, value, "a non-empty id (str)")


def _money(value: object, name: str = "amount") -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidArgument(name, value, "a finite Decimal (float money is refused)")
    if value < 0:
        raise InvalidArgument(name, value, "a non-negative amount")
    return value


def _amount(value: object) -> Decimal:
    return _money(value, "amount")


def _paid(value: object) -> Decimal:
    return _money(value, "paid")


def _when(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, dt.datetime):
        require_aware(value, attribute.name)
    elif not isinstance(value, dt.date):
        raise InvalidArgument(
            attribute.name, value, "a timezone-aware datetime, or a datetime.date (a calendar day)"
        )


def _applied(value: object) -> tuple[tuple[str, Decimal], ...]:
    pairs: Iterable[Any] = value.items() if isinstance(value, Mapping) else value  # type: ignore[assignment]
    if isinstance(pairs, str | bytes) or not hasattr(pairs, "__iter__"):
        raise InvalidArgument("applied_to", value, "a mapping of invoice id -> Decimal amount")
    out: dict[str, Decimal] = {}
    for pair in pairs:
        try:
            invoice, amount = pair
        except (TypeError, ValueError):
            raise InvalidArgument(
                "applied_to", pair, "(invoice id, Decimal amount) pairs"
            ) from None
        if type(invoice) is not str:
            raise InvalidArgument("applied_to", invoice, "an invoice id (str)")
        out[invoice] = out.get(invoice, Decimal(0)) + _money(amount, "applied_to")
    return tuple(sorted(out.items()))


@attrs.frozen
class Invoice:
    """One invoice: its amount, when it was issued and when it falls due.

    Args:
        id: the invoice id (unique per account).
        amount: the invoiced amount (``Decimal``, not negative).
        issued: when it was issued (an aware instant, or a date in the billing zone);
            before then it does not exist.
        due: its due date (a ``datetime.date`` in the billing time zone, or an instant:
            its calendar day there counts).
        paid: how much of it was paid outside the payments and credits given (the
            host's own settlements); at most ``amount``.

    Raises:
        InvalidArgument: float or negative money, a naive datetime, or ``paid`` above
            ``amount``.

    >>> Invoice("I-1", Decimal("10.00"), dt.date(2026, 1, 1), dt.date(2026, 1, 15),
    ...         paid=Decimal("12.00"))
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid paid: got Decimal('12.00'); expected at most the invoice amount 10.00
    """

    id: str = attrs.field(validator=_id)
    amount: Decimal = attrs.field(converter=_amount)
    issued: When = attrs.field(validator=_when)
    due: When = attrs.field(validator=_when)
    paid: Decimal = attrs.field(default=Decimal(0), kw_only=True, converter=_paid)

    def __attrs_post_init__(self) -> None:
        if self.paid > self.amount:
            raise InvalidArgument("paid", self.paid, f"at most the invoice amount {self.amount}")


def _check_funds(funds: Payment | Credit) -> None:
    if funds.applied > funds.amount:
        raise InvalidArgument(
            "applied_to", dict(funds.applied_to), f"at most the amount {funds.amount} in all"
        )


def _applied_total(applied_to: tuple[tuple[str, Decimal], ...]) -> Decimal:
    return sum((a for _, a in applied_to), Decimal(0))


@attrs.frozen
class Payment:
    """A payment received, and how much of it is applied to which invoice.

    Args:
        id: the payment id (unique among the account's payments and credits).
        amount: the amount received (``Decimal``, not negative).
        received: when it was received (an aware instant, or a date in the billing zone).
        applied_to: invoice id -> amount applied (a mapping or pairs); at most
            ``amount`` in all. The rest is unapplied.

    >>> p = Payment("P-1", Decimal("50.00"), dt.date(2026, 2, 1), applied_to={"I-1": Decimal("20")})
    >>> p.unapplied
    Decimal('30.00')
    """

    id: str = attrs.field(validator=_id)
    amount: Decimal = attrs.field(converter=_amount)
    received: When = attrs.field(validator=_when)
    applied_to: tuple[tuple[str, Decimal], ...] = attrs.field(
        default=(), kw_only=True, converter=_applied
    )

    def __attrs_post_init__(self) -> None:
        _check_funds(self)

    @property
    def applied(self) -> Decimal:
        """How much of it is applied to invoices."""
        return _applied_total(self.applied_to)

    @property
    def unapplied(self) -> Decimal:
        """How much of it is not applied to any invoice yet."""
        return self.amount - self.applied

    def applying(self, invoice: str, amount: Decimal) -> Payment:
        """This payment with ``amount`` more applied to ``invoice``."""
        return attrs.evolve(self, applied_to=(*self.applied_to, (invoice, amount)))


@attrs.frozen
class Credit:
    """A credit (a credit note, an adjustment in the customer's favour): applied to
    invoices exactly as a payment is.

    Args:
        id: the credit id (unique among the account's payments and credits).
        amount: the credited amount (``Decimal``, not negative).
        received: when it was granted (an aware instant, or a date in the billing zone).
        applied_to: invoice id -> amount applied; at most ``amount`` in all.
    """

    id: str = attrs.field(validator=_id)
    amount: Decimal = attrs.field(converter=_amount)
    received: When = attrs.field(validator=_when)
    applied_to: tuple[tuple[str, Decimal], ...] = attrs.field(
        default=(), kw_only=True, converter=_applied
    )

    def __attrs_post_init__(self) -> None:
        _check_funds(self)

    @property
    def applied(self) -> Decimal:
        """How much of it is applied to invoices."""
        return _applied_total(self.applied_to)

    @property
    def unapplied(self) -> Decimal:
        """How much of it is not applied to any invoice yet."""
        return self.amount - self.applied

    def applying(self, invoice: str, amount: Decimal) -> Credit:
        """This credit with ``amount`` more applied to ``invoice``."""
        return attrs.evolve(self, applied_to=(*self.applied_to, (invoice, amount)))


def _instant(value: When, tz: dt.tzinfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return start_of_local_day(value, tz).astimezone(dt.UTC)


def _due_day(value: When, tz: dt.tzinfo) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).date()
    return value


@attrs.frozen
class PastDue:
    """What an account's invoices, payments and credits say as of one instant.

    Attributes:
        at: the instant.
        open_balance: the open (unpaid) balance of every invoice issued by ``at``,
            past due or not.
        past_due_balance: the open balance of the past-due invoices only.
        past_due_invoices: how many invoices are past due.
        oldest_past_due: the due date (a calendar day in the billing time zone) of the
            oldest past-due invoice, or ``None``.
        days_past_due: calendar days from that due date to ``at`` (1 on the day after
            it), or ``None`` when nothing is past due.
        unapplied: payments and credits received by ``at`` and not applied to any
            invoice.
    """

    at: dt.datetime
    open_balance: Decimal
    past_due_balance: Decimal
    past_due_invoices: int
    oldest_past_due: dt.date | None
    days_past_due: int | None
    unapplied: Decimal


def _open(
    invoices: Iterable[Invoice],
    funds: Iterable[Payment | Credit],
    at: dt.datetime,
    tz: dt.tzinfo,
) -> tuple[list[tuple[dt.date, dt.datetime, str, Decimal]], Decimal]:
    """The open invoices issued by ``at`` as ``(due day, issued, id, open)``, oldest
    first, and the unapplied funds received by ``at``."""
    now = at.astimezone(dt.UTC)
    applied: dict[str, Decimal] = {}
    unapplied = Decimal(0)
    ids: set[str] = set()
    for f in funds:
        if not isinstance(f, Payment | Credit):
            raise InvalidArgument("payments", f, "Payment or Credit values")
        if f.id in ids:
            raise InvalidArgument(
                "payments", f.id, "payment and credit ids that are unique per account"
            )
        ids.add(f.id)
        if _instant(f.received, tz) > now:
            continue
        for invoice, amount in f.applied_to:
            applied[invoice] = applied.get(invoice, Decimal(0)) + amount
        unapplied += f.unapplied
    rows: list[tuple[dt.date, dt.datetime, str, Decimal]] = []
    seen: set[str] = set()
    for inv in invoices:
        if not isinstance(inv, Invoice):
            raise InvalidArgument("invoices", inv, "Invoice values")
        if inv.id in seen:
            raise InvalidArgument("invoices", inv.id, "invoice ids that are unique per account")
        seen.add(inv.id)
        issued = _instant(inv.issued, tz)
        if issued > now:
            continue
        left = inv.amount - inv.paid - applied.get(inv.id, Decimal(0))
        if left < 0:
            raise InvalidArgument(
                "invoices", inv.id, f"payments applied to at most its open amount (over by {-left})"
            )
        if left > 0:
            rows.append((_due_day(inv.due, tz), issued, inv.id, left))
    rows.sort()
    return rows, unapplied


def _funds(payments: Iterable[Payment], credits: Iterable[Credit]) -> list[Payment | Credit]:
    return [*(payments or ()), *(credits or ())]


def allocate(
    invoices: Iterable[Invoice],
    payments: Iterable[Payment] = (),
    credits: Iterable[Credit] = (),
    *,
    at: dt.datetime,
    timezone: object = None,
) -> tuple[tuple[str, str, Decimal], ...]:
    """How the daily auto-apply would apply unapplied payments and credits at ``at``:
    oldest open invoice balance first; nothing changes.

    Invoices go oldest first by due date, then by time of issue, then by id; funds are
    used in the order received (payments and credits alike), then by id. Only invoices
    issued and funds received by ``at`` take part.

    Args:
        invoices, payments, credits: the account's facts.
        at: the instant of the run (timezone-aware).
        timezone: the account's billing time zone (``None``: UTC).

    Returns:
        ``(payment or credit id, invoice id, amount)`` triples, in the order applied.
        Their amounts never add up to more than was unapplied, nor more than was open
        on any invoice.

    >>> inv = [Invoice("I-2", Decimal("30"), dt.date(2026, 2, 1), dt.date(2026, 2, 15)),
    ...        Invoice("I-1", Decimal("30"), dt.date(2026, 1, 1), dt.date(2026, 1, 15))]
    >>> pay = [Payment("P-1", Decimal("45"), dt.date(2026, 2, 20))]
    >>> allocate(inv, pay, at=dt.datetime(2026, 2, 21, tzinfo=dt.UTC))
    (('P-1', 'I-1', Decimal('30')), ('P-1', 'I-2', Decimal('15')))
    """
    require_aware(at)
    tz = billing_zone(timezone)
    funds = _funds(payments, credits)
    rows, _ = _open(invoices, funds, at, tz)
    now = at.astimezone(dt.UTC)
    sources = sorted(
        (_instant(f.received, tz), f.id, f.unapplied)
        for f in funds
        if f.unapplied > 0 and _instant(f.received, tz) <= now
    )
    out: list[tuple[str, str, Decimal]] = []
    i = 0
    left = [r[3] for r in rows]
    for _, fid, have in sources:
        while have > 0 and i < len(rows):
            take = min(have, left[i])
            out.append((fid, rows[i][2], take))
            have -= take
            left[i] -= take
            if left[i] == 0:
                i += 1
        if i == len(rows):
            break
    return tuple(out)


def past_due(
    invoices: Iterable[Invoice],
    payments: Iterable[Payment] = (),
    credits: Iterable[Credit] = (),
    *,
    at: dt.datetime,
    timezone: object = None,
    auto_apply: bool = False,
) -> PastDue:
    """The past-due facts of one account's invoices as of ``at``.

    Args:
        invoices, payments, credits: the account's facts.
        at: the instant (timezone-aware); only invoices issued and funds received by
            then count.
        timezone: the account's billing time zone (``None``: UTC); due dates and days
            past due are calendar days there.
        auto_apply: the facts as they are once the daily auto-apply has applied the
            unapplied funds (oldest invoice first), as the automation sees them.

    Returns:
        A [`PastDue`][acctstate.invoices.PastDue].

    Raises:
        InvalidArgument: a naive ``at``, an unknown zone, a duplicate invoice id or an
            invoice with more applied to it than it was open for.
    """
    require_aware(at)
    tz = billing_zone(timezone)
    invoices = tuple(invoices or ())
    funds = _funds(payments, credits)
    rows, unapplied = _open(invoices, funds, at, tz)
    if auto_apply and unapplied > 0 and rows:
        spent: dict[str, Decimal] = {}
        for _, invoice, amount in allocate(invoices, payments, credits, at=at, timezone=tz):
            spent[invoice] = spent.get(invoice, Decimal(0)) + amount
            unapplied -= amount
        rows = [(d, i, k, v - spent.get(k, Decimal(0))) for d, i, k, v in rows]
        rows = [r for r in rows if r[3] > 0]
    today = at.astimezone(tz).date()
    late = [r for r in rows if r[0] < today]
    oldest = late[0][0] if late else None
    return PastDue(
        at=at,
        open_balance=sum((r[3] for r in rows), Decimal(0)),
        past_due_balance=sum((r[3] for r in late), Decimal(0)),
        past_due_invoices=len(late),
        oldest_past_due=oldest,
        days_past_due=None if oldest is None else calendar_days(oldest, at, tz),
        unapplied=unapplied,
    )


def _scalar_money(value: object, name: str) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise InvalidArgument(name, value, "a Decimal amount (float money is refused)")


def _scalar_count(value: object, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(name, value, "an int")
    return value


def dunning_facts(
    account: Any, now: dt.datetime, *, auto_apply: bool = False
) -> tuple[int | None, Decimal, int]:
    """The facts dunning and credit hold read: ``(days past due, amount, invoices)``.

    From the account's ``invoices`` (with its ``payments`` and ``credits``) when it has
    them (not ``None``); else from the scalars ``past_due_balance``, ``oldest_past_due``
    and ``past_due_invoices`` when ``past_due_balance`` is given; else, as before
    invoices, from ``balance``, ``oldest_unpaid_at`` and ``unpaid_invoices``. Days are
    calendar days in the account's billing time zone (``timezone``), counted from the
    due date (or instant) given; ``None`` when nothing is past due (or no date is
    given).

    Args:
        account: an ``Account`` or a host object (read with ``getattr``).
        now: the instant of evaluation (timezone-aware).
        auto_apply: read invoices as they are once unapplied funds are applied.

    >>> import types
    >>> now = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
    >>> host = types.SimpleNamespace(past_due_balance=Decimal("12.00"),
    ...                              oldest_past_due=dt.date(2026, 2, 1), past_due_invoices=1)
    >>> dunning_facts(host, now)
    (28, Decimal('12.00'), 1)
    """
    invoices: Sequence[Invoice] | None = getattr(account, "invoices", None)
    if invoices is not None:
        facts = past_due(
            invoices,
            getattr(account, "payments", None) or (),
            getattr(account, "credits", None) or (),
            at=now,
            timezone=getattr(account, "timezone", None),
            auto_apply=auto_apply,
        )
        return facts.days_past_due, facts.past_due_balance, facts.past_due_invoices
    given = getattr(account, "past_due_balance", None)
    if given is not None:
        amount = _scalar_money(given, "past_due_balance")
        oldest = getattr(account, "oldest_past_due", None)
        count = _scalar_count(getattr(account, "past_due_invoices", None), "past_due_invoices")
        name = "oldest_past_due"
    else:
        amount = _scalar_money(getattr(account, "balance", None), "balance")
        oldest = getattr(account, "oldest_unpaid_at", None)
        count = getattr(account, "unpaid_invoices", 0) or 0
        name = "oldest_unpaid_at"
    if oldest is None or amount <= 0:
        # Nothing owed: no day counts (and a date beside it is not read).
        return None, amount, count
    tz = billing_zone(getattr(account, "timezone", None))
    return calendar_days(oldest, now, tz, name=name), amount, count
