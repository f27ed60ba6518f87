"""Scopes: an account, its sites and their subscriptions, each with its own workflow, and
the declared cascade rules between them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from acctstate import Status, Transition
from acctstate.account import Account
from acctstate.actors import SYSTEM, Actor
from acctstate.effects import Hooks, RecordingHooks
from acctstate.errors import (
    AcctStateError,
    DefinitionError,
    GuardRefused,
    IllegalTransition,
    InvalidArgument,
)
from acctstate.history import Cause, StatusChange
from acctstate.holds import STANDARD_HOLDS, HoldType, place_hold
from acctstate.scopes import (
    Cascade,
    ChangeSet,
    ChangeSetFailed,
    Entity,
    HoldCascade,
    Scope,
    ScopeConflict,
    Scopes,
    UnknownEntity,
    no_active_service,
)
from acctstate.testing import ScopeInvariantError, scoped_state_machine
from acctstate.workflow import Workflow

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CLERK = Actor("u-7", permissions={"place_fraud_hold"})

# A blocking state in Kill Bill blocks changes, entitlement and billing; one hold type
# does the same, declared on every level (account, bundle, subscription).
BLOCKING_STATE = HoldType("blocking_state", kind="host", blocks={"billing", "service", "changes"})
HOLDS = (*STANDARD_HOLDS, BLOCKING_STATE)


def _s(code: int, name: str, backend: str, **flags: Any) -> Status:
    return Status(code=code, name=name, backend=backend, **flags)


ACCOUNT = Workflow(
    name="account",
    statuses=[
        _s(1, "active", "active", provisioned=True, billable=True),
        _s(10, "dunning", "active", provisioned=True, billable=True, dunning_step=1),
        _s(-5, "collections", "suspended"),
        _s(-2, "cancelled", "closed", terminal=True),
    ],
    transitions=[
        Transition("escalate_dunning", "active", "dunning"),
        Transition("settle", "dunning", "active"),
        Transition("send_to_collections", "dunning", "collections", guards=[no_active_service()]),
        *Transition.many("cancel", ["active", "dunning", "collections"], "cancelled"),
    ],
    initial=["active"],
    holds=HOLDS,
)
SITE = Workflow(
    name="site",
    statuses=[
        _s(1, "active", "active", provisioned=True),
        _s(0, "inactive", "suspended"),
        _s(-2, "cancelled", "closed"),
        _s(-3, "closed", "closed", terminal=True),
    ],
    transitions=[
        Transition("deactivate", "active", "inactive"),
        Transition("close", "cancelled", "closed"),
        Transition("reactivate", "inactive", "active"),
        *Transition.many("cancel", ["active", "inactive"], "cancelled"),
        Transition("reopen", "cancelled", "active"),
    ],
    initial=["active"],
    holds=HOLDS,
)
SUBSCRIPTION = Workflow(
    name="subscription",
    statuses=[
        _s(1, "active", "active", provisioned=True, billable=True),
        _s(-1, "suspended", "suspended"),
        _s(-2, "cancelled", "closed", terminal=True),
    ],
    transitions=[
        Transition("suspend", "active", "suspended"),
        Transition("resume", "suspended", "active"),
        *Transition.many("cancel", ["active", "suspended"], "cancelled"),
    ],
    initial=["active"],
    holds=HOLDS,
)
LEVELS = (
    Scope("account", ACCOUNT),
    Scope("site", SITE, parent="account"),
    Scope("subscription", SUBSCRIPTION, parent="site"),
)


def paid_ahead(sub: Any, at: dt.datetime) -> bool:
    """A subscription paid beyond ``at`` (an annual plan paid up front)."""
    return sub.period_end is not None and sub.period_end > at


SCOPES = Scopes(
    LEVELS,
    cascades=[
        Cascade("account", "cancelled", "subscription", "cancel", strict=True),
        Cascade("account", "cancelled", "site", "cancel", strict=True),
        Cascade("account", "dunning", "subscription", "suspend", exempt=paid_ahead),
        Cascade("account", "active", "subscription", "resume"),
        Cascade("subscription", "cancelled", "site", "deactivate"),
        HoldCascade("account", "site", types={"blocking_state", "credit"}),
        HoldCascade("site", "subscription", types={"blocking_state", "credit"}),
        HoldCascade("account", "subscription", types={"dunning"}, exempt=paid_ahead),
    ],
)


def customer(scopes: Scopes = SCOPES) -> Entity:
    """An account with two sites and three subscriptions; SUB-1 is paid a year ahead."""
    e = scopes.entity
    return e(
        "account",
        ACCOUNT.open("A-1", "active", at=T0),
        e(
            "site",
            SITE.open("S-1", "active", at=T0),
            e(
                "subscription",
                SUBSCRIPTION.open("SUB-1", "active", at=T0, period_end=T0 + 365 * DAY),
            ),
            e("subscription", SUBSCRIPTION.open("SUB-2", "active", at=T0)),
        ),
        e(
            "site",
            SITE.open("S-2", "active", at=T0),
            e("subscription", SUBSCRIPTION.open("SUB-3", "active", at=T0)),
        ),
    )


def snapshot(tree: Entity) -> dict[str, tuple[Any, ...]]:
    return {
        e.id: (e.account.status, e.account.holds, tuple(e.account.history)) for e in tree.walk()
    }


def serving(tree: Entity) -> dict[str, bool]:
    return {e.id: SCOPES.serving(e) for e in tree.walk()}


# -- cascades -----------------------------------------------------------------------------


def test_account_cancelled_cancels_every_open_subscription_and_site() -> None:
    """ "Account cancelled -> every open subscription cancelled": one change set, the
    account's change first, each cascaded change an ordinary transition of the child
    naming the account's change as its cause, in the child's own history."""
    tree = customer()
    SCOPES.fire(tree, "SUB-3", "cancel", at=T0 + DAY)
    changes = SCOPES.fire(tree, "A-1", "cancel", at=T0 + 2 * DAY, actor=CLERK)
    assert SCOPES.statuses(tree) == {
        "A-1": "cancelled",
        "S-1": "cancelled",
        "SUB-1": "cancelled",
        "SUB-2": "cancelled",
        "S-2": "cancelled",
        "SUB-3": "cancelled",
    }
    assert [s.entity_id for s in changes] == ["A-1", "SUB-1", "SUB-2", "S-1", "S-2"]
    assert all(changes.cause_of(s) is changes.steps[0] for s in changes.steps[1:])
    sub = tree.find("SUB-2").account
    last = sub.history[-1]
    assert (last.trigger, last.source.name, last.dest.name, last.actor) == (
        "cancel",
        "active",
        "cancelled",
        CLERK,
    )
    assert last.cause == Cause(
        "account", "A-1", "cancel", "account cancelled -> subscription cancel"
    )
    assert last.note == str(last.cause)


def test_a_subscription_already_closed_is_left_alone() -> None:
    """A cascade fires only on children whose status has the transition (open ones)."""
    tree = customer()
    SCOPES.fire(tree, "SUB-3", "cancel", at=T0 + DAY)
    changes = SCOPES.fire(tree, "A-1", "cancel", at=T0 + 2 * DAY)
    assert "SUB-3" not in [s.entity_id for s in changes]
    assert len(tree.find("SUB-3").account.history) == 2  # opened, cancelled once


def test_roll_up_deactivates_a_site_when_its_last_subscription_is_cancelled() -> None:
    """A roll-up fires on the parent only when every child of the level agrees."""
    tree = customer()
    first = SCOPES.fire(tree, "SUB-1", "cancel", at=T0 + DAY)
    assert [s.entity_id for s in first] == ["SUB-1"]
    second = SCOPES.fire(tree, "SUB-2", "cancel", at=T0 + 2 * DAY)
    assert [(s.entity_id, s.change.dest.name) for s in second] == [
        ("SUB-2", "cancelled"),
        ("S-1", "inactive"),
    ]
    assert second.steps[1].rule == "subscription cancelled -> site deactivate"
    # A roll-up's cause is the child whose change completed it.
    assert tree.find("S-1").account.history[-1].cause == Cause(
        "subscription", "SUB-2", "cancel", "subscription cancelled -> site deactivate"
    )


def test_every_cascaded_change_records_its_cause_and_keeps_it_through_a_store() -> None:
    """Each cascaded change (status, inherited hold, released copy) records the change it
    came from (entity, trigger) and the rule as a structured ``cause``, the same as the
    change set's; the change asked for has none. A store keeps the note only, and a
    change rebuilt from the stored columns gives back the same cause and compares equal."""
    tree = customer()
    made = [
        SCOPES.fire(tree, "A-1", "escalate_dunning", at=T0 + DAY, spare=()),
        SCOPES.place_hold(tree, "A-1", "credit", at=T0 + 2 * DAY, note="called twice"),
        SCOPES.release_hold(tree, "A-1", "H1", at=T0 + 3 * DAY),
        SCOPES.fire(tree, "A-1", "cancel", at=T0 + 4 * DAY),
    ]
    seen = 0
    for changes in made:
        assert changes.steps[0].change.cause is None
        for step in changes.steps[1:]:
            by = changes.cause_of(step)
            assert by is not None
            expected = Cause(by.scope, by.entity_id, by.change.trigger, step.rule or "")
            assert step.change.cause == expected
            recorded = tree.find(step.entity_id).account.history
            assert step.change in list(recorded)
            c = step.change
            stored = StatusChange(  # the columns a store writes and reads back
                c.account_id, c.source, c.dest, c.trigger, c.at, c.recorded_at, c.reason,
                c.note, c.actor, c.effects,
            )  # fmt: skip
            assert stored.cause == expected and stored == c and hash(stored) == hash(c)
            seen += 1
    assert seen == 3 + 5 + 5 + 5
    copy = tree.find("SUB-3").account.history[-2]  # the credit hold's copy, released
    assert (copy.trigger, copy.cause) == (
        "release_hold",
        Cause("account", "A-1", "release_hold", "inherited"),
    )
    # A note of someone's own is never read as a cause.
    assert StatusChange("X", c.source, c.source, "t", T0, note="cascade from me").cause is None


def test_dunning_cascade_spares_the_paid_annual_subscription() -> None:
    """A dunning step suspends every subscription but the one paid a year ahead (the
    rule's exemption); settling resumes those it suspended."""
    tree = customer()
    changes = SCOPES.fire(tree, "A-1", "escalate_dunning", at=T0 + 30 * DAY)
    assert [s.entity_id for s in changes] == ["A-1", "SUB-2", "SUB-3"]
    assert changes.spared == (("SUB-1", "account dunning -> subscription suspend"),)
    assert serving(tree)["SUB-1"] and not serving(tree)["SUB-2"]
    SCOPES.fire(tree, "A-1", "settle", at=T0 + 31 * DAY)
    assert SCOPES.statuses(tree)["SUB-2"] == "active"


@pytest.mark.parametrize(
    ("spare", "suspended"),
    [((), ["SUB-1", "SUB-2", "SUB-3"]), (["SUB-3"], ["SUB-1", "SUB-2"])],
)
def test_the_operator_says_otherwise(spare: list[str], suspended: list[str]) -> None:
    """Naming the spared children replaces the rule's own exemptions: ``spare=()``
    spares nobody, the paid annual subscription included."""
    tree = customer()
    changes = SCOPES.fire(tree, "A-1", "escalate_dunning", at=T0 + 30 * DAY, spare=spare)
    assert [s.entity_id for s in changes][1:] == suspended


def test_plan_is_pure_and_fire_does_what_it_planned() -> None:
    """``plan`` changes nothing; ``fire`` then makes exactly the planned changes."""
    tree = customer()
    before = snapshot(tree)
    planned = SCOPES.plan(tree, "A-1", "cancel", at=T0 + DAY)
    assert snapshot(tree) == before
    done = SCOPES.fire(tree, "A-1", "cancel", at=T0 + DAY)
    assert [(s.entity_id, s.change.dest) for s in planned] == [
        (s.entity_id, s.change.dest) for s in done
    ]
    assert str(done).splitlines()[0] == "0. account A-1: cancel: active -> cancelled"


# -- refusals change nothing -----------------------------------------------------------------


def test_a_refused_cascade_changes_nothing() -> None:
    """A subscription under a hold blocking changes refuses its cascaded change made by a
    clerk: the whole set is refused, the account included, and says why."""
    tree = customer()
    place_hold(SUBSCRIPTION, tree.find("SUB-2").account, "fraud", at=T0, actor=CLERK)
    before = snapshot(tree)
    with pytest.raises(ScopeConflict, match=r"cannot cancel subscription 'SUB-2'") as err:
        SCOPES.fire(tree, "A-1", "cancel", at=T0 + DAY, actor=CLERK)
    assert isinstance(err.value.cause, GuardRefused)
    assert snapshot(tree) == before
    # automation (a system actor) still moves it
    SCOPES.fire(tree, "A-1", "cancel", at=T0 + DAY, actor=SYSTEM)
    assert SCOPES.statuses(tree)["SUB-2"] == "cancelled"


def test_a_child_may_not_fire_into_a_status_its_parent_forbids() -> None:
    """With the account cancelled, reopening a site would leave it open under a
    cancelled account (a strict cascade forbids it): refused, nothing changes."""
    tree = customer()
    SCOPES.fire(tree, "A-1", "cancel", at=T0 + DAY)
    before = snapshot(tree)
    with pytest.raises(ScopeConflict, match=r"site 'S-1' would stand in 'active'"):
        SCOPES.fire(tree, "S-1", "reopen", at=T0 + 2 * DAY)
    assert snapshot(tree) == before
    # the site's own workflow alone allows it: the refusal comes from the scope
    assert SITE.may(tree.find("S-1").account, "reopen", at=T0 + 2 * DAY)


def test_a_failing_hook_commits_nothing() -> None:
    """A hook failing on a cascaded change leaves every entity as it was, and names the
    steps whose effects did run."""
    tree = customer()

    class Failing(RecordingHooks):
        def deprovision(self, effect: Any, change: Any) -> None:
            if change.account_id == "SUB-3":
                raise RuntimeError("provisioning system down")
            super().deprovision(effect, change)

    hooks = Hooks.from_object(Failing())
    before = snapshot(tree)
    with pytest.raises(ChangeSetFailed, match="no entity changed") as err:
        SCOPES.fire(tree, "A-1", "cancel", at=T0 + DAY, hooks=hooks)
    assert snapshot(tree) == before
    assert [s.entity_id for s in err.value.done] == ["A-1", "SUB-1", "SUB-2"]
    assert err.value.failed.entity_id == "SUB-3"


def test_unknown_entities_and_reserved_data_are_refused() -> None:
    """An unknown entity or spared id, and event data named ``scope``, are refused."""
    tree = customer()
    with pytest.raises(UnknownEntity, match="no entity 'X-9'"):
        SCOPES.fire(tree, "X-9", "cancel", at=T0)
    with pytest.raises(UnknownEntity):
        SCOPES.fire(tree, "A-1", "escalate_dunning", at=T0, spare=["nope"])
    with pytest.raises(InvalidArgument, match="scope"):
        SCOPES.fire(tree, "A-1", "cancel", at=T0, scope="x")
    wrong = Entity(
        "account",
        ACCOUNT.open("A-2", "active", at=T0),
        [Entity("subscription", SUBSCRIPTION.open("X", "active", at=T0))],
    )
    with pytest.raises(InvalidArgument, match="below 'account'"):
        SCOPES.fire(wrong, "A-2", "cancel", at=T0)


# -- aggregation and the built-in guard ---------------------------------------------------


def test_an_account_is_active_while_any_subscription_is() -> None:
    """For statistics an account (and a site) is active if any subscription below is."""
    tree = customer()
    acct, s2 = tree, tree.find("S-2")
    assert SCOPES.is_active(acct) and SCOPES.is_active(s2)
    SCOPES.fire(tree, "SUB-3", "suspend", at=T0 + DAY)
    assert not SCOPES.is_active(s2) and SCOPES.is_active(acct)
    SCOPES.fire(tree, "SUB-1", "suspend", at=T0 + DAY)
    SCOPES.fire(tree, "SUB-2", "suspend", at=T0 + DAY)
    assert not SCOPES.is_active(acct)


def test_a_sql_store_gives_a_cascaded_change_its_cause_back(tmp_path: Any) -> None:
    """A store keeps a change's note, not a cause column: a subscription's change stored
    with a cascade's note reads back from SQLite with the very cause the cascade
    recorded in memory."""
    sa = pytest.importorskip("sqlalchemy")
    from acctstate.store.sql import SqlStore

    tree = customer()
    changes = SCOPES.fire(tree, "A-1", "escalate_dunning", at=T0 + DAY)
    cascaded = changes.for_entity("SUB-2")[0].change
    assert cascaded.cause is not None
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'subscriptions.db'}")
    store = SqlStore(SUBSCRIPTION, engine)
    store.create_schema()
    store.open("SUB-2", "active", at=T0)
    store.fire("SUB-2", "suspend", at=T0 + DAY, note=cascaded.note, reason=cascaded.reason)
    stored = store.history("SUB-2")[-1]
    engine.dispose()
    assert (stored.trigger, stored.dest.name) == ("suspend", "suspended")
    assert stored.cause == cascaded.cause
    assert stored.key == cascaded.key


