"""A ready set of hold types, one per kind (private)."""

from __future__ import annotations

from acctstate.values.holds import HoldType

__all__ = ["STANDARD_HOLDS"]

STANDARD_HOLDS: tuple[HoldType, ...] = (
    HoldType(
        "credit",
        kind="credit",
        blocks={"billing", "service"},
        description="The customer is over the credit limit.",
    ),
    HoldType(
        "dunning",
        kind="dunning",
        blocks={"service"},
        description="Service is held while an unpaid balance is collected.",
    ),
    HoldType(
        "fraud",
        kind="fraud",
        blocks={"billing", "service", "changes"},
        permission="place_fraud_hold",
        description="Under fraud review.",
    ),
    HoldType(
        "manual", kind="manual", blocks={"billing"}, description="An operator stopped billing."
    ),
    HoldType(
        "vacation",
        kind="vacation",
        blocks={"billing", "service"},
        description="The customer paused the service.",
    ),
    HoldType(
        "temporary_release",
        kind="temporary_release",
        blocks={"changes"},
        description="Service released for a while: people may not change the status.",
    ),
)
"""One hold type per kind, for examples and hosts that need no others:
``credit``, ``dunning``, ``fraud`` (needs the ``place_fraud_hold`` permission),
``manual``, ``vacation`` and ``temporary_release``."""
