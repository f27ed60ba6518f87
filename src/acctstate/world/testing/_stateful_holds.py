"""The stateful test's hold steps: placements and releases interleaved with status changes.

For a workflow that declares hold types, the machine also places and releases drawn
holds (drawn types, times, actors, ``until`` and failing hooks) and checks after every
step:

* a hold change leaves the status and ``status_since`` alone, is appended to the history
  exactly once, and adds (or takes off) exactly its own hold;
* a refused or failed hold change changes nothing (status, history, standing holds);
* its effects are those of the change in effective capability, computed here from the
  status's flags and the holds' blocks (not by the library's own function);
* the effective capability always equals the status's flags minus the union of the
  standing holds;
* no ``StartBilling`` (or ``Provision``) is ever emitted while a standing hold blocks
  billing (or service).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from acctstate.core.workflow import Workflow
from acctstate.operations.holds import effective_capability, place_hold, release_hold
from acctstate.values.account import Account
from acctstate.values.actors import Actor
from acctstate.values.errors import AcctStateError
from acctstate.values.history import StatusChange
from acctstate.values.holds import Hold
from acctstate.values.status import Status
from acctstate.world.testing.strategies import permissions_of

__all__ = ["HoldSteps", "hold_actors"]


def hold_actors(wf: Workflow) -> st.SearchStrategy[Actor | None]:
    """No actor, a person or a system actor, holding any subset of the permissions the
    workflow's transitions and hold types require."""
    perms = sorted(
        {*permissions_of(wf), *(t.permission for t in wf.hold_types.values() if t.permission)}
    )
    held = st.sets(st.sampled_from(perms)) if perms else st.just(set[str]())
    person = st.builds(lambda p: Actor("clerk", permissions=frozenset(p)), held)
    system = st.builds(lambda p: Actor.system("sweep", permissions=frozenset(p)), held)
    return st.one_of(st.none(), person, system)


def _flags(status: Status) -> frozenset[str]:
    """The status's own capabilities, read from its flags here (not by the library)."""
    own = set()
    if status.billable or status.usage_billable:
        own.add("billing")
    if status.provisioned:
        own.add("service")
    if not status.terminal:
        own.add("changes")
    return frozenset(own)


def _union(holds: tuple[Hold, ...]) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for h in holds:
        out |= h.blocks
    return out


_Held = tuple[int, dt.datetime | None, tuple[StatusChange, ...], tuple[Hold, ...]]


def _held(account: Account) -> _Held:
    return (account.status, account.status_since, tuple(account.history), tuple(account.holds))