def test_statistics_count_an_account_active_while_any_subscription_is() -> None:
    """``account_statistics(wf, trees, active=scopes.is_active)`` counts each customer by
    its account's status and, as active, only those with an active subscription: an
    account whose status is active but whose every subscription is suspended is not,
    and one in dunning whose paid annual subscription still serves is."""
    from acctstate.stats import account_statistics

    serving, idle, dunning = customer(), customer(), customer()
    for sub in ("SUB-1", "SUB-2", "SUB-3"):
        SCOPES.fire(idle, sub, "suspend", at=T0 + DAY)
    SCOPES.fire(dunning, "A-1", "escalate_dunning", at=T0 + DAY)  # spares SUB-1
    stats = account_statistics(ACCOUNT, [serving, idle, dunning], active=SCOPES.is_active)
    assert stats.by_status() == {"active": 2, "dunning": 1, "collections": 0, "cancelled": 0}
    assert stats.by_backend()["active"] == 3
    assert (stats.active, stats.to_dict()["active"]) == (2, 2)
    plain = account_statistics(ACCOUNT, [serving, idle, dunning])
    assert plain.active is None and "active" not in plain.to_dict()
    assert plain.by_status() == stats.by_status()


def test_collections_only_if_no_active_service_in_any_site() -> None:
    """The account-class rule "collections only if there are no active services for any
    site" is the built-in guard ``no_active_service``."""
    tree = customer()
    SCOPES.fire(tree, "A-1", "escalate_dunning", at=T0 + DAY)  # SUB-1 spared: still served
    with pytest.raises(GuardRefused, match="site 'S-1' has active service"):
        SCOPES.fire(tree, "A-1", "send_to_collections", at=T0 + 2 * DAY)
    for site in ("S-1", "S-2"):
        SCOPES.fire(tree, site, "deactivate", at=T0 + 2 * DAY)
    with pytest.raises(GuardRefused, match="subscription 'SUB-1' has active service"):
        SCOPES.fire(tree, "A-1", "send_to_collections", at=T0 + 3 * DAY)
    SCOPES.fire(tree, "SUB-1", "suspend", at=T0 + 3 * DAY)
    SCOPES.fire(tree, "A-1", "send_to_collections", at=T0 + 4 * DAY)
    assert SCOPES.statuses(tree)["A-1"] == "collections"


