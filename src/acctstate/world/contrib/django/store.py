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

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from acctstate.core.workflow import Workflow
from acctstate.operations.automation import AutomationPolicy
from acctstate.operations.automation._rules import plan_one
from acctstate.values.actors import SYSTEM, Actor
from acctstate.values.catalog import StatusRef
from acctstate.values.clock import require_aware
from acctstate.values.effects import Hooks
from acctstate.values.errors import AcctStateError, ConcurrentChange, InvalidArgument
from acctstate.values.history import History, StatusChange
from acctstate.world.contrib.django.models import (
    AccountStatusMixin,
    OutboxEntry,
    ScheduledEntry,
    StatusHistory,
)
from acctstate.world.store import (
    Delivery,
    PendingEffect,
    Progress,
    RunReport,
    ScheduledRecord,
    StoredAccount,
)
from acctstate.world.store._automation import Policies, Tally, check_progress
from acctstate.world.store._base import BaseStore
from acctstate.world.store._codec import (
    actor_columns,
    actor_from,
    check_count,
    check_id,
    data_from,
    data_json,
    duplicate_key,
    effect_from,
    effect_payload,
    error_text,
    normalised,
    unknown_account,
)

__all__ = ["DjangoStore"]


class _Facts:
    """The stored account as the workflow plans against it: ``id``, ``status``,
    ``status_since`` and ``version`` from the store, every other attribute from the host's
    row (so guards read the host's facts)."""

    __slots__ = ("_row", "id", "status", "status_since", "version")

    def __init__(self, stored: StoredAccount, row: models.Model) -> None:
        self.id = stored.id
        self.status = stored.status
        self.status_since = stored.status_since
        self.version = stored.version
        self._row = row

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._row, name)


def _stored(row: Any) -> StoredAccount:
    return StoredAccount(str(row.pk), row.status, row.status_since, row.status_version)


