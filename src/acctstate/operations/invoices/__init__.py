"""Invoices, payments and credits as the facts dunning reads, and the daily auto-apply.

An account with ``invoices`` (and ``payments``, ``credits``) is dunned from them: its
past-due balance, the days past due of its oldest past-due invoice and the number of
past-due invoices are computed as of each run, in its billing time zone. The daily
auto-apply applies unapplied payments and credits to the oldest open invoice balances
first, booking one [`ApplyPayment`][acctstate.invoices.ApplyPayment] per allocation.
Public path: ``acctstate.invoices``.
"""

from acctstate.operations.automation._autoapply import AUTO_APPLY, auto_apply, planned_allocations
from acctstate.values.invoices import (
    Credit,
    Invoice,
    PastDue,
    Payment,
    allocate,
    dunning_facts,
    past_due,
)
from acctstate.values.ledger import ApplyPayment

__all__ = [
    "AUTO_APPLY",
    "ApplyPayment",
    "Credit",
    "Invoice",
    "PastDue",
    "Payment",
    "allocate",
    "auto_apply",
    "dunning_facts",
    "past_due",
    "planned_allocations",
]
