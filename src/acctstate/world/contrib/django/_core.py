"""The Django store's core: the model and database it works on, its querysets, the rows
it writes and reads back, and the account as the workflow plans against it (a part of
[`DjangoStore`][acctstate.contrib.django.store.DjangoStore]).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction

from acctstate.core.workflow import Workflow
from acctstate.values.errors import InvalidArgument
from acctstate.values.history import History, StatusChange
from acctstate.values.holds import Hold
from acctstate.world.contrib.django.models import (
    AccountStatusMixin,
    OutboxEntry,
    ScheduledEntry,
    StatusHistory,
)
from acctstate.world.contrib.django.models import (
    Hold as HoldRow,
)
from acctstate.world.store import StoredAccount
from acctstate.world.store._base import BaseStore
from acctstate.world.store._codec import (
    actor_columns,
    actor_from,
    check_id,
    effect_from,
    hold_of,
    unknown_account,
)

__all__ = ["DjangoCore", "RowFacts", "RowMapping", "hold_of", "stored_of"]


class RowFacts:
    """The stored account as the workflow plans against it: ``id``, ``status``,
    ``status_since`` and ``version`` from the store, every other attribute from the host's
    row (so guards read the host's facts); ``history`` and the standing ``holds`` when
    the store read them."""

    __slots__ = ("_row", "history", "holds", "id", "status", "status_since", "version")

    def __init__(
        self,
        stored: StoredAccount,
        row: models.Model,
        history: History | None = None,
        holds: Sequence[Hold] = (),
    ) -> None:
        self.id = stored.id
        self.status = stored.status
        self.status_since = stored.status_since
        self.version = stored.version
        self.history = history
        self.holds = tuple(holds)
        self._row = row

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._row, name)


class RowMapping(Mapping[str, Any]):
    """The host's row as a mapping of facts (for the automation's planning): a name is
    there when the row has such an attribute (a field or a property)."""

    __slots__ = ("_row",)

    def __init__(self, row: models.Model) -> None:
        self._row = row

    def __getitem__(self, name: str) -> Any:
        if not isinstance(name, str) or name.startswith("_"):
            raise KeyError(name)
        try:
            return getattr(self._row, name)
        except AttributeError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter([f.attname for f in self._row._meta.concrete_fields])

    def __len__(self) -> int:
        return len(self._row._meta.concrete_fields)


def stored_of(row: Any) -> StoredAccount:
    return StoredAccount(str(row.pk), row.status, row.status_since, row.status_version)


class DjangoCore(BaseStore):
    """The model, the database and the querysets (a part of
    [`DjangoStore`][acctstate.contrib.django.store.DjangoStore])."""

    __slots__ = ("_db", "_label", "_model")

    def __init__(
        self, workflow: Workflow, model: type[models.Model], *, using: str = "default"
    ) -> None:
        super().__init__(workflow)
        if (
            not isinstance(model, type)
            or not issubclass(model, AccountStatusMixin)
            or model._meta.abstract
        ):
            raise InvalidArgument(
                "model", model, "a concrete Django model class with AccountStatusMixin"
            )
        if using not in settings.DATABASES:
            raise InvalidArgument(
                "using",
                using,
                f"a database alias of settings.DATABASES ({sorted(settings.DATABASES)})",
            )
        if not settings.USE_TZ:
            raise InvalidArgument(
                "settings.USE_TZ", False, "True (the store keeps every instant timezone-aware)"
            )
        self._model = model
        self._label = model._meta.label_lower
        self._db = using

    # -- querysets --------------------------------------------------------------------

    def _rows(self) -> Any:
        # The base manager: a host's default manager may hide rows (soft deletes).
        return self._model._base_manager.using(self._db)

    def _history(self) -> Any:
        return StatusHistory.objects.using(self._db).filter(account_model=self._label)

    def _outbox(self) -> Any:
        return OutboxEntry.objects.using(self._db).filter(account_model=self._label)

    def _holds(self) -> Any:
        return HoldRow.objects.using(self._db).filter(account_model=self._label)

    def _standing(self, account_id: str) -> tuple[Hold, ...]:
        """The holds standing on the account, in placement order (none is read for a
        workflow without hold types)."""
        if not self._workflow.hold_types:
            return ()
        rows = self._holds().filter(account_id=account_id, released_at__isnull=True)
        return tuple(hold_of(r) for r in rows.order_by("seq"))

    def _past(self, stored: StoredAccount) -> History:
        """The account's history up to the version read, as the rules read it (without
        the effects)."""
        rows = self._history().filter(account_id=stored.id, version__lte=stored.version)
        return History([self._change(r, ()) for r in rows.order_by("version")])

    def _scheduled(self) -> Any:
        return ScheduledEntry.objects.using(self._db).filter(account_model=self._label)

    def _pk(self, account_id: str) -> Any:
        check_id(account_id)
        field = self._model._meta.pk
        longest = getattr(field, "max_length", None)
        if isinstance(longest, int) and len(account_id) > longest:
            raise InvalidArgument(
                "account_id",
                account_id,
                f"a str of at most {longest} characters (the primary key of "
                f"{self._model.__name__})",
            )
        try:
            return self._model._meta.pk.to_python(account_id)
        except ValidationError:
            raise unknown_account(account_id) from None

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with transaction.atomic(using=self._db):
            yield

    # -- rows -------------------------------------------------------------------------

    def _history_row(self, change: StatusChange, version: int) -> dict[str, Any]:
        actor_id, actor_kind, permissions = actor_columns(change.actor)
        return {
            "account_model": self._label,
            "account_id": change.account_id,
            "version": version,
            "trigger": change.trigger,
            "source": change.source.code,
            "dest": change.dest.code,
            "at": change.at,
            "recorded_at": change.recorded_at,
            "reason": change.reason,
            "note": change.note,
            "actor_id": actor_id,
            "actor_kind": actor_kind,
            "actor_permissions": permissions,
        }

    def _change(self, row: Any, effects: Sequence[Any]) -> StatusChange:
        catalog = self._workflow.catalog
        return StatusChange(
            row.account_id,
            catalog[row.source],
            catalog[row.dest],
            row.trigger,
            row.at,
            row.recorded_at,
            row.reason,
            row.note,
            actor_from(row.actor_id, row.actor_kind, row.actor_permissions),
            tuple(effect_from(e.kind, e.key, e.payload) for e in effects),
        )
