"""What happened, and what is to happen: [`StatusChange`][acctstate.history.StatusChange] records,
an account's append-only [`History`][acctstate.history.History] and its queries, and
[`ScheduledChange`][acctstate.history.ScheduledChange] values.

``ScheduledChange`` lives here, below the workflow, so that ``Workflow.schedule`` and
stores can build and read it; recording and applying scheduled changes is
[`acctstate.schedule`][acctstate.schedule]'s job.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from acctstate.values._cause import Cause
from acctstate.values._views import show, show_html
from acctstate.values.actors import Actor
from acctstate.values.clock import local_day_bounds, require_aware
from acctstate.values.effects import Effect
from acctstate.values.errors import HistoryConflict, InvalidArgument
from acctstate.values.status import Status

__all__ = [
    "OPEN",
    "Cause",
    "History",
    "ScheduleState",
    "ScheduledChange",
    "StatusChange",
    "change_key",
    "effect_key_prefix",
]

OPEN = "open"
"""The trigger recorded by a history's first entry: how the account started."""


class _Deferred:
    """Effects a change keys from itself: flag-effect kinds, keyed ``<prefix>#<i>`` from
    the change's [`effect_key_prefix`][acctstate.history.effect_key_prefix] when read, then effects
    keyed already.

    A history keeps thousands of changes whose effects differ only in keys that follow
    from the change; holding the (shared) kinds instead of keyed values is what keeps an
    account small. Nothing is lost: reading ``StatusChange.effects`` gives the values.
    """

    __slots__ = ("keyed", "kinds")

    def __init__(self, kinds: tuple[type[Effect], ...], keyed: tuple[Effect, ...]) -> None:
        self.kinds = kinds
        self.keyed = keyed

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Deferred, (self.kinds, self.keyed))


# One shared _Deferred per kinds tuple (a workflow has a handful): zero bytes per change.
_SHARED: dict[tuple[type[Effect], ...], _Deferred] = {}


@attrs.frozen(repr=False, eq=False)
class StatusChange:
    """One status change, planned or done: from, to, why, by whom, with which effects.

    Produced by ``Workflow.plan`` (nothing changed yet) and ``Workflow.fire`` (done).

    Attributes:
        account_id: the account's id.
        source: the status before.
        dest: the status after.
        trigger: the trigger fired (``"open"`` for a history's first entry).
        at: the effective time.
        recorded_at: when it was recorded (may be later than ``at``: back-dating).
        reason: the reason code, if any.
        note: a free-text note, if any.
        actor: who made the change, if known.
        effects: the effects it implies, each with an idempotency key.
        cause: for a change a cascade made, the change that caused it and the rule
            (``None`` otherwise).
    """

    account_id: str
    source: Status
    dest: Status
    trigger: str
    at: dt.datetime
    recorded_at: dt.datetime | None = None
    reason: str | None = None
    note: str | None = None
    actor: Actor | None = None
    _effects: tuple[Effect, ...] | _Deferred = attrs.field(default=(), alias="effects")
    _cause: Cause | None = attrs.field(default=None, alias="cause")

    @classmethod
    def planned(
        cls,
        account_id: str,
        source: Status,
        dest: Status,
        trigger: str,
        at: dt.datetime,
        recorded_at: dt.datetime | None,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        kinds: tuple[type[Effect], ...],
        keyed: tuple[Effect, ...] = (),
        cause: Cause | None = None,
    ) -> StatusChange:
        """A change whose effects are ``kinds`` keyed from the change, then ``keyed``.

        The effects read back exactly as if each kind had been built with the key
        ``f"{effect_key_prefix(...)}#{i}"``; the change holds the kinds instead.
        """
        if not kinds and not keyed:
            effects: tuple[Effect, ...] | _Deferred = ()
        elif keyed:
            effects = _Deferred(kinds, keyed)
        else:
            effects = _SHARED.get(kinds) or _SHARED.setdefault(kinds, _Deferred(kinds, ()))
        return cls(
            account_id, source, dest, trigger, at, recorded_at, reason, note, actor, effects, cause
        )

    @property
    def effects(self) -> tuple[Effect, ...]:
        """The effects it implies, each with an idempotency key."""
        raw = self._effects
        if not isinstance(raw, _Deferred):
            return raw
        prefix = effect_key_prefix(self.account_id, self.trigger, self.at, self.source.code)
        made = [kind(key=f"{prefix}#{i}") for i, kind in enumerate(raw.kinds)]
        return (*made, *raw.keyed)

    @property
    def cause(self) -> Cause | None:
        """For a change a cascade made, the change that caused it and the rule: given when
        planned, or read from the note (as a store gives the change back)."""
        found = self._cause
        return found if found is not None else Cause.from_note(self.note)

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.account_id,
            self.source,
            self.dest,
            self.trigger,
            self.at,
            self.recorded_at,
            self.reason,
            self.note,
            self.actor,
            self.effects,
            self.cause,
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    @property
    def key(self) -> str:
        """The change's idempotency key: the same every time the same change is planned."""
        return change_key(self.account_id, self.trigger, self.at)

    @property
    def is_opening(self) -> bool:
        """Whether this is a history's first entry (how the account started)."""
        return self.trigger == OPEN

    @property
    def automatic(self) -> bool:
        """Whether a system actor made the change."""
        return self.actor is not None and self.actor.is_system

    def __repr__(self) -> str:
        return (
            f"<StatusChange {self.account_id!r} {self.trigger}: {self.source.name} -> "
            f"{self.dest.name} at {self.at.isoformat()}>"
        )

    def __str__(self) -> str:
        who = f" by {self.actor.id}" if self.actor else ""
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"{self.at.isoformat()}  {self.source.name} -> {self.dest.name} "
            f"[{self.trigger}]{who}{why}"
        )

    def _repr_html_(self) -> str:
        return show_html("change_html", self)


