"""The customer pages: the status panel, the fire form and the history come from
acctstate's ``AccountStatusAdmin``."""

from django.contrib import admin

from acctstate.contrib.django.admin import AccountStatusAdmin
from billing.accounts import STORE
from billing.models import Customer


@admin.register(Customer)
class CustomerAdmin(AccountStatusAdmin):
    store = STORE
    list_display = ("id", "name", "status_name", "balance")
    search_fields = ("id", "name")
