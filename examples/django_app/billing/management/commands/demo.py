"""``python manage.py demo``: one account through the store, another through the admin.

It migrates the database, starts from empty tables, and prints what happens: the
changes, the refusals with their reasons, the effects delivered, and what a staff user
sees and does on a customer's admin page.
"""

import datetime as dt
import html
import re
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test import Client

import acctstate
from acctstate.automation import AutomationPolicy
from billing.accounts import STORE, WORKFLOW
from billing.models import Customer

DAY = dt.timedelta(days=1)


class Systems:
    """The back office's billing and provisioning hooks (here they print)."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def _run(self, effect: acctstate.Effect, change: acctstate.StatusChange) -> None:
        self.out.write(f"  effect {effect.kind:<20} for {change.account_id} ({change.trigger})")

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = _run

    def hooks(self) -> acctstate.Hooks:
        return acctstate.Hooks(billing=self, provisioning=self, refunds=self, notices=self)


class Command(BaseCommand):
    help = "Walk accounts through acctstate's Django store and admin."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0)
        call_command("flush", interactive=False, verbosity=0)
        out = self.stdout
        # Every change is dated before now: the admin below fires at the clock's now.
        start = WORKFLOW.clock.now() - 30 * DAY

        # --8<-- [start:walk]
        out.write("1. A new customer, from prospect to active, through the store")
        STORE.open("C-100", "prospect", at=start, defaults={"name": "Ada Lovelace"})
        for n, trigger in enumerate(
            [
                "register",
                "confirm_registration",
                "receive_service_order",
                "accept_service_order",
                "start_service_order",
                "complete_service_order",
                "activate",
            ]
        ):
            change = STORE.fire("C-100", trigger, at=start + n * DAY, reason="web-signup")
            out.write(f"  {change.source.name} -> {change.dest.name} [{trigger}]")
        out.write(f"  stored: {STORE.load('C-100')}")

        out.write("2. A customer in dunning: the guard reads the balance from the row")
        STORE.open(
            "C-200",
            "active",
            at=start,
            imported=True,
            defaults={"name": "Grace Hopper", "balance": Decimal("40.00")},
        )
        STORE.fire("C-200", "escalate_dunning", at=start + DAY)
        out.write(f"  {WORKFLOW.explain(STORE.facts('C-200'), 'settle', at=start + 2 * DAY)}")
        Customer.objects.filter(pk="C-200").update(balance=Decimal("0.00"))
        settled = STORE.fire("C-200", "settle", at=start + 2 * DAY, reason="paid")
        out.write(f"  after the payment: {settled.source.name} -> {settled.dest.name}")

        # --8<-- [end:walk]
        out.write("3. The outbox: effects run after the commit, oldest first per account")
        report = STORE.deliver(Systems(out).hooks())
        out.write(f"  delivered {len(report.delivered)}, pending {len(STORE.pending())}")

        # --8<-- [start:admin]
        out.write("4. The admin: a clerk with the fire permission, on a customer in dunning")
        STORE.open(
            "C-300",
            "active_dunning_1",
            at=start,
            imported=True,
            defaults={"name": "Edsger Dijkstra", "balance": Decimal("25.00")},
        )
        clerk = User.objects.create_user("clerk", is_staff=True)
        clerk.user_permissions.add(
            Permission.objects.get(codename="view_customer"),
            Permission.objects.get(codename="fire_trigger", content_type__app_label="acctstate"),
        )
        browser = Client()
        browser.force_login(clerk)
        page = browser.get("/admin/billing/customer/C-300/change/").content.decode()
        shown = [t for t in WORKFLOW.triggers if f"<strong>{t}</strong>" in page]
        out.write(f"  the page offers: {', '.join(shown)}")
        refused = re.search(r'<ul id="acctstate-refused">(.*?)</ul>', page, re.S)
        assert refused is not None
        for why in re.findall(r"<li>(.*?)</li>", refused.group(1)):
            out.write(f"  and explains: {html.unescape(why)}")
        version = STORE.load("C-300").version
        form = {"trigger": "suspend", "reason": "fraud-check", "note": "", "version": version}
        browser.post("/admin/billing/customer/C-300/fire/", form)
        last = STORE.history("C-300")[-1]
        actor = last.actor.id if last.actor else None
        out.write(f"  fired: {last.source.name} -> {last.dest.name} by {actor} ({last.reason})")
        # A second tab still shows the old version: its change is refused, not applied.
        stale = {**form, "trigger": "terminate", "reason": "closing"}
        stale = browser.post("/admin/billing/customer/C-300/fire/", stale, follow=True)
        message = re.search(r'class="error">(.*?)</li>', stale.content.decode(), re.S)
        assert message is not None
        out.write(f"  a stale form: {html.unescape(message.group(1))}")
        nobody = User.objects.create_user("intern", is_staff=True)
        nobody.user_permissions.add(Permission.objects.get(codename="view_customer"))
        browser.force_login(nobody)
        denied = browser.post("/admin/billing/customer/C-300/fire/", form)
        out.write(f"  without the permission: HTTP {denied.status_code}")
        out.write(f"  now: {WORKFLOW.status_of(STORE.load('C-300')).name}")
        # --8<-- [end:admin]

        # --8<-- [start:holds]
        out.write("5. Holds: two reasons to stop billing, each released on its own")
        STORE.place_hold(
            "C-100", "manual", at=start + 10 * DAY, reason="disputed", note="invoice 42"
        )
        STORE.place_hold("C-100", "vacation", at=start + 11 * DAY, until=start + 20 * DAY)
        out.write(f"  standing: {[(h.id, h.type) for h in STORE.holds('C-100')]}")
        out.write(f"  {STORE.why_blocked('C-100', 'billing')}")
        released = STORE.release_hold("C-100", "H1", at=start + 12 * DAY, reason="resolved")
        out.write(f"  dispute resolved: effects {[e.kind for e in released.effects]}")
        # The nightly run ends the vacation once its `until` has passed.
        report = STORE.run_automation(AutomationPolicy(WORKFLOW), now=start + 21 * DAY)
        ended = STORE.history("C-100")[-1]
        out.write(f"  nightly run: {dict(report.by_rule)}, {ended.trigger} ({ended.reason})")
        out.write(f"  effects: {[e.kind for e in ended.effects]}, holds: {STORE.holds('C-100')}")
        # --8<-- [end:holds]
