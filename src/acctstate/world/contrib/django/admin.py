"""The Django admin: a status panel on your account pages, and read-only pages for the
history, the outbox, the scheduled changes and the holds.

[`AccountStatusAdmin`][acctstate.contrib.django.admin.AccountStatusAdmin] is a
``ModelAdmin`` for a model with
[`AccountStatusMixin`][acctstate.contrib.django.models.AccountStatusMixin]. Its change
page shows the
account's status, the triggers the staff user may fire now, every other trigger of the
status with the reason it is refused (``Workflow.explain``), and the history. A staff user
with the ``acctstate.fire_trigger`` permission fires a trigger from there with a reason;
the form carries the version it showed, so a change made meanwhile by someone else is
refused, not overwritten. The status fields are read-only, and an account added in the
admin is opened through the store.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from acctstate.values.actors import Actor
from acctstate.values.errors import AcctStateError, InvalidArgument
from acctstate.values.status import Status
from acctstate.world.contrib.django.models import (
    Hold,
    OutboxEntry,
    ScheduledEntry,
    StatusHistory,
)
from acctstate.world.contrib.django.store import DjangoStore

__all__ = ["FIRE_PERMISSION", "AccountStatusAdmin", "FireForm"]

FIRE_PERMISSION = "acctstate.fire_trigger"
"""The Django permission a staff user needs to fire triggers in the admin."""


class FireForm(forms.Form):
    """Fire one of the allowed triggers, with a reason, against the version shown."""

    trigger = forms.ChoiceField()
    reason = forms.CharField(max_length=100)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, triggers: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["trigger"].choices = [(t, t) for t in triggers]  # type: ignore[attr-defined]


class AccountStatusAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A ``ModelAdmin`` for an account model: the status panel and the fire form.

    Subclass it for your model and set
    [`store`][acctstate.contrib.django.admin.AccountStatusAdmin.store]::

        @admin.register(Customer)
        class CustomerAdmin(AccountStatusAdmin):
            store = DjangoStore(isp.workflow(), Customer)
            list_display = ["id", "name", "status_name"]

    Override [`actor_for`][acctstate.contrib.django.admin.AccountStatusAdmin.actor_for]
    to map your users to actors, and
    [`opening_status`][acctstate.contrib.django.admin.AccountStatusAdmin.opening_status]
    to open accounts added in the admin elsewhere than the workflow's first initial
    status.
    """

    store: DjangoStore | None = None
    """The store the admin fires through (required)."""

    change_form_template = "acctstate/admin/change_form.html"

    # -- what the pages show --------------------------------------------------------

    def _store(self) -> DjangoStore:
        if not isinstance(self.store, DjangoStore):
            raise InvalidArgument(
                f"{type(self).__name__}.store",
                self.store,
                f"a DjangoStore on {self.model.__name__}",
            )
        return self.store

    @admin.display(description="status")
    def status_name(self, obj: Any) -> str:
        """The account's status as ``name (code)``."""
        status = self._store().workflow.catalog[obj.status]
        return f"{status.name} ({status.code})"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The status changes through triggers only: shown, never edited.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        return [
            *fields,
            *(f for f in ("status_name", "status_since", "status_version") if f not in fields),
        ]

    def actor_for(self, request: HttpRequest) -> Actor:
        """The actor a staff user fires as: their username, and the codenames of their
        Django permissions as the actor's permissions."""
        user: Any = request.user
        codenames = {p.split(".", 1)[-1] for p in user.get_all_permissions()}
        return Actor(user.get_username(), permissions=codenames)

    def opening_status(self, request: HttpRequest, obj: Any) -> Status:
        """The status an account added in the admin is opened in."""
        return self._store().workflow.initial[0]

    def has_fire_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Whether the user may fire triggers on ``obj``: the ``acctstate.fire_trigger``
        permission and access to the account's page."""
        user: Any = request.user
        return bool(
            user.has_perm(FIRE_PERMISSION) and self.has_view_or_change_permission(request, obj)
        )

    def status_panel(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        """What the status panel shows: the status, the version, the allowed triggers, the
        refused ones with the reason, and the history (newest first)."""
        store = self._store()
        wf = store.workflow
        facts = store.facts(str(obj.pk))
        at = wf.clock.now()
        actor = self.actor_for(request)
        explained = {
            t: wf.explain(facts, t, at=at, actor=actor)
            for t in sorted({e.trigger for e in wf.edges_from(facts.status)})
        }
        allowed = tuple(t for t, e in explained.items() if e.allowed)
        history = [
            {
                "version": version,
                "at": change.at,
                "trigger": change.trigger,
                "source": change.source.name,
                "dest": change.dest.name,
                "reason": change.reason or "",
                "note": change.note or "",
                "actor": "" if change.actor is None else change.actor.id,
                "effects": ", ".join(e.kind for e in change.effects),
            }
            for version, change in enumerate(store.history(str(obj.pk)))
        ]
        return {
            "status": wf.status_of(facts),
            "version": facts.version,
            "allowed": [(t, e.dest.name) for t, e in explained.items() if e.dest is not None],
            "refused": [(t, str(e)) for t, e in explained.items() if not e.allowed],
            "history": history[::-1],
            "can_fire": self.has_fire_permission(request, obj),
            "form": FireForm(initial={"version": facts.version}, triggers=allowed),
            "fire_url": self._url(obj, "fire"),
        }

    def _url(self, obj: Any, view: str) -> str:
        opts = self.model._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_{view}",
            args=[quote(obj.pk)],
            current_app=self.admin_site.name,
        )

    # -- views ----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        fire = path(
            "<path:object_id>/fire/",
            self.admin_site.admin_view(self.fire_view),
            name=f"{opts.app_label}_{opts.model_name}_fire",
        )
        return [fire, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if obj is not None and self.has_view_or_change_permission(request, obj):
            context["acctstate"] = self.status_panel(request, obj)
        return super().change_view(request, object_id, form_url, context)

    def fire_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: fire the chosen trigger with its reason, then back to the change page."""
        if request.method != "POST":
            raise Http404("fire triggers with the form on the account's page")
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"no {self.model._meta.verbose_name} {object_id!r}")
        if not self.has_fire_permission(request, obj):
            raise PermissionDenied
        store = self._store()
        wf = store.workflow
        account_id = str(obj.pk)
        at = wf.clock.now()
        actor = self.actor_for(request)
        triggers = wf.allowed_triggers(store.facts(account_id), at=at, actor=actor)
        form = FireForm(request.POST, triggers=triggers)
        if not form.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(str(e) for e in errors)}"
                for name, errors in form.errors.items()
            )
            messages.error(request, f"nothing fired: {problems}")
        else:
            data = form.cleaned_data
            try:
                change = store.fire(
                    account_id,
                    data["trigger"],
                    at=at,
                    reason=data["reason"],
                    note=data["note"] or None,
                    actor=actor,
                    expected_version=data["version"],
                )
            except AcctStateError as exc:
                messages.error(request, f"nothing fired: {exc}")
            else:
                messages.success(
                    request, f"{change.trigger}: {change.source.name} -> {change.dest.name}"
                )
        return HttpResponseRedirect(self._url(obj, "change"))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new account is opened through the store: its status and opening entry.
        store = self._store()
        store.open_instance(
            obj,
            self.opening_status(request, obj),
            at=store.workflow.clock.now(),
            actor=self.actor_for(request),
            note="opened in the admin",
        )


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows written by the store only: listed and shown, never edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StatusHistory)
class StatusHistoryAdmin(_ReadOnly):
    """The status history of every account, newest first."""

    list_display = (
        "account_id",
        "version",
        "trigger",
        "source",
        "dest",
        "at",
        "reason",
        "actor_id",
    )
    list_filter = ("account_model", "trigger")
    search_fields = ("account_id",)
    ordering = ("-at", "account_id", "-version")


@admin.register(OutboxEntry)
class OutboxEntryAdmin(_ReadOnly):
    """The effects of committed changes; pending ones have no ``done_at``."""

    list_display = (
        "key",
        "kind",
        "account_id",
        "created_at",
        "done_at",
        "outcome",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("account_model", "kind", "outcome")
    search_fields = ("account_id", "key")
    ordering = ("seq",)


@admin.register(ScheduledEntry)
class ScheduledEntryAdmin(_ReadOnly):
    """The effective-dated changes and their state."""

    list_display = ("schedule_id", "account_id", "trigger", "at", "state", "error")
    list_filter = ("account_model", "state", "trigger")
    search_fields = ("account_id", "schedule_id")
    ordering = ("at", "schedule_id")


@admin.register(Hold)
class HoldAdmin(_ReadOnly):
    """Every hold placed on an account; standing ones have no ``released_at``."""

    list_display = (
        "account_id",
        "hold_id",
        "type",
        "blocks",
        "since",
        "until",
        "reason",
        "actor_id",
        "released_at",
    )
    list_filter = ("account_model", "type")
    search_fields = ("account_id", "hold_id")
    ordering = ("seq",)
