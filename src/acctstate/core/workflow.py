"""The :class:`Workflow` facade: build (validated), extend, plan, fire, move_to, may,
allowed_triggers, explain.

Firing is *compute first, commit second*: arguments are validated, guards evaluated and
effects planned into a :class:`~acctstate.history.StatusChange`; the host's hooks then
run, and only when every one of them succeeded does the account's status change. A
refused or failed call leaves the account exactly as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from acctstate.core._workflow_schedule import _Scheduling
from acctstate.core._workflow_views import _Views
from acctstate.core.engine import CompiledTable, Engine
from acctstate.values.account import Account
from acctstate.values.actors import Actor
from acctstate.values.catalog import Catalog, StatusRef
from acctstate.values.clock import Clock, SystemClock, require_aware
from acctstate.values.effects import Effect, Hooks, derive_flag_effects, dispatch
from acctstate.values.errors import (
    AmbiguousMove,
    DefinitionError,
    GuardRefused,
    HistoryConflict,
    IllegalTransition,
    InvalidArgument,
    PermissionDenied,
    ReasonRequired,
    UnknownStatus,
    UnknownTrigger,
    Violation,
)
from acctstate.values.graph import Edge, Transition, check_graph, resolve
from acctstate.values.guards import GuardContext, Refusal, check_event_data
from acctstate.values.history import OPEN, History, StatusChange, effect_key_prefix
from acctstate.values.status import Status

if TYPE_CHECKING:
    from acctstate.operations.schedule import Schedule

__all__ = ["Explanation", "Workflow"]

_NO_DATA: Mapping[str, Any] = {}


@attrs.frozen
class Explanation:
    """Why a trigger may or may not fire on an account now.

    Attributes:
        trigger: the trigger asked about.
        status: the account's current status.
        allowed: whether firing would succeed (reasons and hooks aside).
        dest: where it would lead, when allowed.
        refusals: every refusal, with its guard and reason.
        legal: whether the graph has the transition at all.
    """

    trigger: str
    status: Status
    allowed: bool
    dest: Status | None
    refusals: tuple[Refusal, ...]
    legal: bool

    def __str__(self) -> str:
        if self.allowed:
            assert self.dest is not None
            return f"{self.trigger!r} is allowed: {self.status.name} -> {self.dest.name}"
        if not self.legal:
            return f"{self.trigger!r} is not a transition from {self.status.name!r}"
        return f"{self.trigger!r} is refused: " + "; ".join(str(r) for r in self.refusals)


class Workflow(_Scheduling, _Views):
    """A validated, immutable account-status workflow.

    Args:
        statuses: the statuses (a :class:`Catalog` or any iterable of ``Status``).
        transitions: the transitions (``Transition`` declarations or built ``Edge``).
        initial: the statuses an account may start in.
        name: a short name for display and files.
        clock: where "now" comes from when ``at`` is omitted (default: the system clock).
        hooks: the host's effect hooks, used by ``fire`` unless others are passed.
        status_attr: the attribute of host objects that holds the status code.

    Raises:
        DefinitionError: every broken rule at once (see :data:`acctstate.graph.RULES`).

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
        "_edges",
        "_engine",
        "_flag_kinds",
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
    ) -> None:
        catalog = statuses if isinstance(statuses, Catalog) else Catalog(statuses)
        edges, problems = resolve(catalog, transitions)
        starts: list[Status] = []
        for ref in initial:
            try:
                starts.append(catalog[ref.code if isinstance(ref, Status) else ref])
            except UnknownStatus as exc:
                problems.append(Violation("unknown-status", f"initial status: {exc}"))
        if not problems:
            problems = check_graph(catalog, edges, starts)
        if problems:
            raise DefinitionError(problems)
        if clock is not None and not isinstance(clock, Clock):
            raise InvalidArgument("clock", clock, "a Clock (an object with now())")
        if hooks is not None and not isinstance(hooks, Hooks):
            raise InvalidArgument("hooks", hooks, "an acctstate.Hooks")
        self._catalog = catalog
        self._edges: tuple[Edge, ...] = tuple(edges)
        self._initial: tuple[Status, ...] = tuple(dict.fromkeys(starts))
        self._name = name
        self._clock: Clock = clock or SystemClock()
        self._hooks = hooks
        self._status_attr = status_attr
        self._book: Schedule | None = None
        self._by_code = {s.code: s for s in catalog}
        self._engine = Engine(catalog.codes, self._edges)
        self._table = CompiledTable(self._edges)
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
        return isinstance(other, Workflow) and (
            self._name,
            self._catalog,
            self._edges,
            self._initial,
            self._status_attr,
        ) == (other._name, other._catalog, other._edges, other._initial, other._status_attr)

    def __hash__(self) -> int:
        return hash((self._name, self._catalog, self._edges))

    def status_of(self, account: Any) -> Status:
        """The account's current status.

        Raises:
            InvalidArgument: the object has no status attribute.
            UnknownStatus: its code is not in the catalog.
        """
        try:
            code = getattr(account, self._status_attr)
        except AttributeError:
            raise InvalidArgument(
                "account", account, f"an object with a {self._status_attr!r} attribute"
            ) from None
        found = self._by_code.get(code) if type(code) is int else None
        if found is None:
            raise UnknownStatus(code, known=self._catalog.names)
        return found

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
        catalog = self._catalog.extend(statuses)
        drop = {(t, self._catalog[s].code) for t, s in remove}
        kept = [e.to_transition() for e in self._edges if (e.trigger, e.source.code) not in drop]
        return Workflow(
            statuses=catalog,
            transitions=[*kept, *transitions],
            initial=[s.code for s in self._initial] if initial is None else initial,
            name=self._name if name is None else name,
            clock=self._clock,
            hooks=self._hooks,
            status_attr=self._status_attr,
        )

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
        """A new :class:`Account` in ``status``, its history opened with that fact.

        Args:
            account_id: the id.
            status: an initial status (any status when ``imported``, for migrations).
            at: when it started (default: now on the workflow's clock).
            fields: more ``Account`` fields (``balance``, ``payment_method`` ...).

        Raises:
            InvalidArgument: ``status`` is not an initial status.
        """
        start = self._catalog[status]
        if not imported and start not in self._initial:
            raise InvalidArgument(
                "status",
                start.name,
                f"an initial status ({', '.join(repr(s.name) for s in self._initial)}) "
                "or imported=True",
            )
        when = self._clock.now() if at is None else require_aware(at)
        account = Account(id=account_id, status=start.code, status_since=when, **fields)
        account.history.append(
            StatusChange(
                account_id, start, start, OPEN, when, self._clock.now(), reason, note, actor
            )
        )
        return account

    # -- deciding -----------------------------------------------------------------------

    def _decide(
        self,
        account: Any,
        trigger: str,
        at: dt.datetime,
        actor: Actor | None,
        data: Mapping[str, Any],
        *,
        through_engine: bool,
    ) -> tuple[Status, Edge, GuardContext]:
        """Validate, evaluate guards and pick the edge; raise when refused."""
        if type(trigger) is not str:
            raise InvalidArgument("trigger", trigger, "a trigger name (str)")
        if type(at) is not dt.datetime or at.utcoffset() is None:
            require_aware(at)  # the fast test above failed: let the full check decide/raise
        code = getattr(account, self._status_attr, None)
        source = self._by_code.get(code) if type(code) is int else None
        if source is None:
            source = self.status_of(account)
        candidates = self._table.candidates(source.code, trigger)
        if not candidates:
            if trigger not in self._triggers:
                raise UnknownTrigger(trigger, known=self._triggers)
            raise IllegalTransition(
                account_id=getattr(account, "id", None),
                status=source,
                trigger=trigger,
                allowed=self._table.allowed.get(source.code, ()),
            )
        if actor is not None and not isinstance(actor, Actor):
            raise InvalidArgument("actor", actor, "an acctstate.Actor or None")
        if data:
            check_event_data(data)
        self._check_time(account, source, at)
        if through_engine:
            edge, refusals, denied, ctx = self._engine.run(
                source.code, trigger, account, at, actor, data
            )
            if edge is not None:
                return source, edge, ctx
        else:
            ctx = GuardContext(account, at, actor, data)
            edge, refusals, denied = self._table.decide(source.code, trigger, ctx)
            if edge is not None:
                return source, edge, ctx
        account_id = getattr(account, "id", None)
        if denied is not None and denied.permission is not None:
            raise PermissionDenied(
                account_id=account_id,
                status=source,
                trigger=trigger,
                permission=denied.permission,
                actor=actor,
            )
        raise GuardRefused(account_id=account_id, status=source, trigger=trigger, refusals=refusals)

    def _check_time(self, account: Any, source: Status, at: dt.datetime) -> None:
        since = getattr(account, "status_since", None)
        history = getattr(account, "history", None)
        latest = since
        if isinstance(history, History) and history:
            last = history[-1]
            if last.dest.code != source.code:
                raise InvalidArgument(
                    "account",
                    getattr(account, "id", None),
                    f"an account whose status ({source.name!r}) matches the end of its "
                    f"history ({last.dest.name!r}); the status was changed outside the workflow",
                )
            if latest is None or last.at.astimezone(dt.UTC) > latest.astimezone(dt.UTC):
                latest = last.at
        # Compare in UTC: datetimes sharing a tzinfo compare by wall time, which
        # misorders the repeated hour when clocks fall back.
        if latest is not None and at.astimezone(dt.UTC) < latest.astimezone(dt.UTC):
            raise HistoryConflict(account_id=getattr(account, "id", None), at=at, latest=latest)

    @staticmethod
    def _check_reason(edge: Edge, reason: str | None) -> None:
        if reason is not None and type(reason) is not str:
            raise InvalidArgument("reason", reason, "a reason code (str) or None")
        if edge.reasons is not None and reason not in edge.reasons:
            raise ReasonRequired(trigger=edge.trigger, reason=reason, allowed=edge.reasons)

    def _change(
        self,
        account: Any,
        trigger: str,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        data: Mapping[str, Any],
        *,
        through_engine: bool,
    ) -> StatusChange:
        source, edge, ctx = self._decide(
            account, trigger, at, actor, data, through_engine=through_engine
        )
        if reason is not None or edge.reasons is not None:
            self._check_reason(edge, reason)
        if note is not None and type(note) is not str:
            raise InvalidArgument("note", note, "a str or None")
        account_id = account.id
        if type(account_id) is not str:
            account_id = str(account_id)
        dest = edge.dest
        kinds = self._flag_kinds[id(edge)]
        effects: list[Effect] = []
        if kinds or edge.effects:
            # Keys are derived from the change itself, so planning the same change again
            # gives the same keys and a retrying host never runs an effect twice.
            prefix = effect_key_prefix(account_id, trigger, at, source.code)
            effects = [kind(key=f"{prefix}#{i}") for i, kind in enumerate(kinds)]
            for rule in edge.effects:
                for effect in rule(ctx, source, dest):
                    effects.append(effect.keyed(f"{prefix}#{len(effects)}"))
        return StatusChange(
            account_id,
            source,
            dest,
            trigger,
            at,
            self._clock.now(),
            reason,
            note,
            actor,
            tuple(effects) if effects else (),
        )

    def plan(
        self,
        account: Any,
        trigger: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        **data: Any,
    ) -> StatusChange:
        """What firing ``trigger`` would do, as a :class:`StatusChange`; nothing changes.

        Args:
            account: an ``Account`` or host object.
            trigger: the trigger name.
            at: the effective time (timezone-aware).
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
        return self._change(account, trigger, at, reason, note, actor, data, through_engine=False)

    def fire(
        self,
        account: Any,
        trigger: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        hooks: Hooks | None = None,
        **data: Any,
    ) -> StatusChange:
        """Plan ``trigger``, run its effects through the hooks, then change the status.

        The status (and ``status_since`` and ``history`` when the account has them)
        changes only after every hook succeeded.

        Args:
            hooks: hooks for this call (default: the workflow's).
            (others as :meth:`plan`)

        Returns:
            The ``StatusChange`` that was made.

        Raises:
            EffectFailed: a hook raised; the status is unchanged and the error says
                which effects ran and which did not.
            (and every error of :meth:`plan`)
        """
        change = self._change(account, trigger, at, reason, note, actor, data, through_engine=True)
        run = hooks if hooks is not None else self._hooks
        if run is not None and change.effects:
            if not isinstance(run, Hooks):
                raise InvalidArgument("hooks", run, "an acctstate.Hooks")
            dispatch(change, run)
        self._commit(account, change)
        return change

    def commit(self, account: Any, change: StatusChange) -> StatusChange:
        """Carry out a change planned earlier with :meth:`plan` (compute first, commit second).

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
        if not isinstance(change, StatusChange) or change.is_opening:
            raise InvalidArgument("change", change, "a StatusChange returned by plan()")
        account_id = getattr(account, "id", None)
        if str(account_id) != change.account_id:
            raise InvalidArgument(
                "change.account_id", change.account_id, f"the account's id {account_id!r}"
            )
        source = self.status_of(account)
        fits = source == change.source and any(
            e.dest == change.dest for _, _, e in self._table.candidates(source.code, change.trigger)
        )
        if not fits:
            raise IllegalTransition(
                account_id=account_id,
                status=source,
                trigger=change.trigger,
                allowed=self._table.allowed.get(source.code, ()),
            )
        self._check_time(account, source, change.at)
        self._commit(account, change)
        return change

    def _commit(self, account: Any, change: StatusChange) -> None:
        history = getattr(account, "history", None)
        if isinstance(history, History):
            if not history:
                since = getattr(account, "status_since", None) or change.at
                history.append(
                    StatusChange(change.account_id, change.source, change.source, OPEN, since)
                )
            history.append(change)
        setattr(account, self._status_attr, change.dest.code)
        if hasattr(account, "status_since"):
            account.status_since = change.at

    def move_to(
        self,
        account: Any,
        status: StatusRef,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        hooks: Hooks | None = None,
        **data: Any,
    ) -> StatusChange:
        """Fire the one trigger that leads from the account's status to ``status``.

        For pick-list UIs. Refuses with :class:`~acctstate.errors.AmbiguousMove` when
        several triggers lead there, naming them.

        Raises:
            IllegalTransition: no trigger leads there.
            AmbiguousMove: several do.
            (and every error of :meth:`fire`)
        """
        target = self._catalog[status]
        source = self.status_of(account)
        leading = sorted(
            {e.trigger for e in self._edges if e.source == source and e.dest == target}
        )
        account_id = getattr(account, "id", None)
        if not leading:
            raise IllegalTransition(
                account_id=account_id,
                status=source,
                trigger="",
                target=target,
                allowed=self._table.allowed.get(source.code, ()),
            )
        if len(leading) > 1:
            raise AmbiguousMove(
                account_id=account_id, status=source, target=target, candidates=leading
            )
        planned = self.plan(
            account, leading[0], at=at, reason=reason, note=note, actor=actor, **data
        )
        if planned.dest != target:
            # The trigger has guarded alternatives and, now, its guards lead elsewhere
            # (end_trial without a payment method): refuse with the target edge's reasons.
            ctx = GuardContext(account, at, actor, data)
            refusals = [
                r
                for e in self._edges
                if e.source == source and e.dest == target
                for g in e.guards
                if (r := g(ctx)) is not None
            ]
            raise GuardRefused(
                account_id=account_id, status=source, trigger=leading[0], refusals=refusals
            )
        return self.fire(
            account,
            leading[0],
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            hooks=hooks,
            **data,
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
        when = self._clock.now() if at is None else at
        source = self.status_of(account)
        try:
            _, edge, _ = self._decide(account, trigger, when, actor, data, through_engine=False)
        except IllegalTransition:
            return Explanation(trigger, source, False, None, (), False)
        except PermissionDenied as exc:
            refusal = Refusal("permission", str(exc).split(": ", 1)[-1])
            return Explanation(trigger, source, False, None, (refusal,), True)
        except GuardRefused as exc:
            return Explanation(trigger, source, False, None, exc.refusals, True)
        return Explanation(trigger, source, True, edge.dest, (), True)

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
        source = self.status_of(account)
        return tuple(
            t
            for t in self._table.allowed.get(source.code, ())
            if self.may(account, t, at=at, actor=actor, **data)
        )

    def statuses_for(self, codes: Sequence[int]) -> list[Status]:
        """Resolve many codes at once (for bulk work)."""
        by = self._by_code
        try:
            return [by[c] for c in codes]
        except KeyError as exc:
            raise UnknownStatus(exc.args[0], known=self._catalog.names) from None
