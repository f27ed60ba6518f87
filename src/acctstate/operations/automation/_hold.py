"""Credit hold: automatic placement, removal and deactivation, and temporary releases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

from acctstate.operations.automation._fields import (
    _amount,
    _count_or_none,
    _instance_of,
    _status_ref,
    _trigger,
    _trigger_or_none,
)
from acctstate.values.catalog import StatusRef
from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument

__all__ = ["CreditHold", "HoldRelease"]


def _account_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str:
        raise InvalidArgument("account_id", value, "an account id (str)")


def _aware_start(value: object) -> dt.datetime:
    return require_aware(value, "start")


def _aware_end(value: object) -> dt.datetime:
    return require_aware(value, "end")


@attrs.frozen
class HoldRelease:
    """A temporary credit-hold removal for one account.

    The release carries its own window: the automation lifts the hold on the first run
    at or after ``start`` and, on the first run at or after ``end``, returns the account to
    the hold unless the past-due balance was paid (then the hold is removed).

    Args:
        account_id: the account.
        start: when service resumes (timezone-aware).
        end: when the release ends (timezone-aware, after ``start``).
    """

    account_id: str = attrs.field(validator=_account_id)
    start: dt.datetime = attrs.field(converter=_aware_start)
    end: dt.datetime = attrs.field(converter=_aware_end)

    def covers(self, at: dt.datetime) -> bool:
        """Whether ``at`` falls inside the release (``start`` included, ``end`` not)."""
        return self.start <= at < self.end


def _releases(value: object) -> tuple[HoldRelease, ...]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise InvalidArgument("releases", value, "an iterable of HoldRelease values")
    out: tuple[Any, ...] = tuple(value)
    for r in out:
        if not isinstance(r, HoldRelease):
            raise InvalidArgument("releases", r, "HoldRelease values")
    return out


@attrs.frozen
class CreditHold:
    """The credit-hold automation for one account class.

    Args:
        past_due_days: place the hold once an invoice is this many days past due
            (``None``: automatic placement off).
        min_past_due: ... and the past-due balance is at least this (``Decimal``; owing
            exactly this is enough, and something must be owed).
        inactive_after_days: move a held account to inactive after this many days on
            hold (``None``: never).
        auto_remove: lift the hold automatically once the balance is paid.
        releases: temporary hold removals, one per account and window.
        status: the credit-hold status.
        place: the trigger that places the hold.
        remove: the trigger that lifts it when paid.
        deactivate: the trigger from hold to inactive.
        release: the trigger that lifts it temporarily, when a release's window starts.
        restore: the trigger that returns a released account to the hold once its window
            is over and the balance is still owed (``None``: placement does, when
            ``place`` leads from the released status into the hold). A policy with
            releases and no way back into the hold is refused.
        hold: a hold type of the workflow (see [`acctstate.holds`][acctstate.holds]) to
            place *instead of* moving the account to the credit-hold status (``None``:
            the status). The automation places it once past due, releases it once paid
            (``auto_remove``) or while a temporary release covers the run, and leaves
            the status alone; ``status`` and the triggers are then not used, and
            ``inactive_after_days`` is refused.
    """

    past_due_days: int | None = attrs.field(default=None, validator=_count_or_none)
    min_past_due: Decimal = attrs.field(default=Decimal(0), converter=_amount)
    inactive_after_days: int | None = attrs.field(default=None, validator=_count_or_none)
    auto_remove: bool = attrs.field(default=True, validator=_instance_of(bool, "a bool"))
    releases: tuple[HoldRelease, ...] = attrs.field(default=(), converter=_releases)
    status: StatusRef = attrs.field(default="credit_hold", validator=_status_ref)
    place: str = attrs.field(default="place_credit_hold", validator=_trigger)
    remove: str = attrs.field(default="remove_credit_hold", validator=_trigger)
    deactivate: str = attrs.field(default="deactivate", validator=_trigger)
    release: str = attrs.field(default="release_credit_hold", validator=_trigger)
    restore: str | None = attrs.field(default=None, validator=_trigger_or_none)
    hold: str | None = attrs.field(default=None, validator=_trigger_or_none)

    def released(self, account_id: object, at: dt.datetime) -> bool:
        """Whether ``account_id`` has a temporary release covering ``at``."""
        return any(r.account_id == account_id and r.covers(at) for r in self.releases)