def test_the_guard_needs_the_tree() -> None:
    """Fired on the account alone, the guard cannot see the sites and refuses."""
    acct = ACCOUNT.open("A-1", "dunning", at=T0, imported=True)
    with pytest.raises(GuardRefused, match=r"Scopes\.fire"):
        ACCOUNT.fire(acct, "send_to_collections", at=T0 + DAY)


# -- Kill Bill's account / bundle / subscription blocking ---------------------------------
#
# Kill Bill's entitlement documentation (https://docs.killbill.io/latest/entitlement_subsystem)
# blocks an ACCOUNT, a SUBSCRIPTION_BUNDLE or a SUBSCRIPTION through rows of its
# blocking_states table, each from one service, and aggregates the rows of every service to
# decide a subscription's entitlement state; its blog post on the BlockingState abstraction
# (https://blog.killbill.io/blog/blockingstate-abstractions/) names the type as the scope the
# block applies to. A site plays the bundle here.


def test_kill_bill_account_block_blocks_every_subscription() -> None:
    """A blocking state on the ACCOUNT: every subscription's entitlement is BLOCKED."""
    tree = customer()
    changes = SCOPES.place_hold(tree, "A-1", "blocking_state", at=T0 + DAY, hold_id="svc1")
    assert not any(serving(tree).values())
    assert [s.entity_id for s in changes] == ["A-1", "S-1", "SUB-1", "SUB-2", "S-2", "SUB-3"]
    blocked = SCOPES.why_blocked(tree, "SUB-2", "service")
    assert [h.id for h in blocked.holds] == ["A-1/svc1"]
    # Each copy names the change it came from: the site's copy, by the site's rule.
    assert tree.find("SUB-2").account.history[-1].cause == Cause(
        "site", "S-1", "place_hold", "site hold -> subscription"
    )


