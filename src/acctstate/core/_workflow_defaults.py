"""A workflow's explicit defaults for the facts money and time cannot do without (private).

A rule that prorates or counts calendar days needs the account's billing time zone; a
rule that charges or refunds needs its currency. acctstate never guesses them: they come
from the account (its attributes, or the store's host facts), from the event data, or
from the defaults the workflow was built with
(``Workflow(default_timezone=..., default_currency=...)``), in that order; when none
gives one, the rule raises [`MissingFact`][acctstate.errors.MissingFact].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acctstate.values.clock import billing_zone
from acctstate.values.errors import InvalidArgument, MissingFact

__all__ = ["checked_defaults", "filled", "own"]


def checked_defaults(timezone: object, currency: object) -> dict[str, str]:
    """The workflow's defaults by fact name (``timezone``, ``currency``), checked.

    Raises:
        InvalidArgument: a time zone that is not an IANA name, or a currency that is not
            an upper-case ISO 4217 code.
    """
    out: dict[str, str] = {}
    if timezone is not None:
        if not isinstance(timezone, str):
            raise InvalidArgument(
                "default_timezone", timezone, "an IANA time zone name such as 'Europe/Berlin'"
            )
        billing_zone(timezone, "default_timezone")
        out["timezone"] = timezone
    if currency is not None:
        if not (
            isinstance(currency, str)
            and len(currency) == 3
            and currency.isascii()
            and currency.isalpha()
            and currency.isupper()
        ):
            raise InvalidArgument(
                "default_currency", currency, "an upper-case ISO 4217 code such as 'EUR'"
            )
        out["currency"] = currency
    return out


def filled(defaults: Mapping[str, str], account: Any, data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data`` with the workflow's default for each fact that neither the event data nor
    the account gives (an attribute that is missing or ``None``)."""
    extra: dict[str, str] = {}
    for name, value in defaults.items():
        if name not in data and own(account, name) is None:
            extra[name] = value
    return {**data, **extra} if extra else data


def own(account: Any, name: str) -> Any:
    """The account's own ``name``, or ``None`` (a stored account's view raises
    ``MissingFact`` for a fact its host row lacks)."""
    try:
        return getattr(account, name, None)
    except MissingFact:
        return None
