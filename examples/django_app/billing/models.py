"""The host's account model: its own fields, and acctstate's status, since and version."""

from decimal import Decimal

from django.db import models

from acctstate.contrib.django.models import AccountStatusMixin


class Customer(AccountStatusMixin, models.Model):
    """A customer account. Guards read its fields: ``nothing_past_due`` reads ``balance``,
    ``has_payment_method`` reads ``payment_method``."""

    id = models.CharField(primary_key=True, max_length=40)
    name = models.CharField(max_length=200, blank=True, default="")
    balance = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    payment_method = models.CharField(max_length=40, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.id} {self.name}".strip()
