"""The models of ``acctstate.contrib.django``.

* [`AccountStatusMixin`][acctstate.contrib.django.models.AccountStatusMixin] goes on
  *your* account model: the status code, since when, and the version that every change
  increments (the compare-and-set of the store).
* [`StatusHistory`][acctstate.contrib.django.models.StatusHistory],
  [`OutboxEntry`][acctstate.contrib.django.models.OutboxEntry],
  [`ScheduledEntry`][acctstate.contrib.django.models.ScheduledEntry] and
  [`Hold`][acctstate.contrib.django.models.Hold] are the app's own tables
  (``manage.py migrate acctstate``): the append-only history, the effects waiting to be
  carried out, the effective-dated changes, and the holds placed on accounts. Each row names the account
  model it belongs to, so several account models can share them.

Write to them only through [`DjangoStore`][acctstate.contrib.django.store.DjangoStore]: the
status fields are not editable in forms, and nothing in this app sets a status without
the workflow.
"""

from __future__ import annotations

import datetime as dt

from django.db import models

__all__ = ["AccountStatusMixin", "Hold", "OutboxEntry", "ScheduledEntry", "StatusHistory"]

_ID = 200  # the longest account id


class AccountStatusMixin(models.Model):
    """An abstract model mixin: the account's status code, since when, and its version.

    Put it on your account model, beside its own fields::

        class Customer(AccountStatusMixin, models.Model):
            id = models.CharField(primary_key=True, max_length=40)
            name = models.CharField(max_length=200)

    The account id acctstate sees is ``str(pk)``. The fields are not editable in forms
    (``editable=False``): statuses change through the store, which checks the workflow,
    bumps ``status_version`` and records the history in the same transaction.

    Attributes:
        status: the current status code.
        status_since: when the account entered that status (timezone-aware).
        status_version: how many changes the account has had since it was opened.
    """

    status: models.IntegerField[int, int] = models.IntegerField(db_index=True, editable=False)
    status_since: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField(
        editable=False
    )
    status_version: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(
        default=0, editable=False
    )

    class Meta:
        abstract = True


class StatusHistory(models.Model):
    """One status change (or an account's opening), as the store recorded it.

    Append-only: one row per account and version. The effects of the change are the
    [`OutboxEntry`][acctstate.contrib.django.models.OutboxEntry] rows of the same
    account and version.
    """

    account_model: models.CharField[str, str] = models.CharField(max_length=100)
    account_id: models.CharField[str, str] = models.CharField(max_length=_ID)
    version: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    trigger: models.CharField[str, str] = models.CharField(max_length=100)
    source: models.IntegerField[int, int] = models.IntegerField()
    dest: models.IntegerField[int, int] = models.IntegerField()
    at: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField()
    recorded_at: models.DateTimeField[dt.datetime | None, dt.datetime | None] = (
        models.DateTimeField(null=True)
    )
    reason: models.CharField[str | None, str | None] = models.CharField(max_length=100, null=True)
    note: models.TextField[str | None, str | None] = models.TextField(null=True)
    actor_id: models.CharField[str | None, str | None] = models.CharField(max_length=200, null=True)
    actor_kind: models.CharField[str | None, str | None] = models.CharField(
        max_length=20, null=True
    )
    actor_permissions: models.TextField[str | None, str | None] = models.TextField(null=True)

    class Meta:
        verbose_name = "status change"
        verbose_name_plural = "status history"
        default_permissions = ("view",)
        permissions = (("fire_trigger", "Can fire status triggers on accounts"),)
        constraints = (
            models.UniqueConstraint(
                fields=["account_model", "account_id", "version"],
                name="acctstate_history_version",
            ),
        )

    def __str__(self) -> str:
        return f"{self.account_id} v{self.version}: {self.trigger} ({self.source} -> {self.dest})"


