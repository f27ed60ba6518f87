"""A small account service on FastAPI and acctstate's async store.

Run it with ``uvicorn app:app`` from this folder (``ACCTSTATE_URL`` picks the database,
an SQLite file ``accounts.db`` by default), then open ``/docs``. It offers:

* ``POST /accounts``: open an account; ``GET /accounts/{id}``: its status and the
  triggers allowed now;
* ``POST /accounts/{id}/fire/{trigger}``: fire a trigger;
* ``GET /accounts/{id}/explain/{trigger}``: why a trigger may or may not fire;
* ``GET /accounts/{id}/history``: every change, with its effects;
* ``POST /nightly``: the nightly run (archive old closed accounts, apply the scheduled
  changes due, deliver the effects through async hooks).

Every refusal is a problem document (RFC 9457, ``application/problem+json``) carrying
acctstate's typed error: its type, the account, the status, the trigger and the
triggers allowed there. The OpenAPI schema declares them on every route.
"""

import contextlib
import datetime as dt
import os
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import acctstate
from acctstate.automation import AutomationPolicy
from acctstate.errors import (
    AcctStateError,
    ConcurrentChange,
    GuardRefused,
    HistoryConflict,
    IllegalTransition,
    InvalidArgument,
    UnknownStatus,
    UnknownTrigger,
)
from acctstate.presets import isp
from acctstate.store.asyncio import AsyncSqlStore, create_async_engine

PROBLEM = "application/problem+json"
ERROR_TYPES = "urn:acctstate:error:"  # + the error class name


# -- what goes over the wire ----------------------------------------------------------


class StatusOut(BaseModel):
    """A status: its name and its numeric code."""

    name: str
    code: int


class AccountIn(BaseModel):
    """An account to open."""

    id: str = Field(examples=["A-1"])
    status: str = Field(default="prospect", examples=["prospect"])
    at: dt.datetime | None = None
    imported: bool = False
    timezone: str = Field(default="UTC", examples=["Europe/Berlin"])
    currency: str = Field(default="USD", examples=["EUR"])


class AccountOut(BaseModel):
    """An account as stored, with the triggers allowed from its status."""

    id: str
    status: StatusOut
    status_since: dt.datetime
    version: int
    allowed: list[str]


class FireIn(BaseModel):
    """How to fire a trigger."""

    at: dt.datetime | None = None
    reason: str | None = None
    note: str | None = None
    expected_version: int | None = None


class EffectOut(BaseModel):
    """An effect of a change, waiting in the outbox or carried out."""

    kind: str
    key: str


class ChangeOut(BaseModel):
    """A status change."""

    trigger: str
    source: StatusOut
    dest: StatusOut
    at: dt.datetime
    reason: str | None
    note: str | None
    effects: list[EffectOut]


class RefusalOut(BaseModel):
    """One guard's "no" and why."""

    guard: str
    reason: str


class ExplanationOut(BaseModel):
    """Whether a trigger may fire now and, if not, every reason why."""

    trigger: str
    status: StatusOut
    allowed: bool
    legal: bool
    dest: StatusOut | None
    refusals: list[RefusalOut]
    text: str


class NightlyIn(BaseModel):
    """The instant of the nightly run (default: now)."""

    now: dt.datetime | None = None


class NightlyOut(BaseModel):
    """What the nightly run did."""

    examined: int
    changed: int
    by_rule: dict[str, int]
    applied: list[str]
    delivered: list[str]
    failed: list[str]


class Problem(BaseModel):
    """A refusal as a problem document (RFC 9457) with acctstate's facts about it."""

    type: str = Field(examples=[ERROR_TYPES + "IllegalTransition"])
    title: str = Field(examples=["IllegalTransition"])
    status: int = Field(description="The HTTP status code.", examples=[409])
    detail: str
    account_id: str | None = None
    account_status: StatusOut | None = None
    trigger: str | None = None
    allowed: list[str] | None = Field(default=None, description="Triggers allowed here.")
    refusals: list[RefusalOut] | None = None


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response whose body is a :class:`Problem` as ``application/problem+json``."""
    return {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: problem_response("No such account, trigger or status."),
    409: problem_response(
        "Refused: not in the graph, a guard said no, a lost race, or the id is taken."
    ),
    422: problem_response("An invalid argument."),
}


def status_out(status: acctstate.Status) -> StatusOut:
    return StatusOut(name=status.name, code=status.code)


def change_out(change: acctstate.StatusChange) -> ChangeOut:
    return ChangeOut(
        trigger=change.trigger,
        source=status_out(change.source),
        dest=status_out(change.dest),
        at=change.at,
        reason=change.reason,
        note=change.note,
        effects=[EffectOut(kind=e.kind, key=e.key) for e in change.effects],
    )


def http_status(exc: AcctStateError) -> int:
    """The HTTP status of a refusal."""
    if isinstance(exc, UnknownTrigger | UnknownStatus):
        return 404
    if isinstance(exc, InvalidArgument) and exc.name == "account_id":
        # the store says "no such account" or "the id is taken" with this parameter
        return 404 if exc.expected == "the id of an account in the store" else 409
    if isinstance(exc, IllegalTransition | GuardRefused | ConcurrentChange | HistoryConflict):
        return 409
    if isinstance(exc, InvalidArgument):
        return 422
    return 500


def problem_of(exc: AcctStateError) -> Problem:
    """The problem document of an acctstate error, its facts copied from its attributes."""
    code = http_status(exc)
    account = getattr(exc, "account_id", None)
    if account is None and isinstance(exc, InvalidArgument) and exc.name == "account_id":
        account = exc.value
    status = getattr(exc, "status", None)
    refusals = getattr(exc, "refusals", None)
    allowed = getattr(exc, "allowed", None)
    return Problem(
        type=ERROR_TYPES + type(exc).__name__,
        title=type(exc).__name__,
        status=code,
        detail=str(exc),
        account_id=None if account is None else str(account),
        account_status=status_out(status) if isinstance(status, acctstate.Status) else None,
        trigger=getattr(exc, "trigger", None),
        allowed=None if allowed is None else [str(a) for a in allowed],
        refusals=None
        if refusals is None
        else [RefusalOut(guard=r.guard, reason=r.reason) for r in refusals],
    )


# -- the service ------------------------------------------------------------------------


class LogHooks:
    """The host's systems, here a list of what ran (a real service calls its billing,
    provisioning and payment APIs with an async HTTP client)."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    async def _run(self, effect: Any, change: acctstate.StatusChange) -> None:
        self.ran.append(effect.key)

    start_billing = stop_billing = start_usage_billing = stop_usage_billing = _run
    charge = provision = deprovision = refund = notify = _run


