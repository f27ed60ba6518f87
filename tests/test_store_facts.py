"""Facts from the host's tables, and one answer per question whatever the path.

A store reads what the rules need (balance, payment method, time zone, currency, period
price) from the host's own facts -- a table the host owns for ``SqlStore``, a mapping or
callable for ``MemoryStore`` -- and plans against the account's real history, so plain
``Workflow.fire`` on an ``Account``, ``MemoryStore`` and ``SqlStore`` (SQLite and
PostgreSQL) give the same changes, effects and refusals (issue 13, section 2: "the store
plans like plain fire").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import acctstate
from acctstate.automation import AutomationPolicy, reference_ladder
from acctstate.errors import AcctStateError, MissingFact
from acctstate.guards import guard
from acctstate.presets import isp
from acctstate.store.memory import MemoryStore
from acctstate.store.sql import SqlStore, UtcDateTime, create_engine
from test_store_sql import needs_pg, pg_engine

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
WF = isp.workflow().with_clock(acctstate.FixedClock(T0 + 3650 * DAY))

host = sa.MetaData()
customers = sa.Table(
    "customers",
    host,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("payment_method", sa.String(20)),
    sa.Column("balance", sa.Numeric(12, 2), nullable=False),
    sa.Column("timezone", sa.String(50)),
    sa.Column("currency", sa.String(3)),
    sa.Column("period_price", sa.Numeric(12, 2)),
)
FACTS = ("payment_method", "balance", "timezone", "currency", "period_price")


@contextlib.contextmanager
def sql_store(kind: str) -> Iterator[SqlStore]:
    """An SQL store of ``kind`` whose facts are the host's ``customers`` table."""
    if kind == "sqlite":
        engine = create_engine("sqlite://")
        store = SqlStore(WF, engine, facts=customers)
        store.create_schema()
        host.create_all(engine)
        yield store
        engine.dispose()
    else:
        with pg_engine() as engine:
            store = SqlStore(WF, engine, facts=customers)
            store.create_schema()
            host.create_all(engine)
            yield store


