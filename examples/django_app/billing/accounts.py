"""The workflow and the store the back office uses (one of each, shared)."""

from acctstate.contrib.django.store import DjangoStore
from acctstate.presets import isp
from billing.models import Customer

WORKFLOW = isp.workflow()
STORE = DjangoStore(WORKFLOW, Customer)
