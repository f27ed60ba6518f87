#!/usr/bin/env python
"""The example billing back office's command line: ``python manage.py demo`` walks an
account through the store and the admin; ``migrate`` and ``runserver`` work as usual."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
