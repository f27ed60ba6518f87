"""Django, configured once per test run for the tests that need it (the Django app's
tests, and the public-API check that imports its modules).

The example project's ``billing`` app is the host: its ``Customer`` model carries the
status. The databases are an SQLite one and, when ``ACCTSTATE_PG_URL`` answers, a
PostgreSQL one under the alias ``postgres`` (pytest-django creates
``test_acctstate_django`` and drops it after). Nothing here runs unless a test module
calls :func:`configure`, so the rest of the suite runs without Django settings.
"""

from __future__ import annotations

import os
import pathlib
import sys
import urllib.parse
from typing import Any

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "django_app"


def _databases() -> dict[str, Any]:
    from test_store_sql import PG_URL

    databases: dict[str, Any] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": "acctstate_django.sqlite3",  # the tests use an in-memory database
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
        }
    }
    if PG_URL is not None:
        url = urllib.parse.urlsplit(PG_URL)
        databases["postgres"] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "acctstate_django",
            "USER": url.username or "postgres",
            "PASSWORD": url.password or "",
            "HOST": url.hostname or "127.0.0.1",
            "PORT": str(url.port or 5432),
            # One test database per run: runs sharing the server must not meet in it.
            "TEST": {"NAME": f"test_acctstate_django_{os.getpid()}"},
        }
    return databases


def configure() -> None:
    """Configure Django and load its apps (once; later calls do nothing)."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    sys.path.insert(0, str(EXAMPLE))
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "acctstate.contrib.django",
            "billing",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        ROOT_URLCONF="billing.urls",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES=_databases(),
        USE_TZ=True,
        TIME_ZONE="UTC",
        SECRET_KEY="tests-only",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()
