"""The [`Workflow`][acctstate.workflow.Workflow] facade: build (validated), extend, plan, fire,
move_to, may, allowed_triggers, explain.

Firing is *compute first, commit second*: arguments are validated, guards evaluated and
effects planned into a [`StatusChange`][acctstate.history.StatusChange]; the host's hooks then
run, and only when every one of them succeeded does the account's status change. A
refused or failed call leaves the account exactly as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from acctstate.core._workflow_build import extended, open_account, validated
from acctstate.core._workflow_defaults import checked_defaults
from acctstate.core._workflow_fire import (
    Explanation,
    allowed_triggers,
    carry_out,
    check_planned,
    checked_move,
    explain,
    plan_change,
    record,
    status_of,
    statuses_for,
)
from acctstate.core._workflow_schedule import check_book, new_book
from acctstate.core._workflow_views import table_rows
from acctstate.core.engine import CompiledTable, Engine
from acctstate.values._views import show, show_html
from acctstate.values.account import Account
from acctstate.values.actors import Actor
from acctstate.values.catalog import Catalog, StatusRef
from acctstate.values.clock import Clock, SystemClock
from acctstate.values.diagram import dot, mermaid
from acctstate.values.effects import Effect, Hooks, derive_flag_effects
from acctstate.values.errors import InvalidArgument
from acctstate.values.graph import Edge, Transition
from acctstate.values.history import ScheduledChange, StatusChange
from acctstate.values.holds import Blocked, HoldType, check_hold_types, why_blocked
from acctstate.values.status import Status

if TYPE_CHECKING:
    from acctstate.operations.schedule import ApplyResult, Schedule

__all__ = ["Explanation", "Workflow"]

_IDENTITY = ("_name", "_catalog", "_edges", "_initial", "_status_attr", "_hold_types", "_defaults")


class Workflow:
    """A validated, immutable account-status workflow.

    Args:
        statuses: the statuses (a [`Catalog`][acctstate.catalog.Catalog] or any iterable of
            ``Status``).
        transitions: the transitions (``Transition`` declarations or built ``Edge``).
        initial: the statuses an account may start in.
        name: a short name for display and files.
        clock: where "now" comes from when ``at`` is omitted (default: the system clock).
        hooks: the host's effect hooks, used by ``fire`` unless others are passed.
        status_attr: the attribute of host objects that holds the status code.
        holds: the hold types accounts may carry (see [`acctstate.holds`][acctstate.holds]).
        default_timezone: the billing time zone (an IANA name) of accounts that give none;
            without it, a rule that counts days or prorates refuses such an account
            with [`MissingFact`][acctstate.errors.MissingFact].
        default_currency: the currency (ISO 4217) of accounts that give none, likewise.

    Raises:
        DefinitionError: every broken rule at once (see
            [`acctstate.graph.RULES`][acctstate.graph.RULES]).

    >>> from acctstate.presets import isp
    >>> import datetime as dt
    >>> wf = isp.workflow()
    >>> now = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    >>> acct = wf.open("A-1", "prospect", at=now)
    >>> wf.fire(acct, "register", at=now).dest.name
    'registered_pending_activation'
    >>> wf.fire(acct, "bogus", at=now)
    Traceback (most recent call last):
    ...
    acctstate.errors.UnknownTrigger: unknown trigger 'bogus'
    """

    __slots__ = (
        "_book",
        "_by_code",
        "_catalog",
        "_clock",
        "_defaults",
        "_edges",
        "_engine",
        "_flag_kinds",
        "_hold_types",
        "_hooks",
        "_initial",
        "_name",
        "_status_attr",
        "_table",
        "_triggers",
    )

    def __init__(
        self,
        *,
        statuses: Catalog | Iterable[Status],
        transitions: Iterable[Transition | Edge],
        initial: Iterable[StatusRef],
        name: str = "workflow",
        clock: Clock | None = None,
        hooks: Hooks | None = None,
        status_attr: str = "status",
        holds: Iterable[HoldType] = (),
        default_timezone: str | None = None,
        default_currency: str | None = None,
    ) -> None:
        catalog, edges, starts = validated(statuses, transitions, initial, clock, hooks)
        self._hold_types = {t.name: t for t in check_hold_types(holds)}
        self._defaults = checked_defaults(default_timezone, default_currency)
        self._catalog, self._edges, self._initial, self._name = catalog, edges, starts, name
        self._clock: Clock = clock or SystemClock()
        self._hooks, self._status_attr = hooks, status_attr
        self._book: Schedule | None = None
        self._by_code = {s.code: s for s in catalog}
        self._engine, self._table = Engine(catalog.codes, edges), CompiledTable(edges)
        self._triggers = frozenset(e.trigger for e in self._edges)
        # Edge identity -> the effect types its statuses' flags imply, computed once.
        self._flag_kinds: dict[int, tuple[type[Effect], ...]] = {
            id(e): derive_flag_effects(e.source, e.dest) for e in self._edges
        }

    # -- what it is -------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The workflow's name."""
        return self._name

    @property
    def catalog(self) -> Catalog:
        """The statuses."""
        return self._catalog

    @property
    def initial(self) -> tuple[Status, ...]:
        """The statuses an account may start in."""
        return self._initial

    @property
    def transitions(self) -> tuple[Edge, ...]:
        """Every transition, with ``source`` and ``dest`` as ``Status`` objects."""
        return self._edges

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger name, sorted."""
        return tuple(sorted(self._triggers))

    @property
    def clock(self) -> Clock:
        """The clock used when ``at`` is omitted."""
        return self._clock

    @property
    def hooks(self) -> Hooks | None:
        """The hooks ``fire`` uses by default."""
        return self._hooks

    @property
    def default_timezone(self) -> str | None:
        """The billing time zone of accounts that give none, or ``None`` (refused)."""
        return self._defaults.get("timezone")

    @property
    def default_currency(self) -> str | None:
        """The currency of accounts that give none, or ``None`` (refused)."""
        return self._defaults.get("currency")

    def with_defaults(
        self, *, timezone: str | None = None, currency: str | None = None
    ) -> Workflow:
        """The same workflow with these defaults (``None``: none for that fact), checked as
        ``default_timezone`` and ``default_currency`` are (``InvalidArgument``)."""
        return self._copy(_defaults=checked_defaults(timezone, currency))

    @property
    def status_attr(self) -> str:
        """The attribute of host objects that holds the status code."""
        return self._status_attr

    @property
    def table(self) -> CompiledTable:
        """The compiled ``(status, trigger) -> edges`` table used for planning and bulk work."""
        return self._table

    def __repr__(self) -> str:
        return (
            f"<Workflow {self._name!r}: {len(self._catalog)} statuses, "
            f"{len(self._edges)} transitions>"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workflow) and all(
            getattr(self, k) == getattr(other, k) for k in _IDENTITY
        )

    def __hash__(self) -> int:
        return hash((self._name, self._catalog, self._edges))

    def status_of(self, account: Any) -> Status:
        """The account's current status.

        Raises:
            InvalidArgument: the object has no status attribute.
            UnknownStatus: its code is not in the catalog.
        """
        return status_of(self, account)

    def edges_from(self, status: StatusRef) -> tuple[Edge, ...]:
        """The transitions leaving ``status``."""
        s = self._catalog[status]
        return tuple(e for e in self._edges if e.source == s)

    # -- building -----------------------------------------------------------------------

    def extend(
        self,
        *,
        statuses: Iterable[Status] = (),
        transitions: Iterable[Transition | Edge] = (),
        initial: Iterable[StatusRef] | None = None,
        remove: Iterable[tuple[str, StatusRef]] = (),
        name: str | None = None,
    ) -> Workflow:
        """A new workflow with more statuses and transitions, validated again.

        A status whose code already exists replaces the old one (relabel, restyle).
        ``remove`` drops transitions given as ``(trigger, source)``.

        Raises:
            DefinitionError: the extended graph breaks a rule.
        """
        return Workflow(**extended(self, statuses, transitions, initial, remove, name))

    def with_holds(self, holds: Iterable[HoldType]) -> Workflow:
        """The same workflow allowing these hold types (checked; they replace the old)."""
        return self._copy(_hold_types={t.name: t for t in check_hold_types(holds)})

    @property
    def hold_types(self) -> Mapping[str, HoldType]:
        """The hold types accounts may carry, by name."""
        return self._hold_types

    def why_blocked(self, account: Any, capability: str, *, label: str = "account") -> Blocked:
        """Every reason ``capability`` (billing, service, changes) is blocked on the account
        (``label``: what the paragraph calls it, such as ``"subscription"``)."""
        held = getattr(account, "holds", None) or ()
        return why_blocked(str(account.id), self.status_of(account), held, capability, label=label)

    def with_hooks(self, hooks: Hooks | None) -> Workflow:
        """The same workflow with other default hooks."""
        return self._copy(_hooks=hooks)

    def with_clock(self, clock: Clock) -> Workflow:
        """The same workflow reading "now" from ``clock``."""
        if not isinstance(clock, Clock):
            raise InvalidArgument("clock", clock, "a Clock (an object with now())")
        return self._copy(_clock=clock)

    def _copy(self, **changes: Any) -> Workflow:
        new = object.__new__(Workflow)
        for slot in Workflow.__slots__:
            object.__setattr__(new, slot, changes.get(slot, getattr(self, slot)))
        object.__setattr__(new, "_book", None)  # a copy starts with its own, empty book
        return new

    # -- accounts -----------------------------------------------------------------------

    def open(
        self,
        account_id: str,
        status: StatusRef,
        *,
        at: dt.datetime | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        imported: bool = False,
        **fields: Any,
    ) -> Account:
        """A new [`Account`][acctstate.account.Account] in ``status``, its history opened with that
        fact.

        Args:
            account_id: the id.
            status: an initial status (any status when ``imported``, for migrations).
            at: when it started (default: now on the workflow's clock).
            fields: more ``Account`` fields (``balance``, ``payment_method`` ...).

        Raises:
            InvalidArgument: ``status`` is not an initial status.
        """
        return open_account(self, account_id, status, at, actor, reason, note, imported, fields)

    # -- changing -----------------------------------------------------------------------

    def plan(
        self,
        account: Any,
        trigger: str,
        *,
        at: dt.datetime | None = None,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        **data: Any,
    ) -> StatusChange:
        """What firing ``trigger`` would do, as a [`StatusChange`][acctstate.history.StatusChange];
        nothing changes.

        Args:
            account: an ``Account`` or host object.
            trigger: the trigger name.
            at: the effective time (timezone-aware; default: now on the workflow's clock).
            reason: a reason code (required when the transition declares reasons).
            note: free text for the history.
            actor: who fires it (needed for transitions that require a permission).
            **data: event data read by guards and effect rules (e.g. ``balance=``).

        Raises:
            UnknownTrigger: the workflow has no such trigger.
            IllegalTransition: no transition for it from the account's status.
            GuardRefused: guards refused (every reason listed).
            PermissionDenied: the actor lacks the required permission.
            ReasonRequired: a missing or unknown reason code.
            HistoryConflict: ``at`` is before the account's latest recorded change.
            InvalidArgument: a naive datetime, float money or a wrongly typed argument.
        """
        if at is None:
            at = self._clock.now()
        if "hooks" in data:  # fire() takes hooks; here they would pass as event data
            raise InvalidArgument(
                "hooks", data["hooks"], "no hooks: plan() runs no effects (pass them to fire())"
            )
        return plan_change(
            self, account, trigger, at, reason, note, actor, data, through_engine=False
        )

    def fire(
        self,
        account: Any,
        trigger: str,
        *,
        at: dt.datetime | None = None,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        hooks: Hooks | None = None,
        **data: Any,
    ) -> StatusChange:
        """Plan ``trigger``, run its effects through the hooks, then change the status.

        The status (and ``status_since`` and ``history`` when the account has them)
        changes only after every hook succeeded.

        Other arguments are as for [`plan`][acctstate.workflow.Workflow.plan].

        Args:
            hooks: hooks for this call (default: the workflow's).

        Returns:
            The ``StatusChange`` that was made.

        It also raises every error of [`plan`][acctstate.workflow.Workflow.plan].

        Raises:
            EffectFailed: a hook raised; the status is unchanged and the error says
                which effects ran and which did not.
        """
        if at is None:
            at = self._clock.now()
        change = plan_change(
            self, account, trigger, at, reason, note, actor, data, through_engine=True
        )
        carry_out(self, account, change, hooks)
        return change

    def commit(self, account: Any, change: StatusChange) -> StatusChange:
        """Carry out a change planned earlier with [`plan`][acctstate.workflow.Workflow.plan]
        (compute first, commit second).

        For hosts that run the effects themselves (an outbox, a batch) between planning
        and committing. The change must still fit: the account is the one planned for,
        still in the change's source status, the graph has the transition, and nothing
        was recorded after it. Guards are not evaluated again: they held when planned; if
        the facts may have moved since, plan again instead.

        Raises:
            InvalidArgument: the change is for another account, or not a planned change.
            IllegalTransition: the account has moved on, or the graph lacks the transition.
            HistoryConflict: the history has a later change.
        """
        check_planned(self, account, change)
        self._commit(account, change)
        return change

    def _commit(self, account: Any, change: StatusChange) -> None:
        record(self._status_attr, account, change)  # (batch apply commits through here)

    def move_to(
        self,
        account: Any,
        status: StatusRef,
        *,
        at: dt.datetime | None = None,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        hooks: Hooks | None = None,
        **data: Any,
    ) -> StatusChange:
        """Fire the one trigger that leads from the account's status to ``status``.

        For pick-list UIs. Refuses with [`AmbiguousMove`][acctstate.errors.AmbiguousMove] when
        several triggers lead there, naming them.

        It also raises every error of [`fire`][acctstate.workflow.Workflow.fire].

        Raises:
            IllegalTransition: no trigger leads there.
            AmbiguousMove: several do.
        """
        when = self._clock.now() if at is None else at
        trigger = checked_move(self, account, status, when, reason, note, actor, data)
        return self.fire(
            account, trigger, at=when, reason=reason, note=note, actor=actor, hooks=hooks, **data
        )

    def explain(
        self,
        account: Any,
        trigger: str,
        *,
        at: dt.datetime | None = None,
        actor: Actor | None = None,
        **data: Any,
    ) -> Explanation:
        """Whether ``trigger`` may fire now and, if not, every reason why.

        Raises:
            UnknownTrigger: the workflow has no such trigger.
        """
        return explain(self, account, trigger, self._clock.now() if at is None else at, actor, data)

    def may(
        self,
        account: Any,
        trigger: str,
        *,
        at: dt.datetime | None = None,
        actor: Actor | None = None,
        **data: Any,
    ) -> bool:
        """Whether ``trigger`` would fire now (guards and permissions included).

        Raises:
            UnknownTrigger: the workflow has no such trigger (a typo should be loud).
        """
        return self.explain(account, trigger, at=at, actor=actor, **data).allowed

    def allowed_triggers(
        self,
        account: Any,
        *,
        at: dt.datetime | None = None,
        actor: Actor | None = None,
        **data: Any,
    ) -> tuple[str, ...]:
        """The triggers that would fire now from the account's status, sorted."""
        return allowed_triggers(self, account, at, actor, data)

    def statuses_for(self, codes: Sequence[int]) -> list[Status]:
        """Resolve many codes at once (for bulk work)."""
        return statuses_for(self, codes)

    # -- scheduling: acctstate.schedule holds the logic ---------------------------------

    def schedule(
        self,
        account: Any,
        trigger: str,
        *,
        at: dt.datetime,
        book: Schedule | None = None,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        **data: Any,
    ) -> ScheduledChange:
        """Record in ``book`` that ``trigger`` is to fire on ``account`` at ``at``.

        A status change with an effective date and a note. Checked now as far as it can
        be (trigger, time, reason, permission); guards are checked when
        [`acctstate.schedule.Schedule.apply_due`][acctstate.schedule.Schedule.apply_due] fires it.

        Other arguments are as for
        [`acctstate.schedule.Schedule.add`][acctstate.schedule.Schedule.add].

        Args:
            book: the [`acctstate.schedule.Schedule`][acctstate.schedule.Schedule] to record it in
                (one built on this workflow); default: this workflow's own book
                ([`book`][acctstate.workflow.Workflow.book]).

        Returns:
            The pending [`ScheduledChange`][acctstate.history.ScheduledChange].

        It also raises every error of
        [`acctstate.schedule.plan_entry`][acctstate.schedule.plan_entry].

        Raises:
            InvalidArgument: ``book`` is not a schedule of this workflow.
        """
        target = check_book(self, self.book if book is None else book)
        return target.add(account, trigger, at=at, reason=reason, note=note, actor=actor, **data)

    @property
    def book(self) -> Schedule:
        """This workflow's own schedule of future changes, made on first use.

        The graph stays immutable; the book is the one mutable part, and a workflow made
        by ``extend``, ``with_hooks`` or ``with_clock`` starts with an empty one. Hosts
        that persist schedules keep their own ``Schedule`` (or a store) instead.
        """
        if self._book is None:
            object.__setattr__(self, "_book", new_book(self))
        assert self._book is not None
        return self._book

    def scheduled(self, account: Any = None) -> list[ScheduledChange]:
        """The pending changes in [`book`][acctstate.workflow.Workflow.book], for one account or
        all, in time order."""
        return self.book.pending(account)

    def withdraw(
        self,
        entry: ScheduledChange | str,
        *,
        actor: Actor | None = None,
        note: str | None = None,
        at: dt.datetime | None = None,
    ) -> ScheduledChange:
        """Withdraw a pending change from [`book`][acctstate.workflow.Workflow.book] (see
        ``Schedule.withdraw``)."""
        return self.book.withdraw(entry, actor=actor, note=note, at=at)

    def apply_due(
        self,
        now: dt.datetime | None = None,
        *,
        accounts: Any = None,
        hooks: Hooks | None = None,
        limit: int | None = None,
    ) -> ApplyResult:
        """Fire the changes in [`book`][acctstate.workflow.Workflow.book] that are due at ``now``,
        in effective-time order (see ``Schedule.apply_due``: guards re-checked, refusals kept as
        failed, idempotent); ``now`` defaults to the workflow's clock.
        """
        return self.book.apply_due(now, accounts=accounts, hooks=hooks, limit=limit)

    # -- views: diagrams from acctstate.diagram, the rest from acctstate.export ---------

    def to_mermaid(self) -> str:
        """The graph as a Mermaid state diagram (text)."""
        return mermaid(self._catalog, self._edges, self._initial)

    def to_dot(self) -> str:
        """The graph as Graphviz DOT (text)."""
        return dot(self._catalog, self._edges, self._initial)

    def table_rows(self) -> list[dict[str, Any]]:
        """One plain dict per transition: trigger, from, to, guards, description."""
        return table_rows(self._edges)

    def to_svg(self, **options: Any) -> str:
        """The graph drawn by Graphviz as SVG; ``options`` as
        [`acctstate.export.diagram`][acctstate.export.diagram] (``around=``, ``steps=``, ``path=``).
        Needs ``pip install acctstate[diagrams]``."""
        return show_html("to_svg", self, **options)

    def to_frame(self, *, what: str = "transitions") -> Any:
        """The transitions (or ``what="statuses"``) as a pandas DataFrame."""
        return show("workflow_frame", self, what=what)

    def _repr_html_(self) -> str:
        return show_html("workflow_html", self)
