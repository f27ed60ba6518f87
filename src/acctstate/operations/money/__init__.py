"""Money: proration of a billing period and the refunds and charges of a cancellation.

``acctstate.proration`` holds the arithmetic (periods, bases, quotes); ``acctstate.refunds``
the cancellation options and effect rules, and re-exports the arithmetic.
"""

from acctstate.operations.money.refunds import (
    ACTUAL_DAYS,
    BASES,
    CANCEL_OPTIONS,
    MINOR_UNITS,
    ROUNDING_MODES,
    SECONDS,
    THIRTY_DAY,
    ActualDays,
    BackBill,
    Basis,
    CancelDay,
    Cancellation,
    CancelOption,
    ForwardBill,
    Period,
    RefundPolicy,
    RefundRule,
    Seconds,
    ServiceStop,
    ThirtyDay,
    minor_units,
    quote,
    register_basis,
)

__all__ = [
    "ACTUAL_DAYS",
    "ActualDays",
    "BASES",
    "BackBill",
    "Basis",
    "CANCEL_OPTIONS",
    "CancelDay",
    "CancelOption",
    "Cancellation",
    "ForwardBill",
    "MINOR_UNITS",
    "Period",
    "ROUNDING_MODES",
    "RefundPolicy",
    "RefundRule",
    "SECONDS",
    "Seconds",
    "ServiceStop",
    "THIRTY_DAY",
    "ThirtyDay",
    "minor_units",
    "quote",
    "register_basis",
]