def effect_key_prefix(account_id: str, trigger: str, at: dt.datetime, source_code: int) -> str:
    """The prefix of a change's effect keys (``<prefix>#<index>``).

    It extends [`change_key`][acctstate.history.change_key] with the source status: a ladder walk
    fires the same trigger several times at one instant, and each step's effects need keys of their
    own.

    >>> import datetime as dt
    >>> effect_key_prefix("A-1", "suspend", dt.datetime(2026, 1, 5, tzinfo=dt.UTC), 1)
    'A-1/suspend/2026-01-05T00:00:00+00:00/1'
    """
    return f"{account_id}/{trigger}/{utc_text(at)}/{source_code}"


def change_key(account_id: str, trigger: str, at: dt.datetime) -> str:
    """The idempotency key of the change ``trigger`` on ``account_id`` effective ``at``."""
    return f"{account_id}/{trigger}/{utc_text(at)}"


# The last instant turned into key text, and its text: a sweep, a batch or a ladder walk
# keys many changes at one instant, so the UTC conversion and isoformat run once per
# instant. Holding the datetime keeps it alive, so identity cannot be a reused id; the
# tuple is replaced whole, so a concurrent reader sees a consistent pair.
_LAST_TEXT: tuple[dt.datetime | None, str] = (None, "")


def utc_text(at: dt.datetime) -> str:
    """``at`` in UTC, as ISO 8601 text: the instant part of every key."""
    global _LAST_TEXT
    last = _LAST_TEXT
    if last[0] is at:
        return last[1]
    text = (at if at.tzinfo is dt.UTC else at.astimezone(dt.UTC)).isoformat()
    _LAST_TEXT = (at, text)
    return text


