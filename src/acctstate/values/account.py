"""Accounts: the [`HasStatus`][acctstate.account.HasStatus] protocol for host objects, and the attrs
[`Account`][acctstate.account.Account] shipped for examples, tests and notebooks."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs

from acctstate.values.errors import InvalidArgument
from acctstate.values.history import History
from acctstate.values.holds import Hold
from acctstate.values.invoices import Credit, Invoice, Payment

__all__ = ["Account", "HasStatus", "account_id_of"]


@runtime_checkable
class HasStatus(Protocol):
    """Any host object acctstate can drive: an ``id`` and a numeric status attribute.

    The status attribute is ``status`` by default (configurable per workflow). When the
    object also has ``status_since``, firing sets it; when it has a ``history`` that is a
    [`History`][acctstate.history.History], firing appends to it.
    """

    id: Any


def account_id_of(account: object) -> str:
    """The id of ``account`` as text (host ids may be ints): the one reading of an id
    that planning, scheduling and effect keys share.

    Raises:
        InvalidArgument: the object has no ``id``, or its id is ``None`` (two accounts
            without ids would share effect keys).

    >>> import types
    >>> account_id_of(Account(id="A-1", status=1)), account_id_of(types.SimpleNamespace(id=7))
    ('A-1', '7')
    >>> account_id_of(types.SimpleNamespace(id=None))
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid account.id: got None; expected an account id (a str or an int), not None
    """
    found = getattr(account, "id", _NO_ID)
    if found is _NO_ID:
        raise InvalidArgument(
            "account", account, "an object with an `id` attribute (an Account or a host object)"
        )
    if found is None or isinstance(found, bool):
        raise InvalidArgument("account.id", found, "an account id (a str or an int), not None")
    if type(found) is str:
        return found
    try:
        return str(found)
    except Exception:  # an id object whose str() fails cannot key effects
        raise InvalidArgument(
            "account.id", type(found).__name__, "an id with a text form"
        ) from None


_NO_ID: Any = object()


def id_label(account: object) -> str:
    """The account's id as text for a report line, never raising: ``account_id_of`` when
    the id is usable, else what was found (``'None'`` when there is no ``id``), so that
    a batch or a sweep can say which account it could not handle."""
    try:
        return account_id_of(account)
    except InvalidArgument:
        try:
            return repr(getattr(account, "id", None))
        except Exception:  # a hostile __repr__ or __getattr__: still one line per account
            return f"<{type(account).__name__} without a usable id>"


def _aware_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (
        not isinstance(value, dt.datetime)
        or value.tzinfo is None
        or value.tzinfo.utcoffset(value) is None
    ):
        raise InvalidArgument(f"Account.{attribute.name}", value, "a timezone-aware datetime")


def _due_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return  # a due date: the calendar day, in the account's billing time zone
    _aware_or_none(_, attribute, value)


def _money_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Decimal):
        raise InvalidArgument(
            f"Account.{attribute.name}", value, "a Decimal (float money is refused)"
        )


def _tuple_or_none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise InvalidArgument(
            "Account.invoices/payments/credits", value, "an iterable of values (or None)"
        )
    return tuple(value)


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidArgument(f"Account.{attribute.name}", value, "a str account id")


def _code(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"Account.{attribute.name}", value, "an int status code")


# A name in text: letters, digits, spaces and ``_ . : -`` (no brackets or quotes, which
# are what the text of a tuple or a set is made of).
_TAG_TEXT = re.compile(r"[\w .:-]*\w[\w .:-]*")


def tag_names(value: object) -> frozenset[str]:
    """An account's control tags as a set of names, however the host holds them.

    ``None`` is no tag; a collection (tuple, list, set, an array a data frame holds)
    gives its names; a string is one name, or names separated by commas
    (``"AUTO_PAY_OFF, OVERDUE_ENFORCEMENT_OFF"``), as a text column holds them.

    Raises:
        InvalidArgument: something else, or a string that is not names (such as the
            text of a tuple, which is what an engine that turns object columns into
            text makes of a column of tuples).

    >>> sorted(tag_names("AUTO_PAY_OFF, OVERDUE_ENFORCEMENT_OFF")), tag_names(None)
    (['AUTO_PAY_OFF', 'OVERDUE_ENFORCEMENT_OFF'], frozenset())
    >>> tag_names("('AUTO_PAY_OFF',)")
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid control_tags: got "('AUTO_PAY_OFF',)"; expected tag names: a collection of names, or names separated by commas
    """
    if value is None:
        return frozenset()
    names: list[object]
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",")] if value.strip() else []
        ok = all(_TAG_TEXT.fullmatch(str(n)) for n in names)
    elif isinstance(value, Iterable):
        names = list(value)
        ok = all(isinstance(n, str) and n for n in names)
    else:
        names, ok = [], False
    if not ok:
        raise InvalidArgument(
            "control_tags",
            value,
            "tag names: a collection of names, or names separated by commas",
        )
    return frozenset(str(n) for n in names)


@attrs.define
class Account:
    """A customer account, as the examples and notebooks use it.

    Only ``id`` and ``status`` are needed by the engine; the other fields feed the
    built-in guards, automation and batch work. Host applications may use their own
    objects instead (see [`HasStatus`][acctstate.account.HasStatus]).

    Args:
        id: the account id.
        status: the numeric status code.
        status_since: when the account entered its status.
        balance: the amount the account owes (``Decimal``; 0 or less means settled).
            Dunning, credit hold and ``nothing_past_due`` read it as the amount *past
            due* only when neither ``invoices`` nor ``past_due_balance`` is given; a
            host that gives either may keep its total here (invoices not yet due
            included).
        payment_method: a payment method on file, if any.
        account_class: the account class its automation policy belongs to.
        timezone: the customer's billing time zone (IANA name).
        period_end: end of the paid service period.
        currency: ISO 4217 code of the account's money.
        batch_id: the batch the account belongs to (batch updates).
        unpaid_invoices: how many invoices are unpaid.
        oldest_unpaid_at: when the earliest unpaid invoice fell due: its due date (a
            ``datetime.date``, a day in ``timezone``) or an instant.
        trial_ends_at: end of the trial period.
        contract_ends_at: end of the contract term (not the bill cycle, which ends at
            ``period_end``).
        activated_at: activation date.
        expires_at: expiration date.
        first_used_at: first successful use ("started").
        availability_days: days the account stays usable after first use.
        funds: prepaid funds left ("depleted" below the product threshold).
        invoices: the account's invoices (``None``: not given; dunning then reads the
            scalars below, or ``balance`` and ``oldest_unpaid_at``).
        payments: its payments, with what each is applied to.
        credits: its credits, likewise.
        past_due_balance: the open balance of its past-due invoices only (due before
            today, in ``timezone``), when the host gives the scalar instead of the
            invoices; read before ``balance``.
        oldest_past_due: the due date (or instant) of its oldest past-due invoice.
        past_due_invoices: how many of its invoices are past due.
        control_tags: control tags on the account (``OVERDUE_ENFORCEMENT_OFF``,
            ``AUTO_PAY_OFF``), read by dunning ladders: a collection of names, or text
            with names separated by commas (kept as a frozenset of names).
        last_payment_failure: why the last payment failed (``INVALID_CARD``), if it did.
        history: the account's history.
        holds: the holds standing on it (placed and released through ``acctstate.holds``).

    >>> Account(id="A-1", status=1, balance=1.5)
    Traceback (most recent call last):
    ...
    acctstate.errors.InvalidArgument: invalid Account.balance: got 1.5; expected a Decimal (float money is refused)
    """

    id: str = attrs.field(validator=_text)
    status: int = attrs.field(validator=_code)
    status_since: dt.datetime | None = attrs.field(default=None, validator=_aware_or_none)
    balance: Decimal = attrs.field(default=Decimal("0"), validator=_money_or_none)
    payment_method: str | None = None
    account_class: str | None = None
    timezone: str = "UTC"
    period_end: dt.datetime | None = attrs.field(default=None, validator=_aware_or_none)
    currency: str = "USD"
    batch_id: str | None = None
    unpaid_invoices: int = 0
    oldest_unpaid_at: dt.datetime | dt.date | None = attrs.field(
        default=None, validator=_due_or_none
    )
    trial_ends_at: dt.datetime | None = attrs.field(default=None, validator=_aware_or_none)
    contract_ends_at: dt.datetime | None = attrs.field(default=None, validator=_aware_or_none)
    activated_at: dt.datetime | None = attrs.field(default=None, validator=_aware_or_none)
    expires_at: dt.datetime | None = attrs.field(default=None, validator=_aware_or_none)
    first_used_at: dt.datetime | None = attrs.field(default=None, validator=_aware_or_none)
    availability_days: int | None = None
    funds: Decimal | None = attrs.field(default=None, validator=_money_or_none)
    invoices: tuple[Invoice, ...] | None = attrs.field(default=None, converter=_tuple_or_none)
    payments: tuple[Payment, ...] | None = attrs.field(default=None, converter=_tuple_or_none)
    credits: tuple[Credit, ...] | None = attrs.field(default=None, converter=_tuple_or_none)
    past_due_balance: Decimal | None = attrs.field(default=None, validator=_money_or_none)
    oldest_past_due: dt.datetime | dt.date | None = attrs.field(
        default=None, validator=_due_or_none
    )
    past_due_invoices: int | None = None
    control_tags: frozenset[str] = attrs.field(default=frozenset(), converter=tag_names)
    last_payment_failure: str | None = None
    history: History = attrs.field(factory=History, eq=False, repr=False)
    holds: tuple[Hold, ...] = attrs.field(default=(), repr=False)
