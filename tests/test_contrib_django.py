"""The Django app: the store contract over the ORM, locking and compare-and-set, the
admin integration, and the example project.

The store runs the very contract tests of ``test_store_sql.py`` (every test there that
takes the ``store`` fixture), on SQLite and, when ``ACCTSTATE_PG_URL`` is set, on
PostgreSQL, with the example project's ``Customer`` model. Django is configured by
``tests/_django.py`` for the modules that ask for it (pytest-django stays inert
otherwise).
"""

from __future__ import annotations

import inspect
import io
import os
import pathlib
import subprocess
import sys
import threading
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("django")
pytest.importorskip("pytest_django")

import _django
import test_store_delivery as delivery
import test_store_limits as limits
import test_store_sql as contract
from test_store_sql import T0, WF, active, needs_pg

EXAMPLE = _django.EXAMPLE
SEC = contract.SEC
DAY = contract.DAY


_django.configure()

from billing.models import Customer  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Permission, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.test import Client  # noqa: E402

import acctstate  # noqa: E402
from acctstate.contrib.django import models as dj_models  # noqa: E402
from acctstate.contrib.django.admin import FIRE_PERMISSION  # noqa: E402
from acctstate.contrib.django.store import DjangoStore  # noqa: E402
from acctstate.errors import ConcurrentChange, InvalidArgument  # noqa: E402
from acctstate.guards import guard  # noqa: E402
from acctstate.presets import isp  # noqa: E402
from acctstate.store import Store  # noqa: E402

# Each test runs in a transaction rolled back afterwards (the store's atomic blocks are
# savepoints in it, as inside a host's own transaction); a test that needs commits seen
# by other connections asks for real transactions.
pytestmark = pytest.mark.django_db(databases="__all__")

ALIASES = ["default", pytest.param("postgres", marks=needs_pg)]


@pytest.fixture(params=ALIASES, ids=["django-sqlite", "django-postgres"])
def store(request: pytest.FixtureRequest) -> DjangoStore:
    """A store over the example's ``Customer`` model, on each database in turn."""
    return DjangoStore(WF, Customer, using=request.param)


@pytest.fixture(params=ALIASES, ids=["django-sqlite", "django-postgres"])
def store_clock(request: pytest.FixtureRequest) -> tuple[DjangoStore, acctstate.FixedClock]:
    """A store on the ISP workflow with a clock the test moves, on each database."""
    clock = acctstate.FixedClock(T0 + DAY)
    return DjangoStore(isp.workflow().with_clock(clock), Customer, using=request.param), clock


# -- the store contract, as every store runs it ----------------------------------------

CONTRACT = {
    name: test
    for module in (contract, limits, delivery)
    for name, test in vars(module).items()
    if name.startswith("test_")
    and {"store", "store_clock"} & set(inspect.signature(test).parameters)
}
globals().update(CONTRACT)


def test_the_contract_is_shared_not_copied() -> None:
    """This module runs the store contract of test_store_sql.py, the storage limits of
    test_store_limits.py and the delivery contract of test_store_delivery.py (back-off,
    dead letters, pruning) themselves, not copies."""
    assert len(CONTRACT) >= 15
    assert all(globals()[name] is test for name, test in CONTRACT.items())


# -- what the Django store adds ---------------------------------------------------------