class DjangoStore(BaseStore):
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

    # -- querysets --------------------------------------------------------------------

    def _rows(self) -> Any:
        # The base manager: a host's default manager may hide rows (soft deletes).
        return self._model._base_manager.using(self._db)

    def _history(self) -> Any:
        return StatusHistory.objects.using(self._db).filter(account_model=self._label)

    def _outbox(self) -> Any:
        return OutboxEntry.objects.using(self._db).filter(account_model=self._label)

    def _scheduled(self) -> Any:
        return ScheduledEntry.objects.using(self._db).filter(account_model=self._label)

    def _pk(self, account_id: str) -> Any:
        check_id(account_id)
        try:
            return self._model._meta.pk.to_python(account_id)
        except ValidationError:
            raise unknown_account(account_id) from None

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with transaction.atomic(using=self._db):
            yield

    # -- accounts ---------------------------------------------------------------------

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

    def load(self, account_id: str) -> StoredAccount:
        """The account's current state.

        Raises:
            InvalidArgument: no such account.
        """
        row = self._rows().filter(pk=self._pk(account_id)).first()
        if row is None:
            raise unknown_account(account_id)
        return _stored(row)

    def facts(self, account_id: str) -> Any:
        """The account as the workflow plans against it: ``id``, ``status``,
        ``status_since`` and ``version`` as stored, and every other attribute read from
        your row. Ask the workflow about it (``wf.explain(store.facts("C-1"), "settle")``).

        Raises:
            InvalidArgument: no such account.
        """
        row = self._rows().filter(pk=self._pk(account_id)).first()
        if row is None:
            raise unknown_account(account_id)
        return _Facts(_stored(row), row)

    def accounts(self, *, statuses: Sequence[StatusRef] | None = None) -> tuple[StoredAccount, ...]:
        """Every stored account (optionally only those in ``statuses``), by id."""
        query = self._rows().order_by("pk")
        if statuses is not None:
            codes = {self._workflow.catalog[s].code for s in statuses}
            query = query.filter(status__in=sorted(codes))
        return tuple(_stored(r) for r in query)

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

    # -- firing -----------------------------------------------------------------------

    def run_automation(
        self,
        policy: AutomationPolicy | Sequence[AutomationPolicy],
        *,
        now: dt.datetime,
        chunk: int = 10_000,
        progress: Progress | None = None,
    ) -> RunReport:
        """Run the automation's rules over every stored account, in id order.

        Each account is planned by the rules against its row (see [`facts`][acctstate.contrib.django.DjangoStore.facts])
        and its steps are fired as ordinary changes, each in its own transaction with its
        guards re-checked. Running again at the same ``now`` changes nothing more.

        Raises:
            InvalidArgument: a naive ``now``, a bad ``chunk`` or ``progress``, or a
                policy on another workflow.
        """
        require_aware(now, "now")
        check_count(chunk, "chunk")
        report = check_progress(progress)
        policies = Policies(self._workflow, policy)
        tally = Tally(now)
        accounts = self.accounts()
        tally.chunks = -(-len(accounts) // chunk)
        for done, stored in enumerate(accounts, 1):
            tally.examined += 1
            try:
                view = self.facts(stored.id)
                c = policies.pick(view)
                planned = None if c is None else plan_one(c, view, now)
                if c is not None and planned is not None:
                    hops, blocked = planned
                    if blocked:
                        tally.blocked += 1
                    for rule, trigger, _source, _dest in hops:
                        self.fire(
                            stored.id,
                            trigger,
                            at=now,
                            reason=c.policy.reason,
                            note=f"automation: {rule}",
                            actor=c.policy.actor,
                        )
                    if hops:
                        tally.made(hops)
            except AcctStateError as exc:
                tally.failed.append((stored.id, error_text(exc)))
            if report is not None and (done % chunk == 0 or done == len(accounts)):
                report(done, len(accounts))
        return tally.report()

    def fire(
        self,
        account_id: str,
        trigger: str,
        *,
        at: dt.datetime,
        reason: str | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        expected_version: int | None = None,
        retries: int = 0,
        **data: Any,
    ) -> StatusChange:
        """Fire ``trigger`` on the stored account; record the change and its effects.

        One atomic block: lock and read the account row, plan with the workflow (guards
        see the stored state, your row's fields and ``data``), update the row where its
        version is still the one read, insert the history row and the outbox rows.

        Args:
            account_id: the account.
            trigger: the trigger name.
            at: the effective time (timezone-aware).
            reason: a reason code.
            note: free text for the history.
            actor: who fires it.
            expected_version: fail unless the account is still at this version (the
                version you read before deciding to fire, e.g. the one a form showed).
            retries: re-plan against the new state this many times when another writer
                wins the race (not with ``expected_version``).
            **data: event data for guards and effect rules.

        Returns:
            The change made (its effects are pending in the outbox).

        Raises:
            ConcurrentChange: the account is not at ``expected_version``, or another
                writer won and the retries ran out.
            InvalidArgument: unknown account, or the change's effect keys are taken.
            (and every error of [`Workflow.plan`][acctstate.workflow.Workflow.plan])
        """
        return self._fire(
            account_id,
            trigger,
            at=at,
            reason=reason,
            note=note,
            actor=actor,
            expected_version=expected_version,
            retries=retries,
            data=data,
            options={},
        )

    def _fire_once(
        self,
        account_id: str,
        trigger: str,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        expected_version: int | None,
        data: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> StatusChange:
        args = (account_id, trigger, at, reason, note, actor, expected_version, data)
        try:
            # One query fewer: the outbox's unique key refuses a repeated change and the
            # block rolls back with nothing written.
            with self._tx():
                return self._fire_in(*args, precheck=False)
        except IntegrityError:
            # The careful path names the error (ConcurrentChange or the repeated change),
            # or succeeds if the clash has gone.
            with self._tx():
                return self._fire_in(*args, precheck=True)

    def _fire_in(
        self,
        account_id: str,
        trigger: str,
        at: dt.datetime,
        reason: str | None,
        note: str | None,
        actor: Actor | None,
        expected_version: int | None,
        data: Mapping[str, Any],
        *,
        precheck: bool = True,
    ) -> StatusChange:
        pk = self._pk(account_id)
        # The row stays locked until the block ends: a second writer waits, then reads
        # the new version (select_for_update is a no-op where the database locks whole).
        row = self._rows().select_for_update().filter(pk=pk).first()
        if row is None:
            raise unknown_account(account_id)
        stored = _stored(row)
        if expected_version is not None and stored.version != expected_version:
            raise ConcurrentChange(
                account_id=account_id,
                expected_version=expected_version,
                actual_version=stored.version,
            )
        change = normalised(
            self._workflow.plan(
                _Facts(stored, row), trigger, at=at, reason=reason, note=note, actor=actor, **data
            )
        )
        payloads = [effect_payload(e) for e in change.effects]
        if change.effects and precheck:
            keys = [e.key for e in change.effects]
            taken = self._outbox().filter(key__in=keys).values_list("key", flat=True).first()
            if taken is not None:
                now = self._rows().filter(pk=pk).values_list("status_version", flat=True).first()
                if now != stored.version:
                    raise ConcurrentChange(
                        account_id=account_id,
                        expected_version=stored.version,
                        actual_version=now,
                    )
                raise duplicate_key(account_id, trigger, at, taken)
        version = stored.version + 1
        # The compare-and-set: also guards against writers that bypass the lock.
        updated = (
            self._rows()
            .filter(pk=pk, status_version=stored.version)
            .update(status=change.dest.code, status_since=change.at, status_version=version)
        )
        if updated != 1:
            found = self._rows().filter(pk=pk).values_list("status_version", flat=True).first()
            raise ConcurrentChange(
                account_id=account_id, expected_version=stored.version, actual_version=found
            )
        StatusHistory.objects.using(self._db).create(**self._history_row(change, version))
        if change.effects:
            created = self._workflow.clock.now()
            OutboxEntry.objects.using(self._db).bulk_create(
                [
                    OutboxEntry(
                        account_model=self._label,
                        key=e.key,
                        account_id=change.account_id,
                        version=version,
                        position=i,
                        kind=e.kind,
                        payload=payload,
                        created_at=created,
                        attempts=0,
                    )
                    for i, (e, payload) in enumerate(zip(change.effects, payloads, strict=True))
                ]
            )
        return change

    # -- outbox -----------------------------------------------------------------------

    def pending(self, *, account_id: str | None = None) -> tuple[PendingEffect, ...]:
        """The effects not carried out yet, oldest first."""
        query = self._outbox().filter(done_at__isnull=True).order_by("seq")
        if account_id is not None:
            query = query.filter(account_id=account_id)
        return tuple(
            PendingEffect(
                r.key,
                r.account_id,
                r.version,
                effect_from(r.kind, r.key, r.payload),
                r.attempts,
                r.last_error,
            )
            for r in query
        )

    def _claim(self, blocked: set[str], account_id: str | None) -> Any:
        earlier = OutboxEntry.objects.using(self._db).filter(
            account_model=self._label,
            account_id=models.OuterRef("account_id"),
            done_at__isnull=True,
            seq__lt=models.OuterRef("seq"),
        )
        query = self._outbox().filter(~models.Exists(earlier), done_at__isnull=True)
        if account_id is not None:
            query = query.filter(account_id=account_id)
        if blocked:
            query = query.exclude(account_id__in=sorted(blocked))
        # The row stays locked while its hook runs; other deliverers skip it, and the
        # account's next effect is not eligible until this one is done.
        return query.select_for_update(skip_locked=True).order_by("seq").first()

    def _change_of(self, account_id: str, version: int) -> StatusChange:
        row = self._history().get(account_id=account_id, version=version)
        effects = self._outbox().filter(account_id=account_id, version=version).order_by("position")
        return self._change(row, list(effects))

    def deliver(
        self,
        hooks: Hooks | None = None,
        *,
        limit: int = 1000,
        account_id: str | None = None,
        skip_unhandled: bool = False,
    ) -> Delivery:
        """Run pending effects through ``hooks``, oldest first per account; mark each done.

        Each effect is one atomic block: claim it, run its hook, mark it done. A crash
        before the commit leaves it pending, and the next ``deliver`` runs it (hooks get
        the effect's ``key``: make them idempotent on it).

        Args:
            hooks: the host's hooks (default: the workflow's).
            limit: run at most this many effects.
            account_id: only this account's effects.
            skip_unhandled: mark effects that have no hook as done instead of failing.

        Returns:
            A [`Delivery`][acctstate.store.Delivery]. A failed effect stays pending (its
            attempts and last error recorded), and the same account's later effects
            wait behind it.
        """
        run = hooks if hooks is not None else self._workflow.hooks
        if run is None or not isinstance(run, Hooks):
            raise InvalidArgument("hooks", run, "an acctstate.Hooks (or a workflow with hooks)")
        check_count(limit, "limit")
        delivered: list[str] = []
        skipped: list[str] = []
        failed: list[tuple[str, str]] = []
        blocked: set[str] = set()
        while len(delivered) + len(skipped) < limit:
            with self._tx():
                row = self._claim(blocked, account_id)
                if row is None:
                    break
                effect = effect_from(row.kind, row.key, row.payload)
                handler = run.handler(effect)
                error: str | None = None
                if handler is None:
                    if not skip_unhandled:
                        error = f"no hook handles {effect.kind!r} effects"
                else:
                    try:
                        handler(effect, self._change_of(row.account_id, row.version))
                    except Exception as exc:
                        error = error_text(exc)
                done = OutboxEntry.objects.using(self._db).filter(seq=row.seq)
                if error is None:
                    done.update(
                        done_at=self._workflow.clock.now(),
                        outcome="delivered" if handler is not None else "skipped",
                        attempts=row.attempts + 1,
                    )
                    (delivered if handler is not None else skipped).append(row.key)
                else:
                    done.update(attempts=row.attempts + 1, last_error=error)
                    failed.append((row.key, error))
                    blocked.add(row.account_id)
        return Delivery(tuple(delivered), tuple(skipped), tuple(failed))

    # -- scheduled changes ------------------------------------------------------------

    @staticmethod
    def _from_row(row: Any) -> ScheduledRecord:
        return ScheduledRecord(
            id=row.schedule_id,
            account_id=row.account_id,
            trigger=row.trigger,
            at=row.at,
            reason=row.reason,
            note=row.note,
            actor=actor_from(row.actor_id, row.actor_kind, row.actor_permissions),
            data=data_from(row.data),
            state=row.state,
            version=row.version,
            error=row.error,
        )

    def _add_scheduled(self, record: ScheduledRecord) -> ScheduledRecord:
        self.load(record.account_id)
        with self._tx():
            existing = self._scheduled().filter(schedule_id=record.id).first()
            if existing is not None:
                return self._from_row(existing)
            actor_id, actor_kind, permissions = actor_columns(record.actor)
            ScheduledEntry.objects.using(self._db).create(
                account_model=self._label,
                schedule_id=record.id,
                account_id=record.account_id,
                trigger=record.trigger,
                at=record.at,
                reason=record.reason,
                note=record.note,
                actor_id=actor_id,
                actor_kind=actor_kind,
                actor_permissions=permissions,
                data=data_json(record.data),
                state="pending",
            )
        return record

    def scheduled(
        self, *, account_id: str | None = None, state: str | None = None
    ) -> tuple[ScheduledRecord, ...]:
        """The scheduled changes, by time then id."""
        self._check_state(state)
        query = self._scheduled().order_by("at", "schedule_id")
        if account_id is not None:
            query = query.filter(account_id=account_id)
        if state is not None:
            query = query.filter(state=state)
        return tuple(self._from_row(r) for r in query)

    def _due(self, at: dt.datetime, limit: int) -> list[ScheduledRecord]:
        query = self._scheduled().filter(state="pending", at__lte=at).order_by("at", "schedule_id")
        return [self._from_row(r) for r in query[:limit]]

    def _apply_scheduled(self, record: ScheduledRecord) -> StatusChange | None:
        mine = self._scheduled().filter(schedule_id=record.id)
        with self._tx():
            # Claim first: a second runner waits on this row (PostgreSQL) or on the
            # write lock (SQLite), then finds it no longer pending and does nothing.
            if mine.filter(state="pending").update(state="applied") != 1:
                return None
            change = self._fire_in(
                record.account_id,
                record.trigger,
                record.at,
                record.reason,
                record.note,
                record.actor or SYSTEM,
                None,
                dict(record.data),
            )
            mine.update(version=self.load(record.account_id).version)
            return change

    def _mark_failed(self, record: ScheduledRecord, error: str) -> None:
        with self._tx():
            self._scheduled().filter(schedule_id=record.id, state="pending").update(
                state="failed", error=error
            )

    def _accounts_after(
        self, after: str | None, limit: int, codes: tuple[int, ...] | None
    ) -> list[StoredAccount]:
        query = self._rows().order_by("pk")
        if after is not None:
            query = query.filter(pk__gt=self._pk(after))
        if codes is not None:
            query = query.filter(status__in=codes)
        return [_stored(r) for r in query[:limit]]
