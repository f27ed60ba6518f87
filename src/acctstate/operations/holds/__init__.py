"""Holds: several named, independent reasons to block an account at once.

Declare hold types on the workflow, place and release holds as recorded changes, and ask
``wf.why_blocked(account, "billing")`` for every reason. Public path: ``acctstate.holds``.
"""

from acctstate.operations.holds._place import place_hold, release_expired, release_hold
from acctstate.operations.holds._types import STANDARD_HOLDS
from acctstate.values.holds import (
    CAPABILITIES,
    HOLD_KINDS,
    PLACE_HOLD,
    RELEASE_HOLD,
    Blocked,
    BlockReason,
    Hold,
    HoldType,
    UnknownHold,
    effective_capability,
)

__all__ = [
    "CAPABILITIES",
    "HOLD_KINDS",
    "PLACE_HOLD",
    "RELEASE_HOLD",
    "STANDARD_HOLDS",
    "Blocked",
    "BlockReason",
    "Hold",
    "HoldType",
    "UnknownHold",
    "effective_capability",
    "place_hold",
    "release_expired",
    "release_hold",
]
