"""How the simulated customers behave: [`Scenario`][acctstate.simulation.Scenario], its rates and
weights checked when it is made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from acctstate.operations.money.refunds import CANCEL_OPTIONS
from acctstate.values.errors import InvalidArgument

__all__ = ["Scenario"]


def _share(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidArgument(attribute.name, value, "a probability between 0 and 1")


def _days(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(attribute.name, value, "a whole number of days, at least 1")


def _weights(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise InvalidArgument("cancel_options", value, "a mapping of option name to weight")
    out: dict[str, int] = {}
    for name, weight in value.items():
        if name not in CANCEL_OPTIONS:
            raise InvalidArgument(
                "cancel_options", name, f"one of {', '.join(sorted(CANCEL_OPTIONS))}"
            )
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise InvalidArgument(f"cancel_options[{name!r}]", weight, "a non-negative int")
        out[name] = weight
    if not any(out.values()):
        raise InvalidArgument("cancel_options", value, "at least one positive weight")
    return out


@attrs.frozen
class Scenario:
    """How the simulated customers behave. Rates are probabilities (floats are fine here:
    they are odds, not money).

    Args:
        signups: new prospects per day, as a share of the starting book.
        trial: share of new customers who start with a 14-day trial.
        trial_without_card: share of trials that end without a payment method (the
            workflow then cancels them).
        dropout: share of prospects who give up during onboarding (canceled).
        late: share of customers who pay 3 to 70 days after the due date.
        defaulters: share of customers who stop paying ...
        recover: ... of whom this share pays in the end (55 to 110 days late) and is
            reinstated with a back bill; the others are terminated once dunning is
            exhausted.
        cancel: chance per day that a customer in service cancels.
        cancel_options: weight of each EngageIP-style cancel option
            ([`acctstate.refunds.CANCEL_OPTIONS`][acctstate.refunds.CANCEL_OPTIONS] names).
        winback: share of canceled customers who come back (forward bill) within
            10 to 120 days.
        contracts: share of the starting book whose fixed contract ends during the run ...
        renew: ... of whom this share renews (forward bill) within 20 days.
        closed: share of the starting book already closed (archived once closed 180 days).
        due_days: days from an invoice to its due date.
        terminate_after_days: days in the last dunning step before termination.

    >>> Scenario(late=1.5)
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid late: got 1.5; expected a probability between 0 and 1
    """

    signups: float = attrs.field(default=0.002, kw_only=True, validator=_share)
    trial: float = attrs.field(default=0.4, kw_only=True, validator=_share)
    trial_without_card: float = attrs.field(default=0.3, kw_only=True, validator=_share)
    dropout: float = attrs.field(default=0.08, kw_only=True, validator=_share)
    late: float = attrs.field(default=0.15, kw_only=True, validator=_share)
    defaulters: float = attrs.field(default=0.05, kw_only=True, validator=_share)
    recover: float = attrs.field(default=0.4, kw_only=True, validator=_share)
    cancel: float = attrs.field(default=0.0008, kw_only=True, validator=_share)
    cancel_options: Mapping[str, int] = attrs.field(
        factory=lambda: {
            "immediately_prorated_refund": 35,
            "period_end": 30,
            "immediately_no_refund": 15,
            "specific_date_prorated_refund": 10,
            "immediately_full_refund": 5,
            "immediately_prorated_as_of_date": 5,
        },
        kw_only=True,
        converter=_weights,
    )
    winback: float = attrs.field(default=0.1, kw_only=True, validator=_share)
    contracts: float = attrs.field(default=0.05, kw_only=True, validator=_share)
    renew: float = attrs.field(default=0.5, kw_only=True, validator=_share)
    closed: float = attrs.field(default=0.08, kw_only=True, validator=_share)
    due_days: int = attrs.field(default=14, kw_only=True, validator=_days)
    terminate_after_days: int = attrs.field(default=15, kw_only=True, validator=_days)