def test_the_store_refuses_what_it_cannot_work_with() -> None:
    """A model without the mixin, an unknown database alias, or naive settings are refused."""
    with pytest.raises(InvalidArgument, match="AccountStatusMixin"):
        DjangoStore(WF, User)
    with pytest.raises(InvalidArgument, match=r"a database alias of settings\.DATABASES"):
        DjangoStore(WF, Customer, using="nowhere")
    with (
        pytest.raises(InvalidArgument, match=r"settings\.USE_TZ"),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(settings, "USE_TZ", False)
        DjangoStore(WF, Customer)
    store = DjangoStore(WF, Customer)
    assert isinstance(store, Store)
    assert repr(store) == "<DjangoStore 'isp' on billing.customer (default)>"


def test_open_uses_the_hosts_fields_and_guards_read_them(store: DjangoStore) -> None:
    """`defaults` fill the host's own fields; guards read them from the row when no event
    data is given; the status fields are what the store says."""
    store.open(
        "C-1", "active_dunning_1", at=T0, imported=True, defaults={"balance": Decimal("9.50")}
    )
    row = Customer.objects.using(store.using).get(pk="C-1")
    assert (row.status, row.status_version, row.balance) == (
        WF.catalog["active_dunning_1"].code,
        0,
        Decimal("9.50"),
    )
    why = WF.explain(store.facts("C-1"), "settle", at=T0 + DAY)
    assert str(why) == "'settle' is refused: nothing_past_due: balance 9.50 is still owed"
    before = contract.snapshot(store, "C-1")
    with pytest.raises(acctstate.GuardRefused, match=r"balance 9\.50 is still owed"):
        store.fire("C-1", "settle", at=T0 + DAY)
    assert contract.snapshot(store, "C-1") == before
    Customer.objects.using(store.using).filter(pk="C-1").update(balance=Decimal("0"))
    assert store.fire("C-1", "settle", at=T0 + DAY).dest.name == "active"


def test_open_instance_saves_a_row_built_with_the_hosts_fields(store: DjangoStore) -> None:
    """An unsaved row is saved in its opening status with its history; a saved row, a row
    of another model, or a taken id are refused."""
    got = store.open_instance(Customer(pk="C-7", name="Ada"), "prospect", at=T0, note="desk")
    assert (got.id, got.version) == ("C-7", 0)
    (opening,) = store.history("C-7")
    assert (opening.trigger, opening.note, opening.account_id) == ("open", "desk", "C-7")
    with pytest.raises(InvalidArgument, match="an id not yet in the store"):
        store.open_instance(Customer(pk="C-7"), "prospect", at=T0)
    saved = Customer.objects.using(store.using).get(pk="C-7")
    with pytest.raises(InvalidArgument, match="an unsaved Customer"):
        store.open_instance(saved, "prospect", at=T0)
    with pytest.raises(InvalidArgument, match="or imported=True"):
        store.open_instance(Customer(pk="C-8"), "active", at=T0)
    with pytest.raises(InvalidArgument, match="values for fields of Customer"):
        store.open("C-8", "prospect", at=T0, defaults={"nickname": "Bo"})
    assert not Customer.objects.using(store.using).filter(pk="C-8").exists()


def test_a_write_behind_the_stores_back_loses_the_compare_and_set(store: DjangoStore) -> None:
    """A version bumped between the read and the write (by code that bypassed the store)
    makes the change fail with `ConcurrentChange`, and the whole change rolls back."""
    holder: list[int] = []

    def sneaky(ctx: acctstate.GuardContext) -> str | None:
        if not holder:
            holder.append(1)
            Customer.objects.using(store.using).filter(pk="A-1").update(status_version=5)
        return None

    wf = WF.extend(
        remove=[("deactivate", "active")],
        transitions=[
            acctstate.Transition(
                "deactivate", "active", "inactive", guards=[guard("sneaky", sneaky)]
            )
        ],
    )
    racing = DjangoStore(wf, Customer, using=store.using)
    active(racing, "A-1")
    with pytest.raises(ConcurrentChange, match="expected version 0, found 5"):
        racing.fire("A-1", "deactivate", at=T0 + SEC)
    # The guard's own write was in the same transaction: it rolled back too.
    assert racing.load("A-1").version == 0
    assert [c.trigger for c in racing.history("A-1")] == ["open"] and racing.pending() == ()


def test_a_change_joins_the_callers_transaction(store: DjangoStore) -> None:
    """Inside the host's `transaction.atomic`, a change commits or rolls back with the
    host's own writes."""
    active(store, "A-1")

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic(using=store.using):
        store.fire("A-1", "deactivate", at=T0 + SEC)
        Customer.objects.using(store.using).filter(pk="A-1").update(name="changed")
        assert store.load("A-1").version == 1
        raise Rollback
    assert store.load("A-1").version == 0 and store.pending() == ()
    assert Customer.objects.using(store.using).get(pk="A-1").name == ""


@needs_pg
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_select_for_update_makes_a_second_writer_wait_and_see_the_first() -> None:
    """On PostgreSQL, a writer that reads the row while another holds it waits for that
    one to commit and then plans against the new state: no lost update and no
    `ConcurrentChange`, only the workflow's answer for the new status."""
    in_guard = threading.Event()
    go_on = threading.Event()

    def slow(ctx: acctstate.GuardContext) -> str | None:
        in_guard.set()
        assert go_on.wait(30)
        return None

    wf = WF.extend(
        remove=[("deactivate", "active")],
        transitions=[
            acctstate.Transition("deactivate", "active", "inactive", guards=[guard("slow", slow)])
        ],
    )
    store = DjangoStore(wf, Customer, using="postgres")
    active(store, "A-1")
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            outcome["first"] = store.fire("A-1", "deactivate", at=T0 + SEC).dest.name
        finally:
            connections.close_all()

    def second() -> None:
        try:
            outcome["second"] = store.fire("A-1", "ban", at=T0 + 2 * SEC).dest.name
        except acctstate.AcctStateError as exc:
            outcome["second"] = type(exc).__name__
        finally:
            connections.close_all()

    one = threading.Thread(target=first)
    one.start()
    assert in_guard.wait(30)
    two = threading.Thread(target=second)
    two.start()  # blocks on the row lock held by the first writer
    go_on.set()
    one.join(60)
    two.join(60)
    # The second writer saw 'inactive', from which there is no 'ban'.
    assert outcome == {"first": "inactive", "second": "IllegalTransition"}
    assert [c.trigger for c in store.history("A-1")] == ["open", "deactivate"]


def _race(table: str, call: Any) -> list[tuple[str, Any]]:
    """Run ``call`` in two threads, each held right after its first ``SELECT`` from
    ``table`` until both have read: both writers read before either writes."""
    barrier = threading.Barrier(2, timeout=30)
    out: list[tuple[str, Any]] = []

    def run() -> None:
        held = [False]

        def after_read(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            result = execute(sql, params, many, context)
            if not held[0] and sql.lstrip().upper().startswith("SELECT") and table in sql:
                held[0] = True
                barrier.wait()
            return result

        try:
            with connections["postgres"].execute_wrapper(after_read):
                out.append(("ok", call()))
        except Exception as exc:
            out.append(("error", exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


@needs_pg
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_two_threads_opening_the_same_id_one_is_told_it_is_taken() -> None:
    """Both threads find the id free, then both insert: one opens the account, the other
    gets the documented ``InvalidArgument``, not a raw ``IntegrityError``."""
    store = DjangoStore(WF, Customer, using="postgres")
    results = _race("billing_customer", lambda: store.open("R-1", "prospect", at=T0))
    assert sorted(k for k, _ in results) == ["error", "ok"], results
    error = next(v for k, v in results if k == "error")
    assert isinstance(error, InvalidArgument) and "not yet in the store" in str(error)
    assert len(store.history("R-1")) == 1


@needs_pg
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_two_threads_scheduling_the_same_change_get_the_one_record() -> None:
    """Both threads find the change not yet scheduled, then both insert: scheduling
    twice is a no-op, so both get the same record and one row is stored."""
    store = DjangoStore(WF, Customer, using="postgres")
    active(store, "R-2")
    results = _race(
        "acctstate_scheduledentry",
        lambda: store.schedule("R-2", "deactivate", at=T0 + DAY, note="holiday"),
    )
    assert [k for k, _ in results] == ["ok", "ok"], results
    assert results[0][1] == results[1][1]
    assert len(store.scheduled(account_id="R-2")) == 1


# -- the admin --------------------------------------------------------------------------


def _staff(name: str, *, fire: bool) -> User:
    user = User.objects.create_user(name, is_staff=True)
    perms = [Permission.objects.get(codename="view_customer")]
    if fire:
        perms.append(
            Permission.objects.get(codename="fire_trigger", content_type__app_label="acctstate")
        )
    user.user_permissions.add(*perms)
    return User.objects.get(pk=user.pk)  # fresh: permissions are cached per object


@pytest.fixture
def admin_store() -> DjangoStore:
    """The example admin's store, with one customer in dunning who owes money."""
    from billing.accounts import STORE

    now = STORE.workflow.clock.now()
    STORE.open(
        "C-1",
        "active_dunning_1",
        at=now - 10 * DAY,
        imported=True,
        defaults={"name": "Ada", "balance": Decimal("25.00")},
    )
    return STORE


def test_the_admin_page_shows_allowed_refused_and_history(admin_store: DjangoStore) -> None:
    """A staff user sees the status, the triggers allowed now, the refused ones with their
    reason, the history, and the fire form when they hold the permission."""
    browser = Client()
    browser.force_login(_staff("clerk", fire=True))
    page = browser.get("/admin/billing/customer/C-1/change/")
    assert page.status_code == 200
    panel = page.context["acctstate"]
    assert panel["status"].name == "active_dunning_1" and panel["version"] == 0
    assert [t for t, _ in panel["allowed"]] == [
        "cancel",
        "deescalate_dunning",
        "escalate_dunning",
        "suspend",
        "terminate",
    ]
    assert panel["refused"] == [
        ("settle", "'settle' is refused: nothing_past_due: balance 25.00 is still owed")
    ]
    assert [h["trigger"] for h in panel["history"]] == ["open"]
    html = page.content.decode()
    assert 'id="acctstate-fire"' in html and "balance 25.00 is still owed" in html
    assert "status_version" in html  # shown read-only, not as an input
    assert 'name="status"' not in html


def test_a_staff_user_with_the_permission_fires_with_a_reason(admin_store: DjangoStore) -> None:
    """Posting the form fires the trigger as the user, with the reason and note, against
    the version shown; the history records who and why."""
    browser = Client()
    browser.force_login(_staff("clerk", fire=True))
    form = {"trigger": "suspend", "reason": "fraud-check", "note": "called twice", "version": 0}
    done = browser.post("/admin/billing/customer/C-1/fire/", form, follow=True)
    assert done.status_code == 200
    assert [str(m) for m in done.context["messages"]] == ["suspend: active_dunning_1 -> suspended"]
    last = admin_store.history("C-1")[-1]
    assert (last.trigger, last.reason, last.note) == ("suspend", "fraud-check", "called twice")
    assert (
        last.actor is not None
        and last.actor.id == "clerk"
        and FIRE_PERMISSION.split(".")[1] in last.actor.permissions
    )
    assert admin_store.load("C-1").version == 1


def test_the_admin_refuses_without_changing_anything(admin_store: DjangoStore) -> None:
    """Without the permission the fire view answers 403; a stale version, a trigger not
    allowed now, or a missing reason are refused with a message; nothing changes."""
    before = contract.snapshot(admin_store, "C-1")
    browser = Client()
    browser.force_login(_staff("intern", fire=False))
    page = browser.get("/admin/billing/customer/C-1/change/")
    assert page.context["acctstate"]["can_fire"] is False
    assert 'id="acctstate-fire"' not in page.content.decode()
    form = {"trigger": "suspend", "reason": "x", "version": 0}
    assert browser.post("/admin/billing/customer/C-1/fire/", form).status_code == 403
    browser.force_login(_staff("clerk", fire=True))
    cases = [
        ({**form, "version": 3}, "changed concurrently (expected version 3, found 0)"),
        ({**form, "trigger": "settle"}, "trigger: Select a valid choice"),
        ({**form, "reason": ""}, "reason: This field is required"),
    ]
    for data, message in cases:
        done = browser.post("/admin/billing/customer/C-1/fire/", data, follow=True)
        (said,) = [str(m) for m in done.context["messages"]]
        assert said.startswith("nothing fired: ") and message in said
    assert browser.get("/admin/billing/customer/C-1/fire/").status_code == 404
    assert contract.snapshot(admin_store, "C-1") == before


def test_an_account_added_in_the_admin_is_opened_through_the_store() -> None:
    """The admin's add page opens the account in the workflow's first initial status, with
    its opening entry (the status fields are not in the form)."""
    from billing.accounts import STORE

    browser = Client()
    browser.force_login(User.objects.create_superuser("root"))
    added = browser.post(
        "/admin/billing/customer/add/",
        {"id": "C-9", "name": "Bo", "balance": "0", "payment_method": ""},
    )
    assert added.status_code == 302, added.content.decode()[-2000:]
    assert STORE.load("C-9").status == STORE.workflow.initial[0].code
    (opening,) = STORE.history("C-9")
    assert (opening.trigger, opening.actor and opening.actor.id) == ("open", "root")


def test_the_store_tables_have_read_only_admin_pages(admin_store: DjangoStore) -> None:
    """History, outbox, scheduled changes and holds are listed in the admin and cannot be
    edited."""
    admin_store.fire("C-1", "suspend", at=admin_store.workflow.clock.now())
    browser = Client()
    browser.force_login(User.objects.create_superuser("root"))
    for name in ("statushistory", "outboxentry", "scheduledentry", "hold"):
        assert browser.get(f"/admin/acctstate/{name}/").status_code == 200
        assert browser.get(f"/admin/acctstate/{name}/add/").status_code == 403
    assert dj_models.StatusHistory.objects.count() == 2


# -- the example project ---------------------------------------------------------------


def test_the_example_project_runs(tmp_path: pathlib.Path) -> None:
    """`python manage.py demo` in examples/django_app migrates a fresh SQLite database and
    walks accounts through the store and the admin."""
    env = {**os.environ, "ACCTSTATE_OUT": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "'settle' is refused: nothing_past_due: balance 40.00 is still owed" in out
    assert "fired: active_dunning_1 -> suspended by clerk (fraud-check)" in out
    assert "was changed concurrently (expected version 0, found 1)" in out
    assert "without the permission: HTTP 403" in out
    assert "Billing on account 'C-100' is blocked for 2 reasons" in out
    assert "dispute resolved: effects []" in out
    assert "nightly run: {'hold_expiry': 1}, release_hold (expired)" in out
    assert "effects: ['provision', 'start_billing', 'start_usage_billing'], holds: ()" in out


def test_the_migrations_match_the_models() -> None:
    """The app's (and the example's) migrations describe the models as they are."""
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_the_app_loads_once_under_its_public_path() -> None:
    """Listed as ``acctstate.contrib.django``, the app's modules are the very modules of
    the layer (models are registered once), and its label is ``acctstate``."""
    from django.apps import apps

    import acctstate.contrib.django.models as public

    config = apps.get_app_config("acctstate")
    assert config.models_module is public is dj_models
    assert public.StatusHistory is apps.get_model("acctstate", "StatusHistory")
