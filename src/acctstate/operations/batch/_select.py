"""Selecting the accounts of a batch and counting them (the batch-update panel).

Re-exported by [`acctstate.batch`][acctstate.batch]; import the names from there.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import attrs

from acctstate.core._workflow_defaults import own
from acctstate.core.workflow import Workflow
from acctstate.values.clock import billing_zone, require_aware, utc
from acctstate.values.errors import InvalidArgument, MissingFact, UnknownStatus
from acctstate.values.guards import Guard
from acctstate.values.guards import depleted as is_depleted
from acctstate.values.status import Backend, Status

__all__ = ["DateRange", "Predicate", "Selected", "Selection", "SelectionCounts", "select"]


def _bound(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return
    if not isinstance(value, dt.datetime):
        raise InvalidArgument(
            f"DateRange.{attribute.name}",
            value,
            "a timezone-aware datetime (an instant), a datetime.date (a calendar day in "
            "each account's billing time zone), or None",
        )
    require_aware(value, f"DateRange.{attribute.name}")


def _is_day(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


@attrs.frozen
class DateRange:
    """A half-open range ``[start, end)``; either end may be open.

    The bounds are instants (timezone-aware datetimes, compared as instants: any zone or
    ``fold`` writing of the same instant gives the same answer) or calendar days
    (``datetime.date``: an account's instant is placed on the calendar of the account's
    billing time zone, as the batch's date changes are).

    Args:
        start: the first instant (or day) included, or ``None``.
        end: the first instant (or day) excluded, or ``None``.

    Raises:
        InvalidArgument: a naive datetime, one bound a day and the other an instant, or
            an ``end`` not after ``start``.

    >>> import datetime as dt
    >>> r = DateRange(start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> r.contains(dt.datetime(2026, 3, 1, tzinfo=dt.UTC)), r.contains(None)
    (True, False)
    >>> from zoneinfo import ZoneInfo
    >>> january = DateRange(start=dt.date(2026, 1, 1), end=dt.date(2026, 2, 1))
    >>> late = dt.datetime(2026, 2, 1, 3, 0, tzinfo=dt.UTC)  # still 31 January in New York
    >>> january.contains(late), january.contains(late, tz=ZoneInfo("America/New_York"))
    (False, True)
    """

    start: dt.datetime | dt.date | None = attrs.field(default=None, validator=_bound)
    end: dt.datetime | dt.date | None = attrs.field(default=None, validator=_bound)

    def __attrs_post_init__(self) -> None:
        lo, hi = self.start, self.end
        if lo is None or hi is None:
            return
        if _is_day(lo) != _is_day(hi):
            raise InvalidArgument(
                "DateRange.end", hi, "the same kind of bound as start (both days or both instants)"
            )
        if _is_day(lo):
            if hi <= lo:
                raise InvalidArgument("DateRange.end", hi, "a day after start")
        elif utc(hi) <= utc(lo):
            raise InvalidArgument("DateRange.end", hi, "an instant after start")

    @property
    def days(self) -> bool:
        """Whether the bounds are calendar days (else instants, or no bounds)."""
        return _is_day(self.start) or _is_day(self.end)

    def contains(self, value: dt.datetime | dt.date | None, *, tz: dt.tzinfo | None = None) -> bool:
        """Whether ``value`` falls in the range (``None`` never does).

        Args:
            value: an aware datetime (or a calendar day, for a range of days).
            tz: the account's billing time zone, where a range of days places an
                instant (default UTC; [`select`][acctstate.batch.select] passes the
                account's zone, else the workflow's ``default_timezone``).

        Raises:
            InvalidArgument: ``value`` is neither ``None``, an aware datetime nor (for a
                range of days) a date.
        """
        if value is None:
            return False
        lo, hi = self.start, self.end
        if self.days:
            if isinstance(value, dt.datetime):
                day = utc(value, "value").astimezone(dt.UTC if tz is None else tz).date()
            elif isinstance(value, dt.date):
                day = value
            else:
                raise InvalidArgument("value", value, "a timezone-aware datetime or a date")
            return (lo is None or day >= lo) and (hi is None or day < hi)
        if not isinstance(value, dt.datetime):
            raise InvalidArgument("value", value, "a timezone-aware datetime")
        at = utc(value, "value")
        return (lo is None or at >= utc(lo)) and (hi is None or at < utc(hi))

    def __str__(self) -> str:
        lo = "…" if self.start is None else self.start.isoformat()
        hi = "…" if self.end is None else self.end.isoformat()
        return f"[{lo}, {hi})"


@attrs.frozen
class Predicate:
    """Any test on an account, with a name for the confirmation text.

    Two predicates with the same name are equal (the function is not compared).

    >>> vip = Predicate("vip", lambda account: account.id.startswith("V"))
    >>> str(vip)
    'vip'
    """

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    test: Callable[[Any], bool] = attrs.field(eq=False, repr=False)

    def __call__(self, account: Any) -> bool:
        return bool(self.test(account))

    def __str__(self) -> str:
        return self.name


def _refs(value: object) -> tuple[Any, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | int | Status | Backend):
        return (value,)
    return tuple(value)  # type: ignore[arg-type]


def _backends(value: object) -> tuple[Backend, ...] | None:
    refs = _refs(value)
    if refs is None:
        return None
    out: list[Backend] = []
    for r in refs:
        try:
            out.append(Backend(r))
        except ValueError:
            raise InvalidArgument(
                "Selection.backends", r, f"one of {[b.value for b in Backend]}"
            ) from None
    return tuple(out)


def _strs(value: object) -> tuple[str, ...] | None:
    refs = _refs(value)
    if refs is None:
        return None
    for r in refs:
        if not isinstance(r, str):
            raise InvalidArgument("Selection", r, "a str (an id, class or batch)")
    return refs


def _predicates(value: object) -> tuple[Predicate, ...]:
    out = (value,) if isinstance(value, Predicate) else tuple(value)  # type: ignore[arg-type]
    for p in out:
        if not isinstance(p, Predicate):
            raise InvalidArgument("Selection.predicates", p, "Predicate(name, test) values")
    return out


def _range(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, DateRange):
        raise InvalidArgument(f"Selection.{attribute.name}", value, "a DateRange or None")


@attrs.frozen(kw_only=True)
class Selection:
    """The filters of a batch (all of them must hold; an unset filter holds for all).

    Args:
        statuses: status codes or names.
        backends: back-end classes ([`Backend`][acctstate.status.Backend] or values).
        account_classes: account classes.
        batch_ids: batches.
        ids: account ids.
        activated: range of the activation date.
        expires: range of the expiration date.
        first_used: range of the first use.
        started: only accounts used at least once (``True``) or never (``False``).
        predicates: any further named tests.

    >>> sel = Selection(statuses="active", batch_ids=["B-7"])
    >>> sel.describe()
    ['status: active', 'batch: B-7']
    """

    statuses: tuple[int | str, ...] | None = attrs.field(default=None, converter=_refs)
    backends: tuple[Backend, ...] | None = attrs.field(default=None, converter=_backends)
    account_classes: tuple[str, ...] | None = attrs.field(default=None, converter=_strs)
    batch_ids: tuple[str, ...] | None = attrs.field(default=None, converter=_strs)
    ids: tuple[str, ...] | None = attrs.field(default=None, converter=_strs)
    activated: DateRange | None = attrs.field(default=None, validator=_range)
    expires: DateRange | None = attrs.field(default=None, validator=_range)
    first_used: DateRange | None = attrs.field(default=None, validator=_range)
    started: bool | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(bool))
    )
    predicates: tuple[Predicate, ...] = attrs.field(default=(), converter=_predicates)

    def describe(self) -> list[str]:
        """The filters in words, one line each, as the confirmation lists them."""
        lines: list[str] = []

        def names(values: Iterable[object]) -> str:
            return ", ".join(
                v.name if isinstance(v, Status) else v.value if isinstance(v, Backend) else str(v)
                for v in values
            )

        if self.statuses is not None:
            lines.append(f"status: {names(self.statuses)}")
        if self.backends is not None:
            lines.append(f"back-end class: {names(self.backends)}")
        if self.account_classes is not None:
            lines.append(f"account class: {names(self.account_classes)}")
        if self.batch_ids is not None:
            lines.append(f"batch: {names(self.batch_ids)}")
        if self.ids is not None:
            lines.append(f"account: {names(self.ids)}")
        for label, r in (
            ("activated", self.activated),
            ("expires", self.expires),
            ("first used", self.first_used),
        ):
            if r is not None:
                lines.append(f"{label}: {r}")
        if self.started is not None:
            lines.append("started: yes" if self.started else "started: no")
        lines.extend(f"where: {p.name}" for p in self.predicates)
        return lines or ["all accounts"]

    def matcher(self, workflow: Workflow) -> Callable[[Any], bool]:
        """A function telling whether an account matches, with statuses resolved once.

        Raises:
            UnknownStatus: a status filter names a status the workflow does not have.

        The function raises [`MissingFact`][acctstate.errors.MissingFact] for an account
        whose instant a range of days must place, when neither the account nor the
        workflow's ``default_timezone`` gives its time zone.
        """
        codes: set[int] | None = None
        if self.statuses is not None:
            codes = {workflow.catalog[s].code for s in self.statuses}
        if self.backends is not None:
            wanted = set(self.backends)
            in_class = {s.code for s in workflow.catalog if s.backend in wanted}
            codes = in_class if codes is None else codes & in_class
        attr = workflow.status_attr
        tests: list[Callable[[Any], bool]] = []
        if codes is not None:
            allowed = frozenset(codes)
            tests.append(lambda a: getattr(a, attr) in allowed)
        for field, values in (
            ("account_class", self.account_classes),
            ("batch_id", self.batch_ids),
            ("id", self.ids),
        ):
            if values is not None:
                tests.append(_field_in(field, frozenset(values)))
        for field, r in (
            ("activated_at", self.activated),
            ("expires_at", self.expires),
            ("first_used_at", self.first_used),
        ):
            if r is not None:
                tests.append(_field_within(field, r, workflow.default_timezone))
        if self.started is not None:
            want = self.started
            tests.append(lambda a: (getattr(a, "first_used_at", None) is not None) is want)
        tests.extend(self.predicates)
        if not tests:
            return lambda a: True
        if len(tests) == 1:
            return tests[0]
        return lambda a: all(t(a) for t in tests)


def _field_in(field: str, values: frozenset[str]) -> Callable[[Any], bool]:
    return lambda a: getattr(a, field, None) in values


def _field_within(field: str, r: DateRange, default: str | None) -> Callable[[Any], bool]:
    if not r.days:
        return lambda a: r.contains(getattr(a, field, None))

    def within(a: Any) -> bool:
        value = getattr(a, field, None)
        if not isinstance(value, dt.datetime):
            return r.contains(value)  # no instant to place on a calendar: no zone needed
        # The calendar day of an instant is read in the account's billing time zone, as
        # Workflow.fire reads it: the account's own, else the workflow's default, else
        # MissingFact (never a silent UTC).
        zone = own(a, "timezone")
        if zone is None:
            zone = default
        if zone is None:
            raise MissingFact(account_id=getattr(a, "id", None), fact="timezone")
        return r.contains(value, tz=billing_zone(zone))

    return within


@attrs.frozen
class SelectionCounts:
    """The counts at the top of the batch-update panel.

    Attributes:
        selected: accounts that match the filters.
        started: of those, accounts used at least once (``first_used_at`` set).
        depleted: of those, accounts whose funds are zero or below the threshold.
        per_status: ``(status name, count)`` pairs in code order, statuses with none left out.
    """

    selected: int
    started: int
    depleted: int
    per_status: tuple[tuple[str, int], ...]

    def __str__(self) -> str:
        return f"selected {self.selected} · started {self.started} · depleted {self.depleted}"


@attrs.define(eq=False)
class Selected:
    """The accounts a [`Selection`][acctstate.batch.Selection] picked, and their counts. Made by
    [`select`][acctstate.batch.select].

    Attributes:
        workflow: the workflow the accounts follow.
        selection: the filters.
        accounts: the matching accounts, in input order.
        counts: selected / started / depleted / per status.
        threshold: the availability threshold used for "depleted".
        ledger: keys of the balance operations already applied to these accounts
            (what makes applying a charge twice harmless; pass a persistent one to
            `apply` to keep that across processes).
    """

    workflow: Workflow
    selection: Selection
    accounts: tuple[Any, ...]
    counts: SelectionCounts
    threshold: Decimal
    ledger: set[str] = attrs.field(factory=set)

    def __len__(self) -> int:
        return len(self.accounts)

    def __repr__(self) -> str:
        return f"<Selected {self.counts}>"


def select(
    workflow: Workflow,
    accounts: Iterable[Any],
    selection: Selection | None = None,
    *,
    threshold: Decimal | None = None,
) -> Selected:
    """Filter ``accounts`` and count them (selected, started, depleted, per status).

    Args:
        workflow: the workflow the accounts follow.
        accounts: any iterable of accounts or host objects.
        selection: the filters (default: every account).
        threshold: the product's service availability threshold: an account whose
            funds are zero or less than this is depleted
            ([`depleted`][acctstate.guards.depleted], the rule the ``funds_depleted`` guard
            applies). Accounts without prepaid funds (``funds`` is ``None``) are never
            depleted. Default: the threshold of the workflow's ``funds_depleted``
            guards (PortaBilling's), else 0. Set it once, on the workflow.

    Raises:
        InvalidArgument: ``threshold`` is not a Decimal, or differs from the one the
            workflow's guards use; ``selection`` is not a Selection.
        UnknownStatus: a filter or an account names a status the workflow lacks.
        MissingFact: a range of days (``DateRange`` of dates) must place an account's
            instant on its billing calendar, and neither the account nor the workflow
            (``Workflow(default_timezone=...)``) gives its time zone; it names the account.

    >>> from acctstate.presets import isp
    >>> from acctstate.account import Account
    >>> from decimal import Decimal
    >>> accounts = [Account(id="A", status=1, funds=Decimal("0.10")), Account(id="B", status=0)]
    >>> select(isp.workflow(), accounts, threshold=Decimal("0.50")).counts
    SelectionCounts(selected=2, started=0, depleted=1, per_status=(('inactive', 1), ('active', 1)))
    """
    own = _workflow_threshold(workflow)
    if threshold is None:
        threshold = Decimal("0") if own is None else own
    elif not isinstance(threshold, Decimal) or not threshold.is_finite():
        raise InvalidArgument("threshold", threshold, "a Decimal (float money is refused)")
    elif own is not None and threshold != own:
        raise InvalidArgument(
            "threshold",
            threshold,
            f"the workflow's own availability threshold ({own}) or none: the workflow "
            "decides depletion with it, and counts must agree",
        )
    chosen = Selection() if selection is None else selection
    if not isinstance(chosen, Selection):
        raise InvalidArgument("selection", chosen, "a Selection")
    matches = chosen.matcher(workflow)
    attr = workflow.status_attr
    picked = [a for a in accounts if matches(a)]
    started = 0
    depleted = 0
    tally: Counter[Any] = Counter()
    for a in picked:
        code = getattr(a, attr, None)
        if type(code) is not int or workflow.catalog.get(code) is None:
            raise UnknownStatus(code, known=workflow.catalog.names)
        tally[code] += 1
        if getattr(a, "first_used_at", None) is not None:
            started += 1
        funds = getattr(a, "funds", None)
        if funds is not None and is_depleted(_funds(a, funds), threshold):
            depleted += 1
    statuses = workflow.statuses_for(sorted(tally))
    per_status = tuple((s.name, tally[s.code]) for s in statuses)
    counts = SelectionCounts(len(picked), started, depleted, per_status)
    return Selected(workflow, chosen, tuple(picked), counts, threshold)


def _funds(account: Any, funds: object) -> Decimal:
    if isinstance(funds, Decimal) and funds.is_finite():
        return funds
    if isinstance(funds, int) and not isinstance(funds, bool):
        return Decimal(funds)
    raise InvalidArgument(
        "funds", funds, f"a Decimal amount on account {getattr(account, 'id', None)!r}"
    )


def _workflow_threshold(workflow: Workflow) -> Decimal | None:
    """The availability threshold of the workflow's ``funds_depleted`` guards, if any."""
    found: set[Decimal] = set()

    def visit(g: Guard) -> None:
        if g.name == "funds_depleted":
            found.add(g.kwargs.get("threshold", Decimal("0")))
        for _, value in g.args:
            for inner in value if isinstance(value, tuple) else (value,):
                if isinstance(inner, Guard):
                    visit(inner)

    if not isinstance(workflow, Workflow):
        raise InvalidArgument("workflow", workflow, "an acctstate Workflow")
    for edge in workflow.transitions:
        for g in edge.guards:
            visit(g)
    if len(found) > 1:
        raise InvalidArgument(
            "workflow",
            workflow.name,
            "one availability threshold for every funds_depleted guard "
            f"(found {', '.join(str(t) for t in sorted(found))})",
        )
    return next(iter(found), None)
