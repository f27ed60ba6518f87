"""The effect the daily auto-apply books: [`ApplyPayment`][acctstate.invoices.ApplyPayment],
one per allocation of a payment or credit to an invoice, for the host's ledger (its
[`LedgerHooks`][acctstate.effects.LedgerHooks]). The class lives among the other effect
values; this module is its home in the invoices' part of the layer."""

from __future__ import annotations

from acctstate.values._effect_kinds import ApplyPayment

__all__ = ["ApplyPayment"]
