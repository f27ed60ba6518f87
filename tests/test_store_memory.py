"""The in-memory store: what it adds to the shared contract (tested in test_store_sql.py).

It is thread-safe: threads firing and delivering on the same accounts lose nothing and
double nothing.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import random
import threading
from typing import Any

import pytest

import acctstate
from acctstate.errors import ConcurrentChange, IllegalTransition, InvalidArgument
from acctstate.presets import isp
from acctstate.store import Delivery, Store
from acctstate.store.memory import MemoryStore

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
SEC = dt.timedelta(seconds=1)


class ListHooks:
    """Hooks appending ``(account, key)`` to a list."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def _run(self, effect: Any, change: acctstate.StatusChange) -> None:
        with self.lock:
            self.ran.append((change.account_id, effect.key))

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = _run

    def hooks(self) -> acctstate.Hooks:
        return acctstate.Hooks(billing=self, provisioning=self, refunds=self, notices=self)


def test_memory_store_is_a_store_bound_to_one_workflow() -> None:
    """It satisfies the protocol, exposes its workflow and refuses anything else."""
    wf = isp.workflow()
    store = MemoryStore(wf)
    assert isinstance(store, Store) and store.workflow is wf
    assert repr(store) == "<MemoryStore 'isp': 0 accounts>"
    with pytest.raises(InvalidArgument, match=r"expected an acctstate\.Workflow"):
        MemoryStore("isp")  # type: ignore[arg-type]


def test_deliver_uses_the_workflows_hooks_by_default() -> None:
    """Without explicit hooks, `deliver` runs the workflow's own."""
    rec = ListHooks()
    store = MemoryStore(isp.workflow().with_hooks(rec.hooks()))
    store.open("A-1", "active", at=T0, imported=True)
    change = store.fire("A-1", "ban", at=T0 + SEC)
    assert store.deliver() == Delivery(delivered=tuple(e.key for e in change.effects))
    assert [k for _, k in rec.ran] == [e.key for e in change.effects]


def test_the_stored_account_answers_workflow_questions() -> None:
    """A `StoredAccount` has `id` and `status`, so the workflow can be asked about it."""
    wf = isp.workflow()
    store = MemoryStore(wf)
    stored = store.open("A-1", "active", at=T0, imported=True)
    assert wf.status_of(stored).name == "active"
    assert wf.may(stored, "suspend", at=T0) and not wf.may(stored, "reactivate", at=T0)


def test_threads_hammering_a_memory_store() -> None:
    """Eight threads toggling three accounts against the version they read: each change is
    recorded once, the versions add up, chains are unbroken, and each effect runs once and
    in order per account."""
    store = MemoryStore(isp.workflow())
    ids = ["A-1", "A-2", "A-3"]
    for account_id in ids:
        store.open(account_id, "active", at=T0, imported=True)
    rec = ListHooks()
    made = collections.Counter[str]()
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        for _ in range(100):
            account_id = rng.choice(ids)
            seen = store.load(account_id)
            trigger = "deactivate" if seen.status == 1 else "reactivate"
            try:
                store.fire(
                    account_id, trigger, at=seen.status_since + SEC, expected_version=seen.version
                )
                with rec.lock:
                    made[account_id] += 1
            except (ConcurrentChange, IllegalTransition):
                pass
            if rng.random() < 0.2:
                store.deliver(rec.hooks(), limit=4)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.deliver(rec.hooks(), limit=100_000)
    for account_id in ids:
        history = list(store.history(account_id))
        assert all(b.source == a.dest for a, b in itertools.pairwise(history))
        assert store.load(account_id).version == len(history) - 1 == made[account_id]
        queued = [e.key for c in history for e in c.effects]
        assert [k for a, k in rec.ran if a == account_id] == queued
    assert len(rec.ran) == len(set(rec.ran)) and store.pending() == ()
