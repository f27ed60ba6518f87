"""Automation policies as plain data, so they travel to other processes as text.

A distributed sweep must not ship pickled Python objects to its workers: a pickled
workflow carries its guards and effect rules as code, and a worker with another version
of the host's modules would run something else than the driver checked. Instead the
driver writes each policy as a document of strings, numbers and lists, with its workflow
in the workflow-file form ([`dump_workflow`][acctstate.config.dump_workflow], so only registered,
named guards and effect rules can travel), and every worker builds the policy again from
that document, validating it exactly as the driver did.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from acctstate.operations.automation import (
    AutomationPolicy,
    CreditHold,
    DunningLadder,
    HoldRelease,
    LadderCancellation,
    LadderStep,
)
from acctstate.values.actors import Actor
from acctstate.values.errors import ConfigError, InvalidArgument
from acctstate.values.status import Status
from acctstate.world.config import (
    dump_workflow,
    ladder_document,
    ladder_from_document,
    load_workflow,
)

__all__ = [
    "DOCUMENT_FORMAT",
    "FIELDS",
    "document_text",
    "policies_from_document",
    "policies_to_document",
]

DOCUMENT_FORMAT = 1
"""The version of the policy document; a worker refuses a document of another version."""

# The fields each document entry holds, per type. A field added to one of these types
# must be added here too (a test compares them with the attrs fields), or the workers
# would build a policy that differs from the driver's.
FIELDS: dict[type, tuple[str, ...]] = {
    AutomationPolicy: (
        "workflow",
        "account_class",
        "enabled",
        "ladder",
        "credit_hold",
        "auto_apply",
        "trial_end",
        "activation",
        "expiration",
        "contract_expiry",
        "archive",
        "archive_after_days",
        "run_at",
        "timezone",
        "actor",
        "reason",
    ),
    DunningLadder: (
        "steps",
        "home",
        "escalate",
        "clear",
        "order",
        "deescalate",
        "ends_in_cancellation",
        "enforcement_off",
    ),
    LadderStep: (
        "status",
        "min_days",
        "min_balance",
        "min_invoices",
        "with_tags",
        "without_tags",
        "failure_reasons",
        "condition",
        "down",
        "cancel",
    ),
    LadderCancellation: ("trigger", "when", "refund"),
    CreditHold: (
        "past_due_days",
        "min_past_due",
        "inactive_after_days",
        "auto_remove",
        "releases",
        "status",
        "place",
        "remove",
        "deactivate",
        "release",
        "restore",
        "hold",
    ),
    HoldRelease: ("account_id", "start", "end"),
    Actor: ("id", "kind", "permissions"),
}


def _ref(value: object) -> int | str:
    # A status given as a Status object travels as its code (what the policy resolves).
    return value.code if isinstance(value, Status) else value  # type: ignore[return-value]


def _ladder(ladder: DunningLadder | None) -> dict[str, Any] | None:
    # The workflow file's form of a ladder (every option, money as text).
    return None if ladder is None else ladder_document(ladder)


def _hold(hold: CreditHold | None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {
        "past_due_days": hold.past_due_days,
        "min_past_due": str(hold.min_past_due),
        "inactive_after_days": hold.inactive_after_days,
        "auto_remove": hold.auto_remove,
        "releases": [
            {"account_id": r.account_id, "start": r.start.isoformat(), "end": r.end.isoformat()}
            for r in hold.releases
        ],
        "status": _ref(hold.status),
        "place": hold.place,
        "remove": hold.remove,
        "deactivate": hold.deactivate,
        "release": hold.release,
        "restore": hold.restore,
        "hold": hold.hold,
    }


def policies_to_document(policies: Sequence[AutomationPolicy]) -> dict[str, Any]:
    """The policies as plain data (strings, numbers, lists, ``None``), JSON-ready.

    Each distinct workflow is written once, as the text of its JSON workflow file.

    Raises:
        ConfigError: a workflow has a guard or effect rule that a file cannot name
            (not in the registries); register it under a name to sweep in partitions.
        InvalidArgument: something other than an ``AutomationPolicy``.
    """
    workflows: list[str] = []
    entries: list[dict[str, Any]] = []
    for p in policies:
        if not isinstance(p, AutomationPolicy):
            raise InvalidArgument("policy", p, "an AutomationPolicy (or a sequence of them)")
        text = dump_workflow(p.workflow, format="json")
        if text not in workflows:
            workflows.append(text)
        entries.append(
            {
                "workflow": workflows.index(text),
                "account_class": p.account_class,
                "enabled": p.enabled,
                "ladder": _ladder(p.ladder),
                "credit_hold": _hold(p.credit_hold),
                "auto_apply": p.auto_apply,
                "trial_end": p.trial_end,
                "activation": p.activation,
                "expiration": p.expiration,
                "contract_expiry": p.contract_expiry,
                "archive": p.archive,
                "archive_after_days": p.archive_after_days,
                "run_at": p.run_at.isoformat(),
                "timezone": p.timezone,
                "actor": {
                    "id": p.actor.id,
                    "kind": p.actor.kind.value,
                    "permissions": sorted(p.actor.permissions),
                },
                "reason": p.reason,
            }
        )
    return {"format": DOCUMENT_FORMAT, "workflows": workflows, "policies": entries}


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _ladder_from(doc: Mapping[str, Any] | None) -> DunningLadder | None:
    return None if doc is None else ladder_from_document(doc, source="<policies>")


def _hold_from(doc: Mapping[str, Any] | None) -> CreditHold | None:
    if doc is None:
        return None
    return CreditHold(
        past_due_days=doc["past_due_days"],
        min_past_due=Decimal(doc["min_past_due"]),
        inactive_after_days=doc["inactive_after_days"],
        auto_remove=doc["auto_remove"],
        releases=[
            HoldRelease(r["account_id"], _when(r["start"]), _when(r["end"]))
            for r in doc["releases"]
        ],
        status=doc["status"],
        place=doc["place"],
        remove=doc["remove"],
        deactivate=doc["deactivate"],
        release=doc["release"],
        restore=doc.get("restore"),
        hold=doc.get("hold"),
    )


def policies_from_document(doc: Mapping[str, Any]) -> tuple[AutomationPolicy, ...]:
    """The policies written by `policies_to_document`, built and validated again.

    Raises:
        ConfigError: a document of another format version, or a workflow file that
            does not load.
        PolicyError: a policy that does not validate against its workflow.
    """
    if doc.get("format") != DOCUMENT_FORMAT:
        raise ConfigError(
            f"policy document format {doc.get('format')!r} is not supported; expected "
            f"{DOCUMENT_FORMAT} (driver and workers must run the same acctstate version)",
            source="<policies>",
        )
    workflows = [load_workflow(text, format="json") for text in doc["workflows"]]
    out = []
    for e in doc["policies"]:
        actor = e["actor"]
        out.append(
            AutomationPolicy(
                workflows[e["workflow"]],
                account_class=e["account_class"],
                enabled=e["enabled"],
                ladder=_ladder_from(e["ladder"]),
                credit_hold=_hold_from(e["credit_hold"]),
                auto_apply=e.get("auto_apply", False),
                trial_end=e["trial_end"],
                activation=e["activation"],
                expiration=e["expiration"],
                contract_expiry=e["contract_expiry"],
                archive=e["archive"],
                archive_after_days=e["archive_after_days"],
                run_at=dt.time.fromisoformat(e["run_at"]),
                timezone=e["timezone"],
                actor=Actor(actor["id"], kind=actor["kind"], permissions=actor["permissions"]),
                reason=e["reason"],
            )
        )
    return tuple(out)


def document_text(policies: Sequence[AutomationPolicy]) -> str:
    """`policies_to_document` as compact JSON text (what travels to the workers)."""
    return json.dumps(policies_to_document(policies), separators=(",", ":"), sort_keys=True)