class History:
    """An account's append-only list of changes, kept in effective-time order.

    The first entry (trigger ``"open"``) records how the account started. A change may
    be recorded later than it took effect (back-dated), but never before the latest
    change already recorded: that would contradict it.

    >>> from acctstate.presets import isp
    >>> import datetime as dt
    >>> wf = isp.workflow()
    >>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> acct = wf.open("A-1", "prospect", at=t0)
    >>> _ = wf.fire(acct, "register", at=t0 + dt.timedelta(days=1))
    >>> acct.history.status_at(t0 + dt.timedelta(hours=1)).name
    'prospect'
    >>> [c.trigger for c in acct.history]
    ['open', 'register']
    """

    # One list of changes: their instants in UTC are derived where they are compared, so
    # an account's history costs no second list.
    __slots__ = ("_changes",)

    def __init__(self, changes: tuple[StatusChange, ...] | list[StatusChange] = ()) -> None:
        self._changes: list[StatusChange] = []
        for c in changes:
            self.append(c)

    def append(self, change: StatusChange) -> None:
        """Record ``change``.

        Raises:
            HistoryConflict: ``change`` is effective before the latest recorded change.
            InvalidArgument: ``change`` does not start from the status the history ends
                in, or is not a ``StatusChange``.
        """
        self.check(change)
        self._changes.append(change)

    def check(self, change: StatusChange) -> dt.datetime:
        """Raise what [`append`][acctstate.history.History.append] would raise for
        ``change``; nothing is recorded. Returns its instant in UTC.

        Raises:
            HistoryConflict: ``change`` is effective before the latest recorded change.
            InvalidArgument: ``change`` does not start from the status the history ends
                in, or is not a ``StatusChange``.
        """
        if not isinstance(change, StatusChange):
            raise InvalidArgument("change", change, "a StatusChange")
        at = change.at
        when = at if at.tzinfo is dt.UTC else at.astimezone(dt.UTC)
        if self._changes:
            last = self._changes[-1]
            # Compared in UTC: Python compares datetimes sharing a tzinfo by wall time,
            # which would misorder the repeated hour when the clocks fall back.
            if when < _utc_of(last):
                raise HistoryConflict(account_id=change.account_id, at=change.at, latest=last.at)
            # Statuses are shared catalog values: identity settles the common case.
            if change.source is not last.dest and change.source != last.dest:
                raise InvalidArgument(
                    "change.source",
                    change.source.name,
                    f"the status the history ends in, {last.dest.name!r}",
                )
        return when

    def __iter__(self) -> Iterator[StatusChange]:
        return iter(self._changes)

    def __len__(self) -> int:
        return len(self._changes)

    def __getitem__(self, index: int) -> StatusChange:
        return self._changes[index]

    def __bool__(self) -> bool:
        return bool(self._changes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self._changes == other._changes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<History of {len(self._changes)} changes>"

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self._changes) or "(no changes)"

    def _repr_html_(self) -> str:
        return show_html("history_html", self)

    def to_frame(self) -> Any:
        """The changes as a pandas DataFrame (``pip install acctstate[notebook]``)."""
        return show("history_frame", self)

    def tail(self) -> tuple[StatusChange, dt.datetime] | None:
        """The latest change and its effective time in UTC (``None`` when empty)."""
        if not self._changes:
            return None
        last = self._changes[-1]
        return last, _utc_of(last)

    @property
    def last(self) -> StatusChange | None:
        """The latest change, or ``None`` for an empty history."""
        return self._changes[-1] if self._changes else None

    @property
    def current(self) -> Status | None:
        """The status the history ends in."""
        return self._changes[-1].dest if self._changes else None

    def status_at(self, at: dt.datetime) -> Status | None:
        """The status in force at instant ``at`` (``None`` before the first entry).

        A change effective exactly at ``at`` is in force at ``at``.

        Raises:
            InvalidArgument: ``at`` is naive.
        """
        i = bisect.bisect_right(self._changes, _utc(at, "at"), key=_utc_of)
        return self._changes[i - 1].dest if i else None

    def between(self, start: dt.datetime, end: dt.datetime) -> list[StatusChange]:
        """The changes effective in ``[start, end)``, in effective-time order.

        Raises:
            InvalidArgument: ``start`` or ``end`` is naive.
        """
        lo = bisect.bisect_left(self._changes, _utc(start, "start"), key=_utc_of)
        hi = bisect.bisect_left(self._changes, _utc(end, "end"), key=_utc_of)
        return self._changes[lo:hi]

    def changes_on(self, day: dt.date, tz: str | dt.tzinfo) -> list[StatusChange]:
        """The changes effective on calendar day ``day`` in the billing time zone ``tz``.

        The customer's day, not UTC's: across a DST change it is 23 or 25
        hours long.

        >>> from acctstate.presets import isp
        >>> wf = isp.workflow()
        >>> acct = wf.open("A-1", "prospect", at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
        >>> late = dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC)  # 21:00 on 2 March in New York
        >>> _ = wf.fire(acct, "register", at=late)
        >>> [c.trigger for c in acct.history.changes_on(dt.date(2026, 3, 2), "America/New_York")]
        ['register']
        >>> acct.history.changes_on(dt.date(2026, 3, 3), "America/New_York")
        []
        """
        return self.between(*local_day_bounds(day, tz))

    def time_in_status(
        self, until: dt.datetime, *, since: dt.datetime | None = None
    ) -> dict[str, dt.timedelta]:
        """Time spent in each status (by name), up to ``until``.

        Args:
            until: the end of the window (e.g. now).
            since: the start of the window (default: the first entry).

        Returns:
            Elapsed time per status name (statuses never in force are absent).

        Raises:
            InvalidArgument: a naive ``until`` or ``since``.
        """
        stop = _utc(until, "until")
        begin = None if since is None else _utc(since, "since")
        spent: dict[str, dt.timedelta] = {}
        times = [_utc_of(c) for c in self._changes]
        for i, here in enumerate(self._changes):
            start = times[i]
            if begin is not None and begin > start:
                start = begin
            end = min(times[i + 1], stop) if i + 1 < len(times) else stop
            if end > start:
                name = here.dest.name
                spent[name] = spent.get(name, dt.timedelta()) + (end - start)
        return spent

    def by_actor(self, actor_id: str) -> list[StatusChange]:
        """The changes made by the actor with id ``actor_id`` (who did what)."""
        return [c for c in self._changes if c.actor is not None and c.actor.id == actor_id]

    def to_records(self) -> list[dict[str, Any]]:
        """The history as plain dicts (for tables, JSON and notebooks)."""
        return [
            {
                "at": c.at,
                "recorded_at": c.recorded_at,
                "from": c.source.name,
                "to": c.dest.name,
                "trigger": c.trigger,
                "reason": c.reason,
                "note": c.note,
                "actor": c.actor.id if c.actor else None,
                "automatic": c.automatic,
                "effects": [e.kind for e in c.effects],
                "cause": None if (cause := c.cause) is None else str(cause),
            }
            for c in self._changes
        ]


