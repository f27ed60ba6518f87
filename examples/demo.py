"""Walk a few accounts through the reference ISP workflow and print their histories."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import acctstate
from acctstate.presets import isp


def main() -> None:
    wf = isp.workflow()
    t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    day = dt.timedelta(days=1)
    clerk = acctstate.Actor("clerk-7", permissions={"edit_account_status"})

    alice = wf.open("A-1", "prospect", at=t0, payment_method="visa")
    for n, trigger in enumerate(
        [
            "register",
            "confirm_registration",
            "receive_service_order",
            "accept_service_order",
            "start_service_order",
            "complete_service_order",
            "start_trial",
            "end_trial",
        ]
    ):
        wf.fire(alice, trigger, at=t0 + n * day, actor=clerk)

    bob = wf.open("B-2", "prospect", at=t0)
    wf.fire(bob, "request_installation", at=t0)
    for n, trigger in enumerate(
        [
            "receive_service_order",
            "accept_service_order",
            "start_service_order",
            "complete_service_order",
            "activate",
        ]
    ):
        wf.fire(bob, trigger, at=t0 + (n + 1) * day)
    late = t0 + 30 * day
    for n in range(6):  # an unpaid invoice walks bob down the dunning ladder
        wf.fire(bob, "escalate_dunning", at=late + n * 7 * day, actor=acctstate.SYSTEM)
    bob.payment_method = "mastercard"
    wf.fire(bob, "reinstate_back", at=late + 45 * day, note="new card on file")
    wf.fire(bob, "complete_reinstatement", at=late + 46 * day, balance=Decimal("0"))
    wf.fire(bob, "cancel", at=late + 60 * day, reason="moving-abroad")
    archive_at = late + 60 * day + isp.ARCHIVE_AFTER_DAYS * day
    print(wf.explain(bob, "archive", at=archive_at - day))
    wf.fire(bob, "archive", at=archive_at, actor=acctstate.SYSTEM)

    for account in (alice, bob):
        print(f"\n{account.id}: now {wf.status_of(account)}")
        for change in account.history:
            effects = ", ".join(e.kind for e in change.effects)
            print(f"  {change}" + (f"  -> {effects}" if effects else ""))


if __name__ == "__main__":
    main()
