"""Effective-dated changes: record a change now to happen later, list and withdraw
scheduled changes, and apply those that are due.

Billing staff change a status "now" or "on the 1st" (a status change with an
effective date and a note). A [`Schedule`][acctstate.schedule.Schedule] is the book of
such changes for one workflow. Scheduling checks at once what can be checked now (the
trigger exists and can still happen from the account's status, ``at`` is aware and not
before the account's latest change, the reason code, the actor's permission); guards
are checked when the change is applied, at its effective time, because the account
may look different by then.

Applying ([`Schedule.apply_due`][acctstate.schedule.Schedule.apply_due]) fires the due changes in
effective-time order through the ordinary [`fire`][acctstate.workflow.Workflow.fire], each with
``at`` set to its effective time, as the person who scheduled it or else the system actor. A
change refused then is kept, marked failed with the reason; nothing is dropped.
Applying again changes nothing: settled changes are never fired twice, and a pending
change whose [`StatusChange`][acctstate.history.StatusChange] is already in the account's
history (the same idempotency key) is marked applied without firing.

>>> import datetime as dt
>>> from acctstate.presets import isp
>>> wf = isp.workflow()
>>> t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
>>> acct = wf.open("A-1", "active", at=t0, imported=True)
>>> book = Schedule(wf)
>>> sc = book.add(acct, "suspend", at=dt.datetime(2026, 2, 1, 5, 0, tzinfo=dt.UTC))
>>> [e.trigger for e in book.pending()]
['suspend']
>>> print(book.apply_due(t0))
0 applied, 0 failed
>>> print(book.apply_due(dt.datetime(2026, 2, 2, tzinfo=dt.UTC)))
1 applied, 0 failed
>>> wf.status_of(acct).name, acct.history.last.automatic
('suspended', True)
"""

from acctstate.operations.schedule._book import Schedule
from acctstate.operations.schedule._entry import apply_entry, plan_entry
from acctstate.operations.schedule._outcome import ApplyResult, ScheduleOutcome

__all__ = ["ApplyResult", "Schedule", "ScheduleOutcome", "apply_entry", "plan_entry"]