def add_customer(store: SqlStore, account_id: str, facts: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        conn.execute(customers.insert(), {"id": account_id, **facts})


# -- examples -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_sql_store_reads_the_hosts_table(kind: str) -> None:
    """Guards and effect rules read the host's columns; event data overrides a column."""
    with sql_store(kind) as store:
        store.open("A-1", "suspended_dunning_1", at=T0, imported=True)
        add_customer(
            store,
            "A-1",
            {
                "payment_method": "card",
                "balance": Decimal("0"),
                "timezone": "Europe/Berlin",
                "currency": "EUR",
                "period_price": Decimal("30.00"),
            },
        )
        change = store.fire("A-1", "reinstate_back", at=T0 + 15 * DAY)
        assert change.dest.name == "reinstated_back_bill"
        (charge,) = [e for e in change.effects if e.kind == "charge"]
        assert (charge.amount, charge.currency) == (Decimal("15.00"), "EUR")
        refused = store.fire
        with pytest.raises(acctstate.GuardRefused, match="balance"):
            refused("A-1", "complete_reinstatement", at=T0 + 16 * DAY, balance=Decimal("5"))
        assert store.load("A-1").version == 1


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_missing_currency_is_refused_not_guessed(kind: str) -> None:
    """A price with no currency in the facts or the event data is a MissingFact naming
    the currency, and nothing changes; giving it as event data is enough."""
    facts = {"payment_method": "card", "balance": Decimal("0"), "timezone": "UTC"}
    facts["period_price"] = Decimal("30.00")
    store: Any
    with contextlib.ExitStack() as stack:
        if kind == "memory":
            store = MemoryStore(WF, facts={"A-1": facts})
        else:
            store = stack.enter_context(sql_store("sqlite"))
            add_customer(store, "A-1", {**facts, "currency": None})
        store.open("A-1", "canceled", at=T0, imported=True)
        with pytest.raises(MissingFact, match="currency") as caught:
            store.fire("A-1", "reinstate_forward", at=T0 + DAY)
        assert (caught.value.account_id, caught.value.fact) == ("A-1", "currency")
        assert store.load("A-1").version == 0
        assert len(store.history("A-1")) == 1
        change = store.fire("A-1", "reinstate_forward", at=T0 + DAY, currency="USD")
        assert [(e.amount, e.currency) for e in change.effects if e.kind == "charge"] == [
            (Decimal("30.00"), "USD")
        ]


def test_missing_time_zone_is_refused_not_guessed() -> None:
    """Back-billing counts calendar days in the account's time zone: without one, the
    store refuses with a MissingFact naming it."""
    facts = {"payment_method": "card", "currency": "USD", "period_price": Decimal("30.00")}
    store = MemoryStore(WF, facts=lambda account_id: facts)
    store.open("A-1", "suspended", at=T0, imported=True)
    with pytest.raises(MissingFact, match="timezone"):
        store.fire("A-1", "reinstate_back", at=T0 + 3 * DAY)
    assert store.load("A-1").version == 0
    change = store.fire("A-1", "reinstate_back", at=T0 + 3 * DAY, timezone="UTC")
    assert [e.amount for e in change.effects if e.kind == "charge"] == [Decimal("3.00")]


def test_bad_facts_are_refused() -> None:
    """Facts of the wrong kind are refused up front as InvalidArgument."""
    with pytest.raises(acctstate.InvalidArgument, match="facts"):
        MemoryStore(WF, facts=42)  # type: ignore[arg-type]
    with pytest.raises(acctstate.InvalidArgument, match="facts_key"):
        SqlStore(WF, create_engine("sqlite://"), facts=customers, facts_key="nope")
    store = MemoryStore(WF, facts=lambda account_id: 42)  # type: ignore[arg-type,return-value]
    store.open("A-1", "active", at=T0, imported=True)
    with pytest.raises(acctstate.InvalidArgument, match="mapping of facts"):
        store.fire("A-1", "suspend", at=T0 + DAY)


def test_back_bill_measures_from_when_billing_stopped() -> None:
    """Issue 13's reproduction: imported in suspended dunning 1, escalated 10 days later,
    reinstated back 20 days after that at 30.00 a period: plain fire and both stores
    charge the 30 days since billing stopped, 30.00."""
    facts = {
        "payment_method": "card",
        "balance": Decimal("0"),
        "timezone": "UTC",
        "currency": "USD",
        "period_price": Decimal("30.00"),
    }
    amounts = []
    plain = WF.open(
        "A-1",
        "suspended_dunning_1",
        at=T0,
        imported=True,
        payment_method="card",
        timezone="UTC",
        currency="USD",
    )
    WF.fire(plain, "escalate_dunning", at=T0 + 10 * DAY)
    change = WF.fire(plain, "reinstate_back", at=T0 + 30 * DAY, period_price=Decimal("30.00"))
    amounts.append(change.effects)
    for store in (MemoryStore(WF, facts={"A-1": facts}), None):
        with contextlib.ExitStack() as stack:
            if store is None:
                store = stack.enter_context(sql_store("sqlite"))
                add_customer(store, "A-1", facts)
            store.open("A-1", "suspended_dunning_1", at=T0, imported=True)
            store.fire("A-1", "escalate_dunning", at=T0 + 10 * DAY)
            amounts.append(store.fire("A-1", "reinstate_back", at=T0 + 30 * DAY).effects)
    charges = [[e.amount for e in effects if e.kind == "charge"] for effects in amounts]
    assert charges == [[Decimal("30.00")]] * 3
    assert amounts[0] == amounts[1] == amounts[2]


# -- the differential test ------------------------------------------------------------------

FAVOURED = [
    "escalate_dunning",
    "suspend",
    "reinstate_back",
    "reinstate_forward",
    "complete_reinstatement",
    "settle",
]
STARTS = [
    "active",
    "active_dunning_2",
    "suspended",
    "suspended_dunning_1",
    "suspended_dunning_3",
    "reinstated_back_bill",
    "canceled",
    "active_trial",
]
money = st.decimals(min_value=0, max_value=200, places=2, allow_nan=False)
facts_st = st.fixed_dictionaries(
    {
        "payment_method": st.sampled_from([None, "card", "card"]),
        "balance": st.sampled_from([Decimal("0"), Decimal("0.00")]) | money,
        "timezone": st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
        "currency": st.sampled_from(["USD", "EUR"]),
        "period_price": st.none() | money,
    }
)


def draw_step(draw: Any, status: acctstate.Status) -> tuple[int, int, str, Any]:
    """A step: days and hour later, a trigger (mostly one the graph allows here, dunning,
    suspension and reinstatement first), and maybe event data overriding a fact."""
    allowed = sorted({e.trigger for e in WF.edges_from(status)})
    liked = [t for t in allowed if t in FAVOURED] or allowed or sorted(WF.triggers)
    trigger = draw(
        st.one_of(
            *[st.sampled_from(liked)] * 3,
            st.sampled_from(allowed or liked),
            st.sampled_from(sorted(WF.triggers)),
        )
    )
    days = draw(st.integers(min_value=0, max_value=40))
    hour = draw(st.integers(min_value=0, max_value=23))
    data = draw(st.none() | st.fixed_dictionaries({"balance": money}))
    return days, hour, trigger, data


def outcome(fire: Any, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What a fire did: the change (instants in UTC) or the error's type and message."""
    try:
        change = fire(*args, **kwargs)
    except AcctStateError as exc:
        return ("refused", type(exc).__name__, str(exc))
    return (
        "changed",
        change.source.name,
        change.dest.name,
        change.trigger,
        change.at.astimezone(dt.UTC),
        change.effects,
    )


def trail(history: Any) -> list[tuple[Any, ...]]:
    return [
        (c.trigger, c.source.code, c.dest.code, c.at.astimezone(dt.UTC), c.effects) for c in history
    ]


def check_paths(
    stores: list[Any], start: str, facts: dict[str, Any], draw: Any, steps: int
) -> None:
    account_id = f"A-{uuid.uuid4().hex[:10]}"
    fields = {k: v for k, v in facts.items() if k != "period_price" and v is not None}
    plain = WF.open(account_id, start, at=T0, imported=True, **fields)
    for store, add in stores:
        add(account_id, facts)
        store.open(account_id, start, at=T0, imported=True)
    at = T0
    for _ in range(steps):
        days, hour, trigger, data = draw_step(draw, WF.status_of(plain))
        at = at.replace(hour=0) + days * DAY + hour * dt.timedelta(hours=1)
        extra = dict(data or {})
        plain_data = dict(extra)
        if facts["period_price"] is not None:
            plain_data["period_price"] = facts["period_price"]
        want = outcome(WF.fire, plain, trigger, at=at, **plain_data)
        for store, _ in stores:
            got = outcome(store.fire, account_id, trigger, at=at, **extra)
            assert got == want, (type(store).__name__, trigger, at)
    for store, _ in stores:
        assert trail(store.history(account_id)) == trail(plain.history)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_plain_fire_memory_store_and_sql_store_agree(kind: str) -> None:
    """On random sequences favouring dunning, suspension and reinstatement with prices,
    plain ``fire`` on an Account, ``MemoryStore`` and ``SqlStore`` make the same changes
    with the same effects (keys and amounts) and refuse the same moves."""
    with sql_store(kind) as sql:
        table: dict[str, Any] = {}
        stores = [
            (MemoryStore(WF, facts=table), table.__setitem__),
            (sql, lambda account_id, facts: add_customer(sql, account_id, facts)),
        ]

        @settings(
            max_examples=150 if kind == "sqlite" else 50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            start=st.sampled_from(STARTS) | st.sampled_from(STARTS[2:5]),
            facts=facts_st,
            data=st.data(),
            steps=st.integers(min_value=1, max_value=8),
        )
        def run(start: str, facts: dict[str, Any], data: st.DataObject, steps: int) -> None:
            check_paths(stores, start, facts, data.draw, steps)

        run()


# -- facts from a select() or a view, and a guard on a host-only column ---------------------

NIGHT = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def _over_credit_limit(ctx: Any) -> str | None:
    owed, limit = ctx.value("balance"), ctx.value("credit_limit")
    return None if owed > limit else f"balance {owed} is within the credit limit {limit}"


# Dunning starts only once a customer owes more than their own credit limit: a host
# column (``credit_limit``) no built-in rule knows about.
OVER_LIMIT = guard("over_credit_limit", _over_credit_limit)
CREDIT_WF = (
    isp.workflow()
    .with_clock(acctstate.FixedClock(NIGHT + DAY))
    .extend(
        remove=[("escalate_dunning", "active")],
        transitions=[
            acctstate.Transition(
                "escalate_dunning", "active", "active_dunning_pending", guards=[OVER_LIMIT]
            )
        ],
    )
)

billing = sa.MetaData()
clients = sa.Table(
    "clients",
    billing,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("payment_method", sa.String(20)),
    sa.Column("timezone", sa.String(50)),
    sa.Column("currency", sa.String(3)),
    sa.Column("credit_limit", sa.Numeric(12, 2), nullable=False),
)
invoices = sa.Table(
    "invoices",
    billing,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.String(200), nullable=False),
    sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("paid_at", UtcDateTime),
)
_unpaid = (
    sa.select(
        invoices.c.client_id,
        sa.func.sum(invoices.c.amount).label("owed"),
        sa.func.count().label("n"),
        sa.func.min(invoices.c.due_at).label("oldest"),
    )
    .where(invoices.c.paid_at.is_(None))
    .group_by(invoices.c.client_id)
    .subquery("unpaid")
)
# The host's facts: its clients outer-joined to their unpaid invoices, summed.
CLIENT_FACTS = sa.select(
    clients,
    sa.func.coalesce(_unpaid.c.owed, 0).label("balance"),
    sa.func.coalesce(_unpaid.c.n, 0).label("unpaid_invoices"),
    _unpaid.c.oldest.label("oldest_unpaid_at"),
).select_from(clients.outerjoin(_unpaid, _unpaid.c.client_id == clients.c.id))
# The same select as a view the host created, declared as SQLAlchemy sees a view.
client_facts_view = sa.Table(
    "client_facts",
    sa.MetaData(),
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("payment_method", sa.String(20)),
    sa.Column("timezone", sa.String(50)),
    sa.Column("currency", sa.String(3)),
    sa.Column("credit_limit", sa.Numeric(12, 2)),
    sa.Column("balance", sa.Numeric(12, 2)),
    sa.Column("unpaid_invoices", sa.Integer),
    sa.Column("oldest_unpaid_at", UtcDateTime),
)


def _create_view(engine: sa.Engine) -> None:
    ddl = CLIENT_FACTS.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    with engine.begin() as conn:
        translate = engine.get_execution_options().get("schema_translate_map") or {}
        if translate.get(None):  # PostgreSQL: the test's own schema
            conn.exec_driver_sql(f'SET LOCAL search_path TO "{translate[None]}"')
        conn.exec_driver_sql(f"CREATE VIEW client_facts AS {ddl}")


@contextlib.contextmanager
def credit_store(kind: str, shape: str) -> Iterator[SqlStore]:
    """An SQL store of ``kind`` on CREDIT_WF whose facts are the clients joined to their
    unpaid invoices, as a ``select()`` or as a view."""
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            engine = create_engine("sqlite://")
            stack.callback(engine.dispose)
        else:
            engine = stack.enter_context(pg_engine())
        billing.create_all(engine)
        facts: Any = CLIENT_FACTS
        if shape == "view":
            _create_view(engine)
            facts = client_facts_view
        store = SqlStore(CREDIT_WF, engine, facts=facts)
        store.create_schema()
        yield store


def _client_book(store: SqlStore) -> None:
    """A-1 owes 80 (oldest 31 days late), limit 0; A-2 owes 80, limit 100; A-3 paid its
    invoice, limit 0; A-4 owes 40 + 30 (oldest 16 days late), limit 50."""
    limits = {"A-1": "0", "A-2": "100", "A-3": "0", "A-4": "50"}
    bills = [
        ("A-1", "50", 31, None),
        ("A-1", "30", 5, None),
        ("A-2", "80", 31, None),
        ("A-3", "80", 31, 20),
        ("A-4", "40", 16, None),
        ("A-4", "30", 3, None),
    ]
    with store.engine.begin() as conn:
        conn.execute(
            clients.insert(),
            [
                {
                    "id": i,
                    "payment_method": "card",
                    "timezone": "UTC",
                    "currency": "USD",
                    "credit_limit": Decimal(limit),
                }
                for i, limit in limits.items()
            ],
        )
        conn.execute(
            invoices.insert(),
            [
                {
                    "client_id": i,
                    "amount": Decimal(amount),
                    "due_at": NIGHT - late * DAY,
                    "paid_at": None if paid is None else NIGHT - paid * DAY,
                }
                for i, amount, late, paid in bills
            ],
        )
    for account_id in limits:
        store.open(account_id, "active", at=NIGHT - 90 * DAY, imported=True)


@pytest.mark.parametrize("shape", ["select", "view"])
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_facts_from_a_select_or_view_joining_invoices(kind: str, shape: str) -> None:
    """Facts from a ``select()`` (or a view) joining the host's clients to their unpaid
    invoices: ``fire`` and ``run_automation`` see the same summed balance and the same
    host-only ``credit_limit`` a custom guard reads; event data overrides the joined
    balance; the store reads the host's rows as they are now, never a copy."""
    with credit_store(kind, shape) as store:
        _client_book(store)
        # What fire would do to each account tonight (each tried, then rolled back).
        fired: dict[str, str] = {}
        for account_id in ("A-1", "A-2", "A-3", "A-4"):
            with store.engine.connect() as conn:
                try:
                    store.fire(account_id, "escalate_dunning", at=NIGHT, connection=conn)
                    fired[account_id] = "escalated"
                except acctstate.GuardRefused as exc:
                    fired[account_id] = str(exc).split(": ", 1)[1]
                conn.rollback()
        assert fired == {
            "A-1": "escalated",
            "A-2": "over_credit_limit: balance 80.00 is within the credit limit 100.00",
            "A-3": fired["A-3"],
            "A-4": "escalated",
        }
        assert "within the credit limit 0.00" in fired["A-3"]
        assert all(store.load(i).version == 0 for i in fired)

        policy = AutomationPolicy(CREDIT_WF, ladder=reference_ladder())
        report = store.run_automation(policy, now=NIGHT, chunk=3)
        assert report.ok
        # A-2's ladder holds (80 owed, 31 days) but the guard refuses: blocked, unmoved.
        assert (report.examined, report.changed, report.changes, report.blocked) == (4, 2, 5, 1)
        names = {i: CREDIT_WF.catalog[store.load(i).status].name for i in fired}
        assert names == {
            "A-1": "active_dunning_2",  # 31 days late
            "A-2": "active",
            "A-3": "active",
            "A-4": "active_dunning_1",  # 16 days late, 70 owed over a limit of 50
        }
        moved = {i for i, name in names.items() if name != "active"}
        assert moved == {i for i, what in fired.items() if what == "escalated"}

        # Event data overrides the joined balance.
        change = store.fire("A-2", "escalate_dunning", at=NIGHT, balance=Decimal("150"))
        assert CREDIT_WF.catalog[change.dest].name == "active_dunning_pending"
        # Settling reads the joined balance: refused while the invoices are unpaid, and
        # allowed once the host marks them paid in its own table.
        with pytest.raises(acctstate.GuardRefused, match=r"balance 80\.00 is still owed"):
            store.fire("A-1", "settle", at=NIGHT + DAY)
        with store.engine.begin() as conn:
            conn.execute(
                invoices.update().where(invoices.c.client_id == "A-1").values(paid_at=NIGHT)
            )
        assert CREDIT_WF.catalog[store.fire("A-1", "settle", at=NIGHT + DAY).dest].name == (
            "active"
        )
