"""Holds in a store: placing and releasing them as recorded changes (shared by the stores).

A hold change is planned by [`acctstate.holds`][acctstate.holds] against the stored
account -- its status, history, facts and standing holds -- exactly as on an object,
then written like any change: the account's version goes up by one (its status and
``status_since`` stay), the change goes into the history and its effects into the
outbox, and the hold's own row is added (placement) or marked released, all in one
transaction. A concrete store supplies ``_hold_change`` and ``holds``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from acctstate.core.workflow import Workflow
from acctstate.operations.holds._place import plan_place, plan_release
from acctstate.values.actors import Actor
from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import StatusChange
from acctstate.values.holds import Blocked, Hold
from acctstate.world.store._codec import check_count, check_id, utc
from acctstate.world.store._facts import AccountView
from acctstate.world.store._types import StoredAccount

__all__ = ["HoldPlan", "HoldsMixin", "utc_hold"]

HoldPlan = Callable[[Workflow, Any], tuple[StatusChange, tuple[Hold, ...]]]
"""Plans a hold change against an account view: the change and the standing holds after."""


def utc_hold(hold: Hold) -> Hold:
    """The hold with its instants in UTC, as a store gives it back."""
    until = hold.until
    if hold.since.tzinfo is dt.UTC and (until is None or until.tzinfo is dt.UTC):
        return hold
    return attrs.evolve(hold, since=utc(hold.since), until=None if until is None else utc(until))


class HoldsMixin:
    """``place_hold`` and ``release_hold`` of a store, over its ``_hold_change``."""

    __slots__ = ()
    _workflow: Workflow

    def _held_state(self, account_id: str) -> tuple[StoredAccount, tuple[Hold, ...]]:
        raise NotImplementedError  # pragma: no cover

    def why_blocked(self, account_id: str, capability: str) -> Blocked:
        """Every reason ``capability`` (billing, service, changes) is blocked on the stored
        account: its status and each standing hold, as
        [`Workflow.why_blocked`][acctstate.workflow.Workflow.why_blocked] gives them.

        Raises:
            InvalidArgument: no such account, or an unknown capability.
        """
        stored, holds = self._held_state(account_id)
        return self._workflow.why_blocked(AccountView(stored, None, None, {}, holds), capability)

    def _hold_change(
        self,
        account_id: str,
        expected_version: int | None,
        data: Mapping[str, Any],
        plan: HoldPlan,
        options: Mapping[str, Any],
    ) -> StatusChange:
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def _hold_args(account_id: str, at: dt.datetime, expected_version: int | None) -> None:
        check_id(account_id)
        require_aware(at)
        if expected_version is not None:
            check_count(expected_version, "expected_version", minimum=0)

    def _place(
        self,
        account_id: str,
        hold_type: str,
        *,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        until: dt.datetime | None,
        hold_id: str | None,
        expected_version: int | None,
        data: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> StatusChange:
        self._hold_args(account_id, at, expected_version)
        if hold_id is not None:
            check_id(hold_id, "hold_id")

        def plan(wf: Workflow, view: Any) -> tuple[StatusChange, tuple[Hold, ...]]:
            return plan_place(
                wf,
                view,
                hold_type,
                at=at,
                reason=reason,
                note=note,
                actor=actor,
                until=until,
                hold_id=hold_id,
                data=data,
            )

        return self._hold_change(account_id, expected_version, data, plan, options)

    def _release(
        self,
        account_id: str,
        hold: Hold | str,
        *,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        expected_version: int | None,
        options: Mapping[str, Any],
    ) -> StatusChange:
        self._hold_args(account_id, at, expected_version)
        if not isinstance(hold, Hold | str):
            raise InvalidArgument("hold", hold, "a standing Hold or its id (str)")

        def plan(wf: Workflow, view: Any) -> tuple[StatusChange, tuple[Hold, ...]]:
            return plan_release(wf, view, hold, at=at, reason=reason, note=note, actor=actor)

        return self._hold_change(account_id, expected_version, {}, plan, options)

    # -- the public methods (the SQL store adds ``connection=``) ----------------------

    def holds(self, account_id: str) -> tuple[Hold, ...]:
        """The holds standing on the account, in the order they were placed (UTC).

        Raises:
            InvalidArgument: no such account.
        """
        raise NotImplementedError  # pragma: no cover

    def place_hold(
        self,
        account_id: str,
        hold_type: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        until: dt.datetime | None = None,
        hold_id: str | None = None,
        expected_version: int | None = None,
        **data: Any,
    ) -> StatusChange:
        """Place a hold on the stored account, as [`place_hold`][acctstate.holds.place_hold]
        does on an object; record the change, its effects and the hold.

        Args:
            account_id: the account.
            hold_type: one of the workflow's hold types.
            at: when it is placed (timezone-aware).
            reason: a reason code.
            note: free text for the history.
            actor: who places it.
            until: when it ends by itself (the automation releases it then).
            hold_id: the hold's id (default: ``"H1"``, ``"H2"`` ... as on an object).
            expected_version: fail unless the account is still at this version.
            **data: event data read by the hold type's guards.

        Returns:
            The recorded change (its effects are pending in the outbox).

        It also raises every error of [`place_hold`][acctstate.holds.place_hold].

        Raises:
            ConcurrentChange: the account is not at ``expected_version``, or another
                writer changed it meanwhile.
            InvalidArgument: unknown account, or the change's effect keys are taken.
        """
        return self._place(
            account_id,
            hold_type,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            until=until,
            hold_id=hold_id,
            expected_version=expected_version,
            data=data,
            options={},
        )

    def release_hold(
        self,
        account_id: str,
        hold: Hold | str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        expected_version: int | None = None,
    ) -> StatusChange:
        """Release one standing hold of the stored account (by id or value), as
        [`release_hold`][acctstate.holds.release_hold] does on an object.

        Returns:
            The recorded change (its effects are pending in the outbox).

        It also raises every error of [`release_hold`][acctstate.holds.release_hold].

        Raises:
            ConcurrentChange: the account is not at ``expected_version``, or another
                writer changed it meanwhile.
            InvalidArgument: unknown account.
        """
        return self._release(
            account_id,
            hold,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            expected_version=expected_version,
            options={},
        )
