"""A Django app: account statuses on your own models, history and outbox tables with
migrations, a store over the Django ORM, and an admin integration.

Add ``"acctstate.contrib.django"`` to ``INSTALLED_APPS`` (its label is ``acctstate``),
run ``manage.py migrate``, and give your account model the
[`AccountStatusMixin`][acctstate.contrib.django.models.AccountStatusMixin]. The parts:

* [`acctstate.contrib.django.models`][acctstate.contrib.django.models]: the mixin, and
  the ``StatusHistory``, ``OutboxEntry`` and ``ScheduledEntry`` models.
* [`acctstate.contrib.django.store`][acctstate.contrib.django.store]:
  [`DjangoStore`][acctstate.contrib.django.store.DjangoStore], a
  [`Store`][acctstate.store.Store] over the ORM.
* [`acctstate.contrib.django.admin`][acctstate.contrib.django.admin]:
  [`AccountStatusAdmin`][acctstate.contrib.django.admin.AccountStatusAdmin], a ``ModelAdmin`` mixin.

Needs the ``django`` extra: ``pip install 'acctstate[django]'``. Importing this package
does not import the models (Django loads them itself once its settings are ready).
"""

from acctstate.values.errors import MissingDependency

try:
    import django  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency(
        "Django", needed_for="acctstate.contrib.django", install="pip install 'acctstate[django]'"
    ) from exc

__all__: list[str] = []
