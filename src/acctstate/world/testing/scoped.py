"""A ready stateful test for scopes: [`scoped_state_machine`][acctstate.testing.scoped_state_machine].

The machine builds a customer's tree (an account, its sites, their subscriptions) and
drives parents and children together: it fires drawn triggers on drawn entities, places
and releases holds, names spared children or leaves it to the rules, and sometimes
makes a hook fail. After every step it checks the rules that make cascades safe:

* no entity stands in a status its parent's status forbids (a strict cascade);
* a refused or failed call changes no entity (status, holds, history);
* every change of a change set is an ordinary transition of its entity's own workflow,
  and every cascaded change names an earlier change as its cause, in the change set and
  in the recorded change (``StatusChange.cause``: that entity, its trigger, the rule);
* every status matches the end of its entity's history, kept in time order;
* an inherited hold stands only while the hold it was copied from stands.

A host application runs it against its own levels and rules::

    TestMyScopes = scoped_state_machine(my_scopes, my_customer_tree).TestCase
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from acctstate.operations.scopes import ChangeSet, Entity, Scopes
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.errors import AcctStateError, InvalidArgument
from acctstate.values.history import Cause, History
from acctstate.values.holds import PLACE_HOLD, RELEASE_HOLD
from acctstate.world.testing.stateful import FlakyHooks

__all__ = ["ScopeInvariantError", "scoped_state_machine"]


class ScopeInvariantError(AssertionError):
    """Scopes broke one of the rules the scoped stateful test checks (names the rule)."""


def _fail(rule: str, detail: str) -> ScopeInvariantError:
    return ScopeInvariantError(f"[{rule}] {detail}")


def _snapshot(tree: Entity) -> dict[str, tuple[Any, ...]]:
    out = {}
    for e in tree.walk():
        a = e.account
        history = getattr(a, "history", None)
        out[e.id] = (
            a.status,
            getattr(a, "holds", None),
            tuple(history) if isinstance(history, History) else None,
        )
    return out


def _latest(tree: Entity) -> dt.datetime:
    found = []
    for e in tree.walk():
        history = getattr(e.account, "history", None)
        if isinstance(history, History) and history:
            found.append(history[-1].at.astimezone(dt.UTC))
        since = getattr(e.account, "status_since", None)
        if since is not None:
            found.append(since.astimezone(dt.UTC))
    return max(found) if found else dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class _ScopedBase(RuleBasedStateMachine):
    scopes: Scopes
    make_tree: Callable[[], Entity]

    def __init__(self) -> None:
        super().__init__()
        self.tree = type(self).make_tree()
        self.scopes.check_tree(self.tree)
        self.entities = tuple(self.tree.walk())
        self.at = _latest(self.tree)

    def _pick(self, pick: int) -> Entity:
        return self.entities[pick % len(self.entities)]

    def _spare(self, how: int, pick: int) -> tuple[str, ...] | None:
        if how == 0:
            return None  # the rules' exemptions decide
        if how == 1:
            return ()  # the operator spares nobody
        return (self._pick(pick).id,)

    def _run(self, what: str, call: Callable[[FlakyHooks], ChangeSet], fail_at: int | None) -> None:
        before = _snapshot(self.tree)
        try:
            changes = call(FlakyHooks(fail_at=fail_at))
        except AcctStateError as exc:
            after = _snapshot(self.tree)
            if after != before:
                moved = sorted(k for k in before if before[k] != after[k])
                detail = f"{what} raised {exc!r} yet changed {moved}"
                raise _fail("refusal-changes-nothing", detail) from exc
            return
        self._check_committed(what, changes)

    def _check_committed(self, what: str, changes: ChangeSet) -> None:
        for i, step in enumerate(changes):
            if step.cause is not None and not 0 <= step.cause < i:
                raise _fail("cascade-cause", f"{what}: step {i} names cause {step.cause}")
            c = step.change
            by = changes.cause_of(step)
            named = (
                None
                if by is None
                else Cause(by.scope, by.entity_id, by.change.trigger, str(step.rule))
            )
            if c.cause != named:
                detail = f"{what}: step {i} records the cause {c.cause}, not {named}"
                raise _fail("cascade-cause", detail)
            if c.trigger not in (PLACE_HOLD, RELEASE_HOLD):
                wf = self.scopes.workflow(step.scope)
                if not any(
                    e.trigger == c.trigger and e.source == c.source and e.dest == c.dest
                    for e in wf.transitions
                ):
                    raise _fail(
                        "cascade-edge",
                        f"{what}: {step.scope} {step.entity_id!r} moved {c.source.name} -> "
                        f"{c.dest.name} by {c.trigger!r}, a transition its workflow lacks",
                    )
            history = getattr(self.tree.find(step.entity_id).account, "history", None)
            if isinstance(history, History) and c not in tuple(history):
                raise _fail("committed", f"{what}: step {i} is not in its entity's history")

    @rule(
        pick=st.integers(0, 2**16),
        trigger=st.integers(0, 2**16),
        hours=st.integers(0, 24 * 40),
        system=st.booleans(),
        spare_how=st.integers(0, 2),
        spare_pick=st.integers(0, 2**16),
        fail_at=st.none() | st.integers(0, 6),
    )
    def fire(
        self,
        pick: int,
        trigger: int,
        hours: int,
        system: bool,
        spare_how: int,
        spare_pick: int,
        fail_at: int | None,
    ) -> None:
        e = self._pick(pick)
        wf = self.scopes.workflow(e.scope)
        allowed = sorted({t.trigger for t in wf.edges_from(wf.status_of(e.account))})
        names = allowed or sorted(wf.triggers)
        name = names[trigger % len(names)]
        self.at += dt.timedelta(hours=hours)
        actor: Actor | None = SYSTEM if system else None
        spare = self._spare(spare_how, spare_pick)
        self._run(
            f"fire {name!r} on {e.scope} {e.id!r}",
            lambda h: self.scopes.fire(
                self.tree, e.id, name, at=self.at, actor=actor, spare=spare, hooks=h.hooks()
            ),
            fail_at,
        )

    @rule(
        pick=st.integers(0, 2**16),
        kind=st.integers(0, 2**16),
        hours=st.integers(0, 24 * 10),
        spare_how=st.integers(0, 2),
        spare_pick=st.integers(0, 2**16),
        fail_at=st.none() | st.integers(0, 6),
    )
    def place_hold(
        self, pick: int, kind: int, hours: int, spare_how: int, spare_pick: int, fail_at: int | None
    ) -> None:
        e = self._pick(pick)
        types = sorted(self.scopes.workflow(e.scope).hold_types)
        if not types:
            return
        name = types[kind % len(types)]
        self.at += dt.timedelta(hours=hours)
        spare = self._spare(spare_how, spare_pick)
        self._run(
            f"place a {name!r} hold on {e.scope} {e.id!r}",
            lambda h: self.scopes.place_hold(
                self.tree, e.id, name, at=self.at, actor=SYSTEM, spare=spare, hooks=h.hooks()
            ),
            fail_at,
        )

    @rule(
        pick=st.integers(0, 2**16),
        which=st.integers(0, 2**16),
        hours=st.integers(0, 24 * 10),
        fail_at=st.none() | st.integers(0, 6),
    )
    def release_hold(self, pick: int, which: int, hours: int, fail_at: int | None) -> None:
        e = self._pick(pick)
        standing = tuple(getattr(e.account, "holds", None) or ())
        if not standing:
            return
        hold = standing[which % len(standing)]
        self.at += dt.timedelta(hours=hours)
        self._run(
            f"release {hold.id!r} on {e.scope} {e.id!r}",
            lambda h: self.scopes.release_hold(
                self.tree, e.id, hold.id, at=self.at, actor=SYSTEM, hooks=h.hooks()
            ),
            fail_at,
        )

    @invariant()
    def nothing_forbidden(self) -> None:
        problems = self.scopes.conflicts(self.tree)
        if problems:
            raise _fail("forbidden-status", "; ".join(problems))

    @invariant()
    def statuses_match_histories(self) -> None:
        for e in self.entities:
            history = getattr(e.account, "history", None)
            if not isinstance(history, History) or not history:
                continue
            if history[-1].dest.code != e.account.status:
                raise _fail("history-end", f"{e.scope} {e.id!r} left its history")
            times = [c.at.astimezone(dt.UTC) for c in history]
            if times != sorted(times):
                raise _fail("history-order", f"{e.scope} {e.id!r} history is out of time order")

    @invariant()
    def inherited_holds_follow_their_origin(self) -> None:
        standing = {
            (e.id, h.id) for e in self.entities for h in (getattr(e.account, "holds", None) or ())
        }
        for e in self.entities:
            for h in getattr(e.account, "holds", None) or ():
                origin, _, own = h.id.partition("/")
                if own and (origin, own) not in standing:
                    raise _fail(
                        "inherited-hold",
                        f"{e.scope} {e.id!r} keeps {h.id!r} after {origin!r} released {own!r}",
                    )


def scoped_state_machine(scopes: Scopes, tree: Callable[[], Entity]) -> type[RuleBasedStateMachine]:
    """A hypothesis ``RuleBasedStateMachine`` driving a customer's tree through ``scopes``.

    Args:
        scopes: the levels and cascade rules under test.
        tree: makes a fresh tree for each run (its entities' histories opened).

    Returns:
        A machine class; its ``TestCase`` attribute is a ``unittest.TestCase`` that
        pytest collects.

    Raises:
        InvalidArgument: ``scopes`` is not a ``Scopes`` or ``tree`` is not callable.
    """
    if not isinstance(scopes, Scopes):
        raise InvalidArgument("scopes", scopes, "an acctstate.scopes.Scopes")
    if not callable(tree):
        raise InvalidArgument("tree", tree, "a function returning a fresh Entity tree")

    class Machine(_ScopedBase):
        pass

    Machine.scopes = scopes
    Machine.make_tree = staticmethod(tree)
    Machine.__name__ = Machine.__qualname__ = "ScopedMachine"
    return Machine
