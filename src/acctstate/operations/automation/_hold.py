"""Credit hold: automatic placement, removal and deactivation, and temporary releases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

from acctstate.operations.automation._fields import _amount, _count_or_none, _status_ref
from acctstate.values.catalog import StatusRef
from acctstate.values.clock import require_aware
from acctstate.values.errors import InvalidArgument

__all__ = ["CreditHold", "HoldRelease"]


def _aware_start(value: object) -> dt.datetime:
    return require_aware(value, "start")


def _aware_end(value: object) -> dt.datetime:
    return require_aware(value, "end")


@attrs.frozen
class HoldRelease:
    """A temporary credit-hold removal for one account.

    Service resumes from ``start`` until ``end``; after ``end`` the hold returns unless
    the past-due balance was paid.

    Args:
        account_id: the account.
        start: when service resumes (timezone-aware).
        end: when the release ends (timezone-aware, after ``start``).
    """

    account_id: str = attrs.field(validator=attrs.validators.instance_of(str))
    start: dt.datetime = attrs.field(converter=_aware_start)
    end: dt.datetime = attrs.field(converter=_aware_end)

    def covers(self, at: dt.datetime) -> bool:
        """Whether ``at`` falls inside the release (``start`` included, ``end`` not)."""
        return self.start <= at < self.end


def _releases(value: object) -> tuple[HoldRelease, ...]:
    out: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
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
        min_past_due: ... and the past-due balance is at least this (``Decimal``).
        inactive_after_days: move a held account to inactive after this many days on
            hold (``None``: never).
        auto_remove: lift the hold automatically once the balance is paid.
        releases: temporary hold removals, one per account and window.
        status: the credit-hold status.
        place: the trigger that places the hold.
        remove: the trigger that lifts it when paid.
        deactivate: the trigger from hold to inactive.
        release: the trigger that lifts it temporarily (placement re-applies it later).
    """

    past_due_days: int | None = attrs.field(default=None, validator=_count_or_none)
    min_past_due: Decimal = attrs.field(default=Decimal(0), converter=_amount)
    inactive_after_days: int | None = attrs.field(default=None, validator=_count_or_none)
    auto_remove: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    releases: tuple[HoldRelease, ...] = attrs.field(default=(), converter=_releases)
    status: StatusRef = attrs.field(default="credit_hold", validator=_status_ref)
    place: str = "place_credit_hold"
    remove: str = "remove_credit_hold"
    deactivate: str = "deactivate"
    release: str = "release_credit_hold"

    def released(self, account_id: object, at: dt.datetime) -> bool:
        """Whether ``account_id`` has a temporary release covering ``at``."""
        return any(r.account_id == account_id and r.covers(at) for r in self.releases)