@pytest.mark.parametrize(
    ("capability", "entity_id", "text"),
    [
        ("billing", "SUB-3", "Billing on subscription 'SUB-3' is blocked for 2 reasons"),
        ("service", "SUB-3", "Service on subscription 'SUB-3' is blocked for 2 reasons"),
        ("changes", "SUB-3", "Changes on subscription 'SUB-3' are blocked for 2 reasons"),
        ("service", "S-1", "Service on site 'S-1' is blocked for 1 reason"),
        ("changes", "A-1", "Changes on account 'A-1' are blocked for 1 reason"),
    ],
)
def test_why_blocked_names_the_level_and_every_reason(
    capability: str, entity_id: str, text: str
) -> None:
    """Below the account the paragraph names the entity's level, with the verb agreeing:
    a cancelled subscription under the account's blocking state is blocked by its status
    and by the inherited hold, for billing, service and changes alike."""
    tree = customer()
    SCOPES.fire(tree, "SUB-3", "cancel", at=T0 + DAY, actor=SYSTEM)
    SCOPES.place_hold(tree, "A-1", "blocking_state", at=T0 + 2 * DAY, hold_id="svc1")
    blocked = SCOPES.why_blocked(tree, entity_id, capability)
    assert str(blocked).startswith(text + ": ")
    assert blocked.holds[-1].id == ("svc1" if entity_id == "A-1" else "A-1/svc1")
    assert blocked.label == tree.find(entity_id).scope


