"""A deterministic simulated book of accounts, run day by day through the reference workflow.

[`simulate`][acctstate.simulation.simulate] starts a book of accounts (mostly active, some
onboarding, some on trial, some already closed), then runs it for a number of days: prospects sign
up and are installed, invoices are issued every 30 days and paid on time, late or not at all,
the nightly automation sweep ([`acctstate.automation`][acctstate.automation]: the reference dunning
ladder, trial ends, contract expiry, archiving after 180 days) moves accounts down the
ladder and back, defaulters who pay are reinstated with a back bill, customers cancel
with one of the EngageIP-style cancellation options
([`acctstate.refunds.CANCEL_OPTIONS`][acctstate.refunds.CANCEL_OPTIONS], refunds included) and some
come back with a forward bill.

Every change is an ordinary ``Workflow.fire`` (or a sweep's ``apply``): guards,
effects, history and the graph's invariants apply as in production. Time comes from a
[`FixedClock`][acctstate.clock.FixedClock] moved to each event's instant, randomness from
``random.Random(seed)``: the same arguments give the same result, history included.

>>> result = simulate(accounts=200, days=60, seed=7)
>>> result.days, len(result.daily), result.problems
(60, 60, ())
>>> sum(result.final().values()) == len(result.accounts)
True
>>> simulate(accounts=200, days=60, seed=7).final() == result.final()
True
"""

from acctstate.world.simulation._book import CUSTOMER
from acctstate.world.simulation._result import SimulationResult
from acctstate.world.simulation._run import DEFAULT_START, simulate
from acctstate.world.simulation._scenario import Scenario

__all__ = ["CUSTOMER", "DEFAULT_START", "Scenario", "SimulationResult", "simulate"]
