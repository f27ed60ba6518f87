"""Settings of the example project: the admin, acctstate's app, and the billing app.

The database is an SQLite file in ``$ACCTSTATE_OUT`` (the test suite's scratch folder)
or beside this project.
"""

import os
import pathlib

BASE_DIR = pathlib.Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

# --8<-- [start:apps]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "acctstate.contrib.django",  # history, outbox and scheduled-change tables; admin panel
    "billing",
]
USE_TZ = True  # the store keeps every instant timezone-aware
# --8<-- [end:apps]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "billing.urls"
TEMPLATES = [
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
]
# --8<-- [start:database]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": pathlib.Path(os.environ.get("ACCTSTATE_OUT", BASE_DIR)) / "billing.sqlite3",
        # Take the write lock when a transaction starts, as the store's writes need it.
        "OPTIONS": {"transaction_mode": "IMMEDIATE"},
    }
}
# --8<-- [end:database]
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