def _utc_of(change: StatusChange) -> dt.datetime:
    at = change.at
    return at if at.tzinfo is dt.UTC else at.astimezone(dt.UTC)


def _utc(value: object, name: str) -> dt.datetime:
    return require_aware(value, name).astimezone(dt.UTC)


class ScheduleState(enum.Enum):
    """Where a scheduled change stands. Only ``PENDING`` ones can still be applied."""

    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"


def _aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    require_aware(value, f"ScheduledChange.{attribute.name}")


def _aware_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        require_aware(value, f"ScheduledChange.{attribute.name}")


def _actor_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Actor):
        raise InvalidArgument(f"ScheduledChange.{attribute.name}", value, "an Actor or None")


def _str(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidArgument(f"ScheduledChange.{attribute.name}", value, "a str")


def _str_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgument(f"ScheduledChange.{attribute.name}", value, "a str or None")


def _data_pairs(value: object) -> tuple[tuple[str, Any], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = tuple((str(k), v) for k, v in items)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InvalidArgument(
            "ScheduledChange.data", value, "a mapping or (name, value) pairs"
        ) from None
    return tuple(sorted(pairs, key=lambda kv: kv[0]))


@attrs.frozen(repr=False)
class ScheduledChange:
    """A status change recorded now to take effect at ``at`` ("Change User
    Status" with a date, or an effective date and note).

    A plain value with a stable ``id``, so a store can persist it as a row. Settling it
    (applied, failed, withdrawn) gives a new value with ``state``, ``settled_at``,
    ``settled_by`` and ``detail`` filled in;
    [`acctstate.schedule.Schedule`][acctstate.schedule.Schedule] records and applies them.

    Attributes:
        id: the stable id (unique within its schedule).
        account_id: the account to change.
        trigger: the trigger to fire.
        at: the effective time the change is fired with (timezone-aware).
        recorded_at: when it was scheduled.
        reason: the reason code (checked when scheduled and again when applied).
        note: a free-text note for the history.
        actor: who scheduled it; the change is fired as this actor, or as the system
            actor when ``None``.
        data: event data for guards and effect rules, as sorted ``(name, value)`` pairs.
        state: pending, applied, failed or withdrawn.
        settled_at: when it was applied, failed or withdrawn.
        settled_by: who withdrew it, or the actor it was fired as.
        detail: the applied change's key, the failure's reason, or a withdrawal note.

    >>> at = dt.datetime(2026, 2, 1, 5, 0, tzinfo=dt.UTC)
    >>> sc = ScheduledChange("S-1", "A-1", "suspend", at, reason="non_payment")
    >>> sc.state.value, sc.key
    ('pending', 'A-1/suspend/2026-02-01T05:00:00+00:00')
    """

    id: str = attrs.field(validator=_str)
    account_id: str = attrs.field(validator=_str)
    trigger: str = attrs.field(validator=_str)
    at: dt.datetime = attrs.field(validator=_aware)
    recorded_at: dt.datetime | None = attrs.field(default=None, validator=_aware_or_none)
    reason: str | None = attrs.field(default=None, validator=_str_or_none)
    note: str | None = attrs.field(default=None, validator=_str_or_none)
    actor: Actor | None = attrs.field(default=None, validator=_actor_or_none)
    data: tuple[tuple[str, Any], ...] = attrs.field(default=(), converter=_data_pairs)
    state: ScheduleState = attrs.field(default=ScheduleState.PENDING, converter=ScheduleState)
    settled_at: dt.datetime | None = attrs.field(default=None, validator=_aware_or_none)
    settled_by: Actor | None = attrs.field(default=None, validator=_actor_or_none)
    detail: str | None = attrs.field(default=None, validator=_str_or_none)

    @property
    def key(self) -> str:
        """The idempotency key of the [`StatusChange`][acctstate.history.StatusChange] applying it
        will record."""
        return change_key(self.account_id, self.trigger, self.at)

    @property
    def pending(self) -> bool:
        """Whether it can still be applied or withdrawn."""
        return self.state is ScheduleState.PENDING

    @property
    def kwargs(self) -> dict[str, Any]:
        """The event data as a dict (keyword arguments for ``fire``)."""
        return dict(self.data)

    def settle(
        self,
        state: ScheduleState,
        *,
        at: dt.datetime,
        by: Actor | None = None,
        detail: str | None = None,
    ) -> ScheduledChange:
        """This change, settled as ``state`` at ``at`` (a new value).

        Raises:
            InvalidArgument: it is not pending, or ``state`` is ``PENDING``.
        """
        if not self.pending:
            raise InvalidArgument(
                "scheduled change",
                self.id,
                f"a pending scheduled change (this one is {self.state.value})",
            )
        if state is ScheduleState.PENDING:
            raise InvalidArgument("state", state, "applied, failed or withdrawn")
        return attrs.evolve(self, state=state, settled_at=at, settled_by=by, detail=detail)

    def __repr__(self) -> str:
        return (
            f"<ScheduledChange {self.id!r} {self.account_id!r} {self.trigger} at "
            f"{self.at.isoformat()} ({self.state.value})>"
        )

    def __str__(self) -> str:
        who = f" by {self.actor.id}" if self.actor else ""
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.at.isoformat()}  {self.account_id} [{self.trigger}]{who}{why}  {self.state.value}"