def test_kill_bill_bundle_block_blocks_only_its_subscriptions() -> None:
    """A blocking state on one SUBSCRIPTION_BUNDLE: its subscriptions are BLOCKED, the
    other bundle's subscription stays ACTIVE."""
    tree = customer()
    SCOPES.place_hold(tree, "S-1", "blocking_state", at=T0 + DAY, hold_id="svc1")
    assert serving(tree) == {
        "A-1": True,
        "S-1": False,
        "SUB-1": False,
        "SUB-2": False,
        "S-2": True,
        "SUB-3": True,
    }


def test_kill_bill_subscription_block_blocks_only_that_subscription() -> None:
    """A blocking state on a SUBSCRIPTION blocks it alone."""
    tree = customer()
    changes = SCOPES.place_hold(tree, "SUB-2", "blocking_state", at=T0 + DAY)
    assert len(changes) == 1
    assert [k for k, v in serving(tree).items() if not v] == ["SUB-2"]


def test_kill_bill_two_services_at_two_levels() -> None:
    """The documentation's two-service timeline, the blocks at two levels: SVC1 blocks
    the account, SVC2 the bundle; SVC2 unblocks: the subscription is still BLOCKED; SVC1
    unblocks: it is ACTIVE again."""
    tree = customer()
    sub = tree.find("SUB-2")
    SCOPES.place_hold(tree, "A-1", "blocking_state", at=T0 + DAY, hold_id="svc1")
    SCOPES.place_hold(tree, "S-1", "blocking_state", at=T0 + 2 * DAY, hold_id="svc2")
    assert [h.id for h in SCOPES.why_blocked(tree, "SUB-2", "service").holds] == [
        "A-1/svc1",
        "S-1/svc2",
    ]
    SCOPES.release_hold(tree, "S-1", "svc2", at=T0 + 3 * DAY)
    assert not SCOPES.serving(sub)
    released = SCOPES.release_hold(tree, "A-1", "svc1", at=T0 + 4 * DAY)
    assert SCOPES.serving(sub) and all(serving(tree).values())
    provisioned = [
        s.entity_id for s in released if "provision" in [e.kind for e in s.change.effects]
    ]
    assert provisioned == ["A-1", "S-1", "SUB-1", "SUB-2", "S-2", "SUB-3"]


def test_kill_bill_1997_paid_annual_subscription_keeps_its_service() -> None:
    """Kill Bill issue #1997 (https://github.com/killbill/killbill/issues/1997): an
    account in overdue BLOCKED paused the entitlement of every subscription, the annual
    one paid a year in advance included. Here the dunning hold spares it, unless the
    operator says otherwise."""
    tree = customer()
    changes = SCOPES.place_hold(tree, "A-1", "dunning", at=T0 + 40 * DAY)
    assert changes.spared == (("SUB-1", "account hold -> subscription"),)
    assert serving(tree)["SUB-1"] and not serving(tree)["SUB-2"] and not serving(tree)["SUB-3"]
    SCOPES.release_hold(tree, "A-1", "H1", at=T0 + 41 * DAY)
    SCOPES.place_hold(tree, "A-1", "dunning", at=T0 + 42 * DAY, spare=())
    assert not any(serving(tree)[s] for s in ("SUB-1", "SUB-2", "SUB-3"))


# -- build-time checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cascade", "rule", "match"),
    [
        (
            Cascade(
                "account", "cancelled", "subscription", "cancel", among={"active", "cancelled"}
            ),
            "cascade-edge",
            r"no 'cancel' transition from \['cancelled'\]",
        ),
        (Cascade("account", "cancelled", "subscription", "archive"), "cascade-trigger", "archive"),
        (Cascade("account", "closed", "subscription", "cancel"), "cascade-status", "closed"),
        (Cascade("account", "cancelled", "planet", "cancel"), "cascade-level", "level"),
        (
            Cascade(
                "account", "cancelled", "subscription", "cancel", strict=True, exempt=paid_ahead
            ),
            "cascade-strict",
            "spares nobody",
        ),
        (
            Cascade("subscription", "cancelled", "site", "deactivate", strict=True),
            "cascade-strict",
            "down the tree",
        ),
        (HoldCascade("site", "account"), "cascade-level", "not below"),
        (HoldCascade("account", "site", types={"nonesuch"}), "cascade-hold", "nonesuch"),
    ],
)
def test_broken_cascades_are_refused_when_built(cascade: Any, rule: str, match: str) -> None:
    """A cascade naming a trigger, status, level or transition a workflow lacks is refused
    when the scopes are built: a cascade never moves a child through an edge its own
    workflow does not have."""
    with pytest.raises(DefinitionError, match=match) as err:
        Scopes(LEVELS, cascades=[cascade])
    assert rule in err.value.rules


def test_a_strict_cascade_must_leave_nothing_behind() -> None:
    """A strict cascade whose transition lands in a status it forbids is refused."""
    sub = SUBSCRIPTION.extend(
        statuses=[_s(5, "winding_down", "active", provisioned=True)],
        transitions=[
            Transition("wind_down", "active", "winding_down"),
            Transition("wind_down", "winding_down", "cancelled"),
        ],
    )
    levels = (LEVELS[0], LEVELS[1], Scope("subscription", sub, parent="site"))
    with pytest.raises(DefinitionError, match=r"leaves children in \['winding_down'\]") as err:
        Scopes(
            levels,
            cascades=[Cascade("account", "cancelled", "subscription", "wind_down", strict=True)],
        )
    assert err.value.rules == {"cascade-strict"}


