"""The workflow and the store the back office uses (one of each, shared).

Customers here keep no time zone or currency of their own: the back office bills in
New York time and in US dollars, said once, explicitly, as the workflow's defaults. The
standard hold types (credit, dunning, fraud, manual, vacation, temporary release) may
stand on an account beside its status.
"""

from acctstate.contrib.django.store import DjangoStore
from acctstate.holds import STANDARD_HOLDS
from acctstate.presets import isp
from billing.models import Customer

WORKFLOW = (
    isp.workflow()
    .with_holds(STANDARD_HOLDS)
    .with_defaults(timezone="America/New_York", currency="USD")
)
STORE = DjangoStore(WORKFLOW, Customer)