class OutboxEntry(models.Model):
    """An effect of a committed change: pending until ``done_at`` is set.

    A failed effect waits until ``next_attempt_at``; after too many failed tries its
    ``outcome`` is ``"dead"`` (``dead_at``) until an operator retries or skips it, which
    is recorded (``resolved_action``, ``resolution``, ``resolved_by``, ``resolved_at``).
    """

    seq: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    account_model: models.CharField[str, str] = models.CharField(max_length=100)
    key: models.CharField[str, str] = models.CharField(max_length=500)
    account_id: models.CharField[str, str] = models.CharField(max_length=_ID)
    version: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    position: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    kind: models.CharField[str, str] = models.CharField(max_length=100)
    payload: models.TextField[str, str] = models.TextField()
    created_at: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField()
    done_at: models.DateTimeField[dt.datetime | None, dt.datetime | None] = models.DateTimeField(
        null=True
    )
    outcome: models.CharField[str | None, str | None] = models.CharField(max_length=20, null=True)
    attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(default=0)
    last_error: models.TextField[str | None, str | None] = models.TextField(null=True)
    next_attempt_at: models.DateTimeField[dt.datetime | None, dt.datetime | None] = (
        models.DateTimeField(null=True)
    )
    dead_at: models.DateTimeField[dt.datetime | None, dt.datetime | None] = models.DateTimeField(
        null=True
    )
    resolved_action: models.CharField[str | None, str | None] = models.CharField(
        max_length=10, null=True
    )
    resolution: models.TextField[str | None, str | None] = models.TextField(null=True)
    resolved_by: models.CharField[str | None, str | None] = models.CharField(
        max_length=200, null=True
    )
    resolved_at: models.DateTimeField[dt.datetime | None, dt.datetime | None] = (
        models.DateTimeField(null=True)
    )

    class Meta:
        verbose_name = "pending effect"
        verbose_name_plural = "outbox"
        default_permissions = ("view",)
        constraints = (
            models.UniqueConstraint(fields=["account_model", "key"], name="acctstate_outbox_key"),
        )
        indexes = (
            models.Index(
                fields=["account_model", "account_id", "seq"],
                name="acctstate_outbox_pending",
                condition=models.Q(done_at__isnull=True),
            ),
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class ScheduledEntry(models.Model):
    """A change to make at a future time: ``pending``, then ``applied`` or ``failed``."""

    account_model: models.CharField[str, str] = models.CharField(max_length=100)
    schedule_id: models.CharField[str, str] = models.CharField(max_length=500)
    account_id: models.CharField[str, str] = models.CharField(max_length=_ID)
    trigger: models.CharField[str, str] = models.CharField(max_length=100)
    at: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField()
    reason: models.CharField[str | None, str | None] = models.CharField(max_length=100, null=True)
    note: models.TextField[str | None, str | None] = models.TextField(null=True)
    actor_id: models.CharField[str | None, str | None] = models.CharField(max_length=200, null=True)
    actor_kind: models.CharField[str | None, str | None] = models.CharField(
        max_length=20, null=True
    )
    actor_permissions: models.TextField[str | None, str | None] = models.TextField(null=True)
    data: models.TextField[str | None, str | None] = models.TextField(null=True)
    state: models.CharField[str, str] = models.CharField(max_length=10, default="pending")
    version: models.PositiveIntegerField[int | None, int | None] = models.PositiveIntegerField(
        null=True
    )
    error: models.TextField[str | None, str | None] = models.TextField(null=True)

    class Meta:
        verbose_name = "scheduled change"
        verbose_name_plural = "scheduled changes"
        default_permissions = ("view",)
        constraints = (
            models.UniqueConstraint(
                fields=["account_model", "schedule_id"], name="acctstate_scheduled_id"
            ),
        )
        indexes = (
            models.Index(fields=["account_model", "state", "at"], name="acctstate_scheduled_due"),
        )

    def __str__(self) -> str:
        return f"{self.schedule_id} ({self.state})"


class Hold(models.Model):
    """One hold placed on an account: standing until ``released_at`` is set.

    One row per hold: placed at ``placed_version``; a released row stays, with the
    instant and version of its release (the history records both changes). At most one
    standing hold per id on an account.
    """

    seq: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    account_model: models.CharField[str, str] = models.CharField(max_length=100)
    account_id: models.CharField[str, str] = models.CharField(max_length=_ID)
    hold_id: models.CharField[str, str] = models.CharField(max_length=_ID)
    type: models.CharField[str, str] = models.CharField(max_length=100)
    kind: models.CharField[str, str] = models.CharField(max_length=30)
    blocks: models.CharField[str, str] = models.CharField(max_length=100)
    since: models.DateTimeField[dt.datetime, dt.datetime] = models.DateTimeField()
    until: models.DateTimeField[dt.datetime | None, dt.datetime | None] = models.DateTimeField(
        null=True
    )
    reason: models.CharField[str | None, str | None] = models.CharField(max_length=100, null=True)
    note: models.TextField[str | None, str | None] = models.TextField(null=True)
    actor_id: models.CharField[str | None, str | None] = models.CharField(max_length=200, null=True)
    actor_kind: models.CharField[str | None, str | None] = models.CharField(
        max_length=20, null=True
    )
    actor_permissions: models.TextField[str | None, str | None] = models.TextField(null=True)
    placed_version: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    released_at: models.DateTimeField[dt.datetime | None, dt.datetime | None] = (
        models.DateTimeField(null=True)
    )
    released_version: models.PositiveIntegerField[int | None, int | None] = (
        models.PositiveIntegerField(null=True)
    )

    class Meta:
        verbose_name = "hold"
        verbose_name_plural = "holds"
        default_permissions = ("view",)
        constraints = (
            models.UniqueConstraint(
                fields=["account_model", "account_id", "hold_id"],
                name="acctstate_hold_standing",
                condition=models.Q(released_at__isnull=True),
            ),
        )

    def __str__(self) -> str:
        state = "standing" if self.released_at is None else "released"
        return f"{self.account_id} {self.type} hold {self.hold_id!r} ({state})"