def test_a_cascade_gives_the_reason_code_the_child_transition_needs() -> None:
    """A child's transition declaring reason codes needs the cascade to give one of them
    (checked when built); given, the cascaded change records it."""
    sub = SUBSCRIPTION.extend(
        remove=[("cancel", "active"), ("cancel", "suspended")],
        transitions=Transition.many(
            "cancel", ["active", "suspended"], "cancelled", reasons={"account_closed"}
        ),
    )
    levels = (LEVELS[0], LEVELS[1], Scope("subscription", sub, parent="site"))
    with pytest.raises(DefinitionError, match="needs a reason code") as err:
        Scopes(levels, cascades=[Cascade("account", "cancelled", "subscription", "cancel")])
    assert err.value.rules == {"cascade-reason"}
    scopes = Scopes(
        levels,
        cascades=[
            Cascade("account", "cancelled", "subscription", "cancel", reason="account_closed")
        ],
    )
    changes = scopes.fire(customer(scopes), "A-1", "cancel", at=T0 + DAY)
    assert {s.change.reason for s in changes.steps[1:]} == {"account_closed"}


def test_a_cycle_of_cascades_is_refused_when_built() -> None:
    """Account cancelled cancels the sites; the last site cancelled would cancel the
    account: a circle, refused when built."""
    with pytest.raises(DefinitionError, match="circle: account cancelled -> site cancelled") as err:
        Scopes(
            LEVELS,
            cascades=[
                Cascade("account", "cancelled", "site", "cancel"),
                Cascade("site", "cancelled", "account", "cancel"),
            ],
        )
    assert err.value.rules == {"cascade-cycle"}


def test_levels_must_form_one_tree() -> None:
    """Two top levels, an unknown parent or a repeated name are refused together."""
    with pytest.raises(DefinitionError) as err:
        Scopes(
            [
                Scope("account", ACCOUNT),
                Scope("site", SITE),
                Scope("site", SITE, parent="account"),
                Scope("subscription", SUBSCRIPTION, parent="bundle"),
            ]
        )
    assert err.value.rules == {"scope-top", "scope-duplicate", "scope-parent"}


def test_entity_builder_checks_levels() -> None:
    """``Scopes.entity`` refuses a child of a level that is not directly below."""
    with pytest.raises(InvalidArgument, match="below 'account'"):
        SCOPES.entity(
            "account",
            ACCOUNT.open("A-1", "active", at=T0),
            SCOPES.entity("subscription", SUBSCRIPTION.open("X", "active", at=T0)),
        )
    with pytest.raises(IllegalTransition):
        SCOPES.fire(customer(), "SUB-1", "resume", at=T0)


# -- properties ------------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["A-1", "S-1", "S-2", "SUB-1", "SUB-2", "SUB-3"]),
        st.integers(0, 99),
        st.sampled_from([None, (), ("SUB-1",)]),
        st.booleans(),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_cascades_leave_no_child_in_a_status_its_parent_forbids(ops: list[Any]) -> None:
    """For random changes anywhere in the tree, no child ever stands in a status its
    parent's status forbids, and every refused change set changes nothing."""
    tree = customer()
    at = T0
    for entity_id, pick, spare, system in ops:
        at += DAY
        wf = SCOPES.workflow(tree.find(entity_id).scope)
        trigger = sorted(wf.triggers)[pick % len(wf.triggers)]
        before = snapshot(tree)
        try:
            SCOPES.fire(
                tree, entity_id, trigger, at=at, spare=spare, actor=SYSTEM if system else None
            )
        except AcctStateError:
            assert snapshot(tree) == before
        assert SCOPES.conflicts(tree) == []


TestScopedMachine = scoped_state_machine(SCOPES, customer).TestCase
TestScopedMachine.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)


def _skip_last_commit(real: Any) -> Any:
    """carry_out that runs the effects but commits every step but the last of a cascade."""

    def broken(scopes: Scopes, tree: Entity, changes: ChangeSet, hooks: Any) -> None:
        if len(changes) > 1:
            changes = ChangeSet(changes.steps[:-1], changes.spared)
        real(scopes, tree, changes, hooks)

    return broken


def _half_then_raise(real: Any) -> Any:
    """carry_out that commits the first change of a cascade, then reports a refusal."""

    def broken(scopes: Scopes, tree: Entity, changes: ChangeSet, hooks: Any) -> None:
        if len(changes) > 1:
            real(scopes, tree, ChangeSet(changes.steps[:1]), hooks)
            raise ScopeConflict(changes.steps[0].entity_id, ["injected after one commit"])
        real(scopes, tree, changes, hooks)

    return broken


def _lose_cause(real: Any) -> Any:
    """_caused that records a cascaded change without its cause, nor the note saying it."""
    return lambda change, cause: attrs.evolve(change, note=None)


