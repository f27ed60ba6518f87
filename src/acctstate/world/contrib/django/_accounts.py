"""The Django store's accounts: opening them, reading them and their history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from django.db import IntegrityError, models

from acctstate.values.actors import Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import History
from acctstate.world.contrib.django._core import DjangoCore, RowFacts, stored_of
from acctstate.world.contrib.django.models import StatusHistory
from acctstate.world.store import StoredAccount
from acctstate.world.store._codec import check_written, normalised, unknown_account

__all__ = ["DjangoAccounts"]


class DjangoAccounts(DjangoCore):
    """Opening, loading and listing accounts, and their history (a part of
    [`DjangoStore`][acctstate.contrib.django.store.DjangoStore])."""

    __slots__ = ()

    def open(
        self,
        account_id: str,
        status: StatusRef,
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        imported: bool = False,
        defaults: Mapping[str, Any] | None = None,
    ) -> StoredAccount:
        """Add an account in ``status`` at version 0, its history opened with that fact.

        Args:
            defaults: values for your model's other fields.

        Raises:
            InvalidArgument: the id is taken, ``status`` is not an initial status (pass
                ``imported=True`` to bring in an existing account), or your model
                refuses ``defaults``.
        """
        pk = self._pk(account_id)
        try:
            row = self._model(**(defaults or {}))
        except TypeError as exc:
            raise InvalidArgument(
                "defaults", defaults, f"values for fields of {self._model.__name__} ({exc})"
            ) from None
        row.pk = pk
        return self.open_instance(
            row, status, at=at, actor=actor, reason=reason, note=note, imported=imported
        )

    def open_instance(
        self,
        instance: models.Model,
        status: StatusRef,
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        imported: bool = False,
    ) -> StoredAccount:
        """Save a new row of your model in ``status`` at version 0, with its opening entry.

        For accounts created with your own fields (a form, the admin's add page). A
        primary key the database assigns is known after the save; the account id is
        ``str(instance.pk)``.

        Raises:
            InvalidArgument: ``instance`` is not an unsaved row of the store's model, its
                id is taken, ``status`` is not an initial status (or ``imported=True``),
                or the database refuses the row.
        """
        if not isinstance(instance, self._model) or not instance._state.adding:
            raise InvalidArgument(
                "instance", instance, f"an unsaved {self._model.__name__} (not yet in the store)"
            )
        # Check the status and the arguments before writing anything.
        check_written(reason, note, actor)
        planned = normalised(
            self._workflow.open(
                "-", status, at=at, actor=actor, reason=reason, note=note, imported=imported
            ).history[0]
        )
        row: Any = instance
        row.status = planned.dest.code
        row.status_since = planned.at
        row.status_version = 0
        if row.pk is not None and self._rows().filter(pk=row.pk).exists():
            raise InvalidArgument("account_id", str(row.pk), "an id not yet in the store")
        try:
            with self._tx():
                row.save(force_insert=True, using=self._db)
                opening = attrs.evolve(planned, account_id=str(row.pk))
                StatusHistory.objects.using(self._db).create(**self._history_row(opening, 0))
        except IntegrityError as exc:
            if row.pk is not None and self._rows().filter(pk=row.pk).exists():
                raise InvalidArgument(
                    "account_id", str(row.pk), "an id not yet in the store"
                ) from None
            raise InvalidArgument(
                "instance", instance, f"a row the database accepts ({exc})"
            ) from None
        return StoredAccount(str(row.pk), planned.dest.code, planned.at, 0)

    def load(self, account_id: str) -> StoredAccount:
        """The account's current state.

        Raises:
            InvalidArgument: no such account.
        """
        row = self._rows().filter(pk=self._pk(account_id)).first()
        if row is None:
            raise unknown_account(account_id)
        return stored_of(row)

    def facts(self, account_id: str) -> Any:
        """The account as the workflow plans against it: ``id``, ``status``,
        ``status_since`` and ``version`` as stored, its ``history`` and standing
        ``holds``, and every other attribute read from your row. Ask the workflow about
        it (``wf.explain(store.facts("C-1"), "settle")``: a hold blocking changes is
        among the reasons a change is refused).

        Raises:
            InvalidArgument: no such account.
        """
        row = self._rows().filter(pk=self._pk(account_id)).first()
        if row is None:
            raise unknown_account(account_id)
        stored = stored_of(row)
        return RowFacts(stored, row, self._past(stored), self._standing(stored.id))

    def accounts(self, *, statuses: Sequence[StatusRef] | None = None) -> tuple[StoredAccount, ...]:
        """Every stored account (optionally only those in ``statuses``), by id."""
        query = self._rows().order_by("pk")
        if statuses is not None:
            codes = {self._workflow.catalog[s].code for s in statuses}
            query = query.filter(status__in=sorted(codes))
        return tuple(stored_of(r) for r in query)

    def history(self, account_id: str) -> History:
        """The account's full history, effects included (instants in UTC).

        Raises:
            InvalidArgument: no such account.
        """
        self.load(account_id)
        mine = str(self._pk(account_id))
        effects: dict[int, list[Any]] = {}
        for e in self._outbox().filter(account_id=mine).order_by("version", "position"):
            effects.setdefault(e.version, []).append(e)
        rows = self._history().filter(account_id=mine).order_by("version")
        return History([self._change(r, effects.get(r.version, [])) for r in rows])

    def _accounts_after(
        self, after: str | None, limit: int, codes: tuple[int, ...] | None
    ) -> list[StoredAccount]:
        query = self._rows().order_by("pk")
        if after is not None:
            query = query.filter(pk__gt=self._pk(after))
        if codes is not None:
            query = query.filter(status__in=codes)
        return [stored_of(r) for r in query[:limit]]
