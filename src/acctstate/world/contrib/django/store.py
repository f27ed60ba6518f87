"""A [`Store`][acctstate.store.Store] over the Django ORM, on your own account model.

Every write is one ``transaction.atomic`` block on the store's database (a savepoint
inside yours when you already hold a transaction, so a change commits or rolls back
with your own writes). Firing locks the account row (``select_for_update``; a no-op on
SQLite, where the write lock is the database's), plans the change with the workflow
against that stored state, updates the row with a compare-and-set on its
``status_version``, and inserts the history row and the change's effects into the
outbox. [`DjangoStore.deliver`][acctstate.contrib.django.store.DjangoStore.deliver]
runs the effects one transaction each, claiming the oldest pending effect of an account
whose earlier effects are done (``SKIP LOCKED`` on PostgreSQL, so deliverers in parallel
never take the same one).

It keeps the promises of the SQL store and passes the same contract tests; what it adds
is that the account row is *yours*: guards see its fields (``ctx.value("balance")``
reads ``customer.balance`` when no event data is given), and
[`DjangoStore.open_instance`][acctstate.contrib.django.store.DjangoStore.open_instance]
opens an account you built with your own fields.
"""

from __future__ import annotations

from django.db import models

from acctstate.world.contrib.django._automation import DjangoAutomation
from acctstate.world.contrib.django._outbox import DjangoOutbox
from acctstate.world.contrib.django._scheduling import DjangoScheduling

__all__ = ["DjangoStore"]


class DjangoStore(DjangoAutomation, DjangoScheduling, DjangoOutbox):
    """A [`Store`][acctstate.store.Store] whose accounts are rows of your Django model.

    Args:
        workflow: the workflow every change is checked against.
        model: your concrete account model, with
            [`AccountStatusMixin`][acctstate.contrib.django.models.AccountStatusMixin].
            The account id is ``str(pk)``.
        using: the database alias (``settings.DATABASES``) to work on.

    Raises:
        InvalidArgument: ``model`` lacks the mixin, ``using`` is not a configured
            database, or ``settings.USE_TZ`` is off (the store keeps every instant
            timezone-aware).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<DjangoStore {self._workflow.name!r} on {self._label} ({self._db})>"

    @property
    def model(self) -> type[models.Model]:
        """The account model."""
        return self._model

    @property
    def using(self) -> str:
        """The database alias the store works on."""
        return self._db