@pytest.mark.parametrize(
    ("target", "breaking", "rule"),
    [
        ("_scopes.carry_out", _skip_last_commit, "committed"),
        ("_scopes.carry_out", _half_then_raise, "refusal-changes-nothing"),
        ("_plan._caused", _lose_cause, "cascade-cause"),
    ],
)
def test_the_scoped_kit_catches_broken_scopes(
    monkeypatch: pytest.MonkeyPatch, target: str, breaking: Any, rule: str
) -> None:
    """The scoped stateful kit fails, naming the rule, when Scopes are broken: a cascaded
    change left uncommitted, a refusal after part of a change set was committed, or a
    cascaded change recorded without its cause."""
    import importlib

    module_name, attr = target.split(".")
    module = importlib.import_module(f"acctstate.operations.scopes.{module_name}")
    monkeypatch.setattr(module, attr, breaking(getattr(module, attr)))
    machine = scoped_state_machine(SCOPES, customer)
    quiet = settings(
        max_examples=100,
        stateful_step_count=15,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    with pytest.raises(ScopeInvariantError, match=rf"^\[{rule}\]"):
        run_state_machine_as_test(machine, settings=quiet)


def test_the_kit_refuses_what_is_not_scopes() -> None:
    """The scoped machine refuses arguments that are not scopes and a tree factory."""
    with pytest.raises(InvalidArgument, match="Scopes"):
        scoped_state_machine(ACCOUNT, customer)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="tree"):
        scoped_state_machine(SCOPES, customer())  # type: ignore[arg-type]
    assert isinstance(customer().account, Account)


def test_the_scopes_page_draws_the_diagram_it_prints() -> None:
    """The Mermaid diagram on the scopes page is the one ``to_mermaid`` prints there."""
    import pathlib
    import re

    page = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "scopes.md").read_text()
    drawn = re.findall(r"```mermaid\n(.*?)\n```", page, re.S)
    assert len(drawn) == 1
    assert f">>> print(scopes.to_mermaid(tree, changes))\n{drawn[0]}\n" in page


def test_to_mermaid_marks_changed_and_spared_entities() -> None:
    """The tree diagram shows every entity's status; a change set marks the changed ones
    with ``before -> after`` and the spared ones."""
    tree = customer()
    plain = SCOPES.to_mermaid(tree)
    assert 'n_SUB_2["subscription SUB-2<br/>active"]' in plain and "classDef" not in plain
    changes = SCOPES.plan(tree, "A-1", "escalate_dunning", at=T0 + DAY)
    drawn = SCOPES.to_mermaid(tree, changes)
    assert "class n_A_1,n_SUB_2,n_SUB_3 changed" in drawn
    assert "class n_SUB_1 spared" in drawn


# -- scopes in files ---------------------------------------------------------------------------

SCOPES_FILE = """
[[scopes]]
name = "account"
workflow = "account"

[[scopes]]
name = "site"
parent = "account"
workflow = "site"

[[scopes]]
name = "subscription"
parent = "site"
workflow = "subscription"

[[cascades]]
scope = "account"
entering = ["cancelled"]
target = "subscription"
fire = "cancel"
strict = true

[[cascades]]
scope = "account"
entering = "dunning"
target = "subscription"
fire = "suspend"
exempt = { name = "paid_ahead", attr = "period_end" }

[[hold_cascades]]
scope = "account"
target = "subscription"
types = ["dunning"]
exempt = "paid_ahead"
"""
WORKFLOWS = {"account": ACCOUNT, "site": SITE, "subscription": SUBSCRIPTION}


def test_scopes_load_from_a_file() -> None:
    """A scopes file declares the levels and rules; loaded, they behave as declared in
    Python (the paid annual subscription is spared by the named exemption)."""
    from acctstate.config import load_scopes

    scopes = load_scopes(SCOPES_FILE, workflows=WORKFLOWS)
    assert scopes.names == ("account", "site", "subscription")
    assert [c.label for c in scopes.cascades] == [
        "account cancelled -> subscription cancel",
        "account dunning -> subscription suspend",
    ]
    tree = customer(scopes)
    changes = scopes.fire(tree, "A-1", "escalate_dunning", at=T0 + DAY)
    assert [s.entity_id for s in changes] == ["A-1", "SUB-2", "SUB-3"]
    assert changes.spared == (("SUB-1", "account dunning -> subscription suspend"),)


def test_scope_files_name_workflow_files_beside_them(tmp_path: Any) -> None:
    """A level's workflow may be a workflow file beside the scopes file; such a file may
    name the ``no_active_service`` guard."""
    from acctstate.config import dump_workflow, load_scopes

    text = dump_workflow(SUBSCRIPTION.with_holds(()), format="toml")
    (tmp_path / "sub.toml").write_text(text)
    (tmp_path / "acct.toml").write_text(
        """
name = "acct"
initial = ["active"]
[[statuses]]
code = 1
name = "active"
backend = "active"
[[statuses]]
code = -5
name = "collections"
backend = "suspended"
terminal = true
[[transitions]]
trigger = "send_to_collections"
source = "active"
dest = "collections"
guards = [{ name = "no_active_service" }]
"""
    )
    (tmp_path / "scopes.toml").write_text(
        '[[scopes]]\nname = "account"\nworkflow = "acct.toml"\n'
        '[[scopes]]\nname = "subscription"\nparent = "account"\nworkflow = "sub.toml"\n'
    )
    scopes = load_scopes(tmp_path / "scopes.toml")
    acct = scopes.workflow("account").open("A-1", "active", at=T0)
    sub = scopes.workflow("subscription").open("S-1", "active", at=T0)
    tree = scopes.entity("account", acct, scopes.entity("subscription", sub))
    with pytest.raises(GuardRefused, match="subscription 'S-1' has active service"):
        scopes.fire(tree, "A-1", "send_to_collections", at=T0 + DAY)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "[[scopes]]\nname = 'account'\nworkflow = 'nowhere'\n",
            r"scopes\[0\]\.workflow: unknown workflow 'nowhere'",
        ),
        (
            "[[scopes]]\nname = 'account'\nworkflow = 'account'\ncolour = 1\n",
            r"scopes\[0\]\.colour: unknown key",
        ),
        (
            SCOPES_FILE.replace('exempt = "paid_ahead"', 'exempt = "lucky"'),
            r"hold_cascades\[0\]\.exempt: unknown exemption 'lucky'",
        ),
        (SCOPES_FILE.replace('fire = "suspend"', 'fire = "explode"'), "cascade-trigger"),
        ("scopes = 3", r"at scopes: expected an array of tables"),
    ],
)
def test_broken_scope_files_are_refused(text: str, match: str) -> None:
    """Every problem of a scopes file is a ConfigError naming the key path."""
    from acctstate.config import load_scopes
    from acctstate.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        load_scopes(text, workflows=WORKFLOWS)