class HoldSteps:
    """The hold steps and invariants of the stateful machine (mixed into it)."""

    wf: Workflow
    now: dt.datetime
    account: Account | None
    # Set by the machine: its error type and its recording hooks.
    invariant_error: type[AssertionError]
    flaky_hooks: type[Any]

    def _fail(self, rule: str, detail: str) -> AssertionError:
        return self.invariant_error(f"[{rule}] {detail}")

    @property
    def acct(self) -> Account:  # pragma: no cover - the machine defines it
        raise NotImplementedError

    def _held_back(self, actor: Actor | None) -> bool:
        """Whether a standing hold blocks changes by ``actor`` (people, or no actor)."""
        if self.account is None or (actor is not None and actor.is_system):
            return False
        return any("changes" in h.blocks for h in self.acct.holds)

    def _hold_change(self, call: Any, before: _Held, what: str) -> StatusChange | None:
        recorder = self.flaky_hooks(fail_at=call[1])
        try:
            change: StatusChange = call[0](recorder.hooks())
        except AcctStateError as exc:
            if _held(self.acct) != before:
                raise self._fail(
                    "refusal-changes-nothing",
                    f"{what} raised {type(exc).__name__} ({exc}) but changed the account",
                ) from exc
            return None
        acct = self.acct
        status, since, history, holds = before
        if (acct.status, acct.status_since) != (status, since):
            raise self._fail("hold-keeps-status", f"{what} moved the status: {change!r}")
        if tuple(acct.history) != (*history, change):
            raise self._fail("history-append-only", f"{what} was not appended exactly once")
        hooks = recorder.hooks()
        routed = [e for e in change.effects if hooks.handler(e) is not None]
        if recorder.ran != routed:
            raise self._fail("effects", f"hooks ran {recorder.ran}, planned {routed}")
        self._check_hold_effects(change, holds, tuple(acct.holds))
        self.now = max(self.now, change.at, key=lambda t: t.astimezone(dt.UTC))
        return change

    def _check_hold_effects(
        self, change: StatusChange, before: tuple[Hold, ...], after: tuple[Hold, ...]
    ) -> None:
        status = self.wf.catalog[self.acct.status]
        own = _flags(status)
        was, now = own - _union(before), own - _union(after)
        kinds = [e.kind for e in change.effects]
        expected: list[str] = []
        if status.provisioned and "service" in was and "service" not in now:
            expected.append("deprovision")
        if status.billable and "billing" in was and "billing" not in now:
            expected.append("stop_billing")
        if status.usage_billable and "billing" in was and "billing" not in now:
            expected.append("stop_usage_billing")
        if status.provisioned and "service" not in was and "service" in now:
            expected.append("provision")
        if status.billable and "billing" not in was and "billing" in now:
            expected.append("start_billing")
        if status.usage_billable and "billing" not in was and "billing" in now:
            expected.append("start_usage_billing")
        if sorted(kinds) != sorted(expected):
            raise self._fail(
                "effects-follow-effective-capability",
                f"{change!r} emitted {kinds}; the effective capability went from "
                f"{sorted(was)} to {sorted(now)}, which implies {expected}",
            )

    def _place(
        self,
        pick: int,
        after: dt.timedelta,
        actor: Actor | None,
        until_hours: int | None,
        fail_at: int | None,
    ) -> None:
        wf, acct = self.wf, self.acct
        types = tuple(wf.hold_types)
        hold_type = types[pick % len(types)]
        at = self.now + after
        until = None if until_hours is None else at + dt.timedelta(hours=until_hours)
        before = _held(acct)

        def call(hooks: Any) -> StatusChange:
            return place_hold(wf, acct, hold_type, at=at, actor=actor, until=until, hooks=hooks)

        change = self._hold_change((call, fail_at), before, f"place_hold({hold_type!r})")
        if change is not None:
            placed = tuple(acct.holds)
            if placed[:-1] != before[3] or placed[-1].type != hold_type:
                raise self._fail("hold-own", f"placing {hold_type!r} left the holds {placed}")

    def _release(
        self, pick: int, after: dt.timedelta, actor: Actor | None, fail_at: int | None
    ) -> None:
        acct = self.acct
        standing = tuple(acct.holds)
        hold_id = standing[pick % len(standing)].id if standing else "no_such_hold"
        at = self.now + after
        before = _held(acct)

        def call(hooks: Any) -> StatusChange:
            return release_hold(self.wf, acct, hold_id, at=at, actor=actor, hooks=hooks)

        change = self._hold_change((call, fail_at), before, f"release_hold({hold_id!r})")
        if change is not None and tuple(acct.holds) != tuple(
            h for h in standing if h.id != hold_id
        ):
            raise self._fail("hold-own", f"releasing {hold_id!r} left the holds {acct.holds}")

    def _check_union(self) -> None:
        """Effective capability = the status's flags minus the union of standing holds,
        and the last change started nothing a standing hold blocks."""
        if self.account is None:
            return
        acct = self.acct
        status = self.wf.catalog[acct.status]
        holds = tuple(acct.holds)
        union = _union(holds)
        if effective_capability(status, holds) != _flags(status) - union:
            raise self._fail(
                "effective-capability",
                f"{sorted(effective_capability(status, holds))} != the flags of "
                f"{status.name!r} minus {sorted(union)}",
            )
        last = acct.history[-1]
        kinds = {e.kind for e in last.effects}
        if "billing" in union and kinds & {"start_billing", "start_usage_billing"}:
            raise self._fail("start-under-hold", f"{last!r} started billing while a hold blocks it")
        if "service" in union and "provision" in kinds:
            raise self._fail(
                "start-under-hold", f"{last!r} provisioned while a hold blocks service"
            )
