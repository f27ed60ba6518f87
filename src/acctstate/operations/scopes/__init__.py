"""Scopes: an account, its sites and their subscriptions, each with its own status in its
own workflow, and cascade rules between the levels.

Declare the levels and the cascade rules once (checked when built), then fire, place and
release holds on any entity of a customer's tree: every change it cascades to is planned
first as one [`ChangeSet`][acctstate.scopes.ChangeSet], then the hooks run, then all of it
is committed, or none. Public path: ``acctstate.scopes``.
"""

from acctstate.operations.scopes._changes import ChangeSet, ChangeSetFailed, Step
from acctstate.operations.scopes._model import (
    EXEMPTIONS,
    Cascade,
    Entity,
    Exemption,
    HoldCascade,
    Scope,
    ScopeConflict,
    UnknownEntity,
    paid_ahead,
)
from acctstate.operations.scopes._plan import InScope
from acctstate.operations.scopes._scopes import Scopes, no_active_service

__all__ = [
    "EXEMPTIONS",
    "Cascade",
    "ChangeSet",
    "ChangeSetFailed",
    "Entity",
    "Exemption",
    "HoldCascade",
    "InScope",
    "Scope",
    "ScopeConflict",
    "Scopes",
    "Step",
    "UnknownEntity",
    "no_active_service",
    "paid_ahead",
]
