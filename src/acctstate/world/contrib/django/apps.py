"""The Django app configuration of ``acctstate.contrib.django`` (label ``acctstate``)."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["AcctStateConfig"]


class AcctStateConfig(AppConfig):
    """The ``acctstate`` app: history, outbox and scheduled-change tables, admin pages."""

    # The code's own module path: Django imports the models and migrations under it, so
    # they load once whichever public path is listed in INSTALLED_APPS.
    name = "acctstate.world.contrib.django"
    label = "acctstate"
    verbose_name = "Account status"
    default_auto_field = "django.db.models.BigAutoField"