def create_app(url: str | None = None, *, workflow: acctstate.Workflow | None = None) -> FastAPI:
    """The service on the database at ``url`` (default: ``ACCTSTATE_URL``, else an SQLite
    file ``accounts.db``); the tables are created at start-up."""
    url = url or os.environ.get("ACCTSTATE_URL", "sqlite+aiosqlite:///accounts.db")
    wf = workflow or isp.workflow()
    policy = AutomationPolicy(wf, archive="archive")
    hooks = LogHooks()

    # The host's own table of facts: the billing time zone (archiving counts calendar
    # days in it) and the currency; the store reads them, and never guesses either.
    host = sa.MetaData()
    customers = sa.Table(
        "customers",
        host,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("timezone", sa.String, nullable=False),
        sa.Column("currency", sa.String, nullable=False),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_async_engine(url)
        store = AsyncSqlStore(wf, engine, facts=customers)
        await store.create_schema()
        async with engine.begin() as conn:
            await conn.run_sync(host.create_all)
        app.state.store = store
        app.state.engine = engine
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="Accounts", version="1.0", lifespan=lifespan, responses=PROBLEMS)
    app.state.hooks = hooks

    def openapi() -> dict[str, Any]:
        # The error responses refer to the Problem schema by hand (to serve it as
        # application/problem+json only), so it is added to the components here.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            found = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(found.pop("$defs", {}))
            schemas["Problem"] = found
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(AcctStateError)
    async def refused(request: Request, exc: AcctStateError) -> JSONResponse:
        problem = problem_of(exc)
        return JSONResponse(
            problem.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM
        )

    def store_of(request: Request) -> AsyncSqlStore:
        store: AsyncSqlStore = request.app.state.store
        return store

    async def account_out(store: AsyncSqlStore, account_id: str) -> AccountOut:
        stored = await store.load(account_id)
        return AccountOut(
            id=stored.id,
            status=status_out(wf.status_of(stored)),
            status_since=stored.status_since,
            version=stored.version,
            allowed=sorted(wf.allowed_triggers(stored)),
        )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/accounts", status_code=201)
    async def open_account(body: AccountIn, request: Request) -> AccountOut:
        store = store_of(request)
        at = body.at or wf.clock.now()
        async with request.app.state.engine.begin() as conn:  # the host row and the account
            await store.open(body.id, body.status, at=at, imported=body.imported, connection=conn)
            row = {"id": body.id, "timezone": body.timezone, "currency": body.currency}
            await conn.execute(customers.insert(), row)
        return await account_out(store, body.id)

    @app.get("/accounts/{account_id}")
    async def get_account(account_id: str, request: Request) -> AccountOut:
        return await account_out(store_of(request), account_id)

    @app.post("/accounts/{account_id}/fire/{trigger}")
    async def fire(account_id: str, trigger: str, body: FireIn, request: Request) -> ChangeOut:
        change = await store_of(request).fire(
            account_id,
            trigger,
            at=body.at or wf.clock.now(),
            reason=body.reason,
            note=body.note,
            expected_version=body.expected_version,
        )
        return change_out(change)

    @app.get("/accounts/{account_id}/explain/{trigger}")
    async def explain(
        account_id: str, trigger: str, request: Request, at: dt.datetime | None = None
    ) -> ExplanationOut:
        stored = await store_of(request).load(account_id)
        why = wf.explain(stored, trigger, at=at or wf.clock.now())
        return ExplanationOut(
            trigger=why.trigger,
            status=status_out(why.status),
            allowed=why.allowed,
            legal=why.legal,
            dest=None if why.dest is None else status_out(why.dest),
            refusals=[RefusalOut(guard=r.guard, reason=r.reason) for r in why.refusals],
            text=str(why),
        )

    @app.get("/accounts/{account_id}/history")
    async def history(account_id: str, request: Request) -> list[ChangeOut]:
        return [change_out(c) for c in await store_of(request).history(account_id)]

    @app.post("/nightly")
    async def nightly(body: NightlyIn, request: Request) -> NightlyOut:
        store = store_of(request)
        now = body.now or wf.clock.now()
        report = await store.run_automation(policy, now=now)
        due = await store.apply_due(at=now)
        delivery = await store.deliver(acctstate.Hooks.from_object(hooks))
        return NightlyOut(
            examined=report.examined,
            changed=report.changed,
            by_rule=dict(report.by_rule),
            applied=list(due.applied),
            delivered=list(delivery.delivered),
            failed=[key for key, _ in delivery.failed],
        )

    return app


app = create_app()

if __name__ == "__main__":  # pragma: no cover - run by hand
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