def test_a_tree_standing_in_conflict_still_accepts_its_repair() -> None:
    """A tree loaded in a state its rules forbid (an open site under a cancelled account)
    is not frozen: a change that repairs it, or leaves the conflict as it was, goes
    through; a change adding a conflict does not."""
    e = SCOPES.entity
    tree = e(
        "account",
        ACCOUNT.open("A-9", "cancelled", at=T0, imported=True),
        e(
            "site",
            SITE.open("S-9", "active", at=T0),
            e("subscription", SUBSCRIPTION.open("U-9", "cancelled", at=T0, imported=True)),
        ),
        e("site", SITE.open("S-8", "cancelled", at=T0, imported=True)),
    )
    assert len(SCOPES.conflicts(tree)) == 1
    with pytest.raises(ScopeConflict, match="site 'S-8'"):
        SCOPES.fire(tree, "S-8", "reopen", at=T0 + DAY)
    SCOPES.fire(tree, "S-9", "deactivate", at=T0 + DAY)  # still forbidden, not new
    SCOPES.fire(tree, "S-9", "cancel", at=T0 + 2 * DAY)
    assert SCOPES.conflicts(tree) == []


def test_at_defaults_to_the_top_levels_clock() -> None:
    """Without ``at``, every change of the set takes the top level's clock's now."""
    from acctstate.clock import FixedClock

    now = T0 + 3 * DAY
    levels = (Scope("account", ACCOUNT.with_clock(FixedClock(now))), *LEVELS[1:])
    scopes = Scopes(levels, cascades=[Cascade("account", "cancelled", "subscription", "cancel")])
    changes = scopes.fire(customer(scopes), "A-1", "cancel")
    assert {s.change.at for s in changes} == {now}


def test_hooks_lacking_a_method_are_refused_before_any_effect_runs() -> None:
    """A hook object lacking the method a cascaded change needs is refused before the
    first effect of the set runs: nothing ran, nothing changed."""

    class BillingOnly:
        def __init__(self) -> None:
            self.ran: list[str] = []

        def stop_billing(self, effect: Any, change: Any) -> None:
            self.ran.append(effect.key)

        stop_usage_billing = stop_billing

    billing = BillingOnly()
    hooks = Hooks(billing=billing, provisioning=object())  # type: ignore[arg-type]
    tree = customer()
    before = snapshot(tree)
    with pytest.raises(InvalidArgument, match="deprovision"):
        SCOPES.fire(tree, "A-1", "cancel", at=T0 + DAY, hooks=hooks)
    assert billing.ran == [] and snapshot(tree) == before


def test_a_hold_cascade_may_carry_every_hold_on_service() -> None:
    """``HoldCascade(blocks={"service"})`` carries every hold type blocking service that
    both levels declare ("an account hold on service blocks every subscription's
    service"), and no other."""
    scopes = Scopes(LEVELS, cascades=[HoldCascade("account", "subscription", blocks="service")])
    (rule,) = scopes.hold_cascades
    assert rule.types == {"credit", "dunning", "fraud", "vacation", "blocking_state"}
    tree = customer(scopes)
    assert len(scopes.place_hold(tree, "A-1", "vacation", at=T0 + DAY)) == 4
    assert len(scopes.place_hold(tree, "A-1", "manual", at=T0 + DAY)) == 1  # billing only
    with pytest.raises(InvalidArgument, match="capabilities"):
        HoldCascade("account", "subscription", blocks="invoices")


def test_releasing_a_hold_down_the_tree_checks_every_copy() -> None:
    """Releasing a hold is checked on every copy as on the entity asked for (release
    guards read the event data given to ``Scopes.release_hold``): one copy refusing
    refuses the whole set, and nothing changes."""
    from acctstate.guards import GuardContext, Refusal

    def settled(ctx: GuardContext) -> Refusal | None:
        if ctx.account.id == "SUB-2" and not ctx.data.get("settled"):
            return Refusal("settled", "SUB-2 still owes")
        return None

    review = HoldType("review", kind="manual", blocks="service", release_guards=[settled])
    levels = [Scope(s.name, s.workflow.with_holds([*HOLDS, review]), s.parent) for s in LEVELS]
    scopes = Scopes(levels, cascades=[HoldCascade("account", "subscription", types="review")])
    tree = customer(scopes)
    scopes.place_hold(tree, "A-1", "review", at=T0 + DAY)
    before = snapshot(tree)
    with pytest.raises(ScopeConflict, match="SUB-2 still owes") as info:
        scopes.release_hold(tree, "A-1", "H1", at=T0 + 2 * DAY)
    assert isinstance(info.value.cause, GuardRefused)
    assert snapshot(tree) == before
    released = scopes.release_hold(tree, "A-1", "H1", at=T0 + 2 * DAY, settled=True)
    assert [s.entity_id for s in released] == ["A-1", "SUB-1", "SUB-2", "SUB-3"]
    assert not any(e.account.holds for e in tree.walk())
