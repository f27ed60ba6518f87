"""The FastAPI example (``examples/fastapi_app``): a small account service on the async
store, tested with ``httpx`` against the app in process (ASGI) and once against a real
``uvicorn`` process on a loopback port.

Pinned here: opening, firing, explaining, the history and the nightly run answer what
the store holds; every refusal is ``application/problem+json`` carrying the error's
type, the account, its status, the trigger and the triggers allowed there, changes
nothing, and is declared in the OpenAPI schema.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

APP_DIR = pathlib.Path(__file__).resolve().parents[1] / "examples" / "fastapi_app"
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def load_example() -> Any:
    """The example's module (imported from its folder, as uvicorn would)."""
    spec = importlib.util.spec_from_file_location("fastapi_app_example", APP_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = load_example()


def with_client(tmp: pathlib.Path, body: Callable[[httpx.AsyncClient, Any], Any]) -> Any:
    """Run ``body(client, app)`` against the app on a fresh SQLite file, in process."""

    async def main() -> Any:
        app = example.create_app(f"sqlite+aiosqlite:///{tmp / 'accounts.db'}")
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await body(client, app)

    return asyncio.run(main())


async def opened(client: httpx.AsyncClient, account_id: str, status: str = "active") -> Any:
    r = await client.post(
        "/accounts",
        json={"id": account_id, "status": status, "at": T0.isoformat(), "imported": True},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_open_fire_explain_and_history(tmp_path: pathlib.Path) -> None:
    """An account opened as a prospect registers through the API; the account, the
    explanation and the history answer what the store holds."""

    async def body(client: httpx.AsyncClient, app: Any) -> None:
        r = await client.post("/accounts", json={"id": "A-1", "at": T0.isoformat()})
        assert r.status_code == 201
        assert r.json()["status"] == {"name": "prospect", "code": 30}
        assert r.json()["version"] == 0 and "register" in r.json()["allowed"]
        r = await client.get("/accounts/A-1/explain/register", params={"at": T0.isoformat()})
        assert r.status_code == 200 and r.json()["allowed"] is True
        r = await client.post("/accounts/A-1/fire/register", json={"at": T0.isoformat()})
        assert r.status_code == 200, r.text
        assert r.json()["dest"]["name"] == "registered_pending_activation"
        account = (await client.get("/accounts/A-1")).json()
        assert account["version"] == 1
        assert account["status"]["name"] == "registered_pending_activation"
        history = (await client.get("/accounts/A-1/history")).json()
        assert [h["trigger"] for h in history] == ["open", "register"]
        r = await client.get("/accounts/A-1/explain/archive")
        assert r.status_code == 200 and r.json()["legal"] is False
        assert "not a transition" in r.json()["text"]

    with_client(tmp_path, body)


def test_an_illegal_trigger_is_a_problem_document_and_changes_nothing(
    tmp_path: pathlib.Path,
) -> None:
    """Firing a trigger the graph does not allow answers 409 with a problem document:
    the error type, the account, its status and the triggers allowed; nothing changes."""

    async def body(client: httpx.AsyncClient, app: Any) -> None:
        before = await opened(client, "A-1")
        r = await client.post("/accounts/A-1/fire/register", json={"at": T0.isoformat()})
        assert r.status_code == 409
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["type"] == "urn:acctstate:error:IllegalTransition"
        assert problem["title"] == "IllegalTransition" and problem["status"] == 409
        assert problem["account_id"] == "A-1" and problem["trigger"] == "register"
        assert problem["account_status"] == {"name": "active", "code": 1}
        assert "suspend" in problem["allowed"]
        assert "cannot fire 'register' on account 'A-1'" in problem["detail"]
        assert (await client.get("/accounts/A-1")).json() == before
        assert len((await client.get("/accounts/A-1/history")).json()) == 1

    with_client(tmp_path, body)


def test_unknown_things_and_lost_races_are_typed_problems(tmp_path: pathlib.Path) -> None:
    """An unknown account or trigger is 404, a stale version or a taken id 409, each a
    problem document naming its error type."""

    async def body(client: httpx.AsyncClient, app: Any) -> None:
        await opened(client, "A-1")
        cases = [
            (await client.get("/accounts/nobody"), 404, "InvalidArgument"),
            (
                await client.post("/accounts/A-1/fire/suspendd", json={}),
                404,
                "UnknownTrigger",
            ),
            (
                await client.post(
                    "/accounts/A-1/fire/suspend",
                    json={"at": (T0 + dt.timedelta(seconds=1)).isoformat(), "expected_version": 7},
                ),
                409,
                "ConcurrentChange",
            ),
            (
                await client.post(
                    "/accounts", json={"id": "A-1", "at": T0.isoformat(), "imported": True}
                ),
                409,
                "InvalidArgument",
            ),
        ]
        for r, code, error in cases:
            assert r.status_code == code, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["title"] == error and r.json()["status"] == code
        assert (await client.get("/accounts/nobody")).json()["account_id"] == "nobody"
        assert (await client.get("/accounts/A-1")).json()["version"] == 0

    with_client(tmp_path, body)


def test_the_nightly_run_archives_and_delivers(tmp_path: pathlib.Path) -> None:
    """The nightly endpoint archives an account closed for 180 days, applies what is
    due and delivers the effects through the async hooks."""

    async def body(client: httpx.AsyncClient, app: Any) -> None:
        await opened(client, "A-1")
        await opened(client, "A-2")
        r = await client.post("/accounts/A-1/fire/cancel", json={"at": T0.isoformat()})
        assert r.status_code == 200, r.text
        later = T0 + dt.timedelta(days=200)
        r = await client.post("/nightly", json={"now": later.isoformat()})
        assert r.status_code == 200, r.text
        night = r.json()
        assert night["examined"] == 2 and night["by_rule"] == {"archive": 1}
        assert night["failed"] == [] and night["delivered"] == app.state.hooks.ran
        account = (await client.get("/accounts/A-1")).json()
        assert account["status"]["name"] == "archived"

    with_client(tmp_path, body)


def test_the_openapi_schema_declares_problem_details() -> None:
    """Every route's error responses are ``application/problem+json`` documents of the
    ``Problem`` schema, which names the error type, the account, its status and the
    allowed triggers."""
    schema = example.create_app("sqlite+aiosqlite://").openapi()
    problem = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "account_id", "account_status", "allowed"} <= set(
        problem["properties"]
    )
    fire = schema["paths"]["/accounts/{account_id}/fire/{trigger}"]["post"]
    for code in ("404", "409", "422"):
        content = fire["responses"][code]["content"]
        assert content["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


def test_a_real_uvicorn_process_serves_it(tmp_path: pathlib.Path) -> None:
    """The example runs under uvicorn on a loopback port: it answers over HTTP, a
    refusal included, and the process is always stopped."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    env = {
        **os.environ,
        "ACCTSTATE_URL": f"sqlite+aiosqlite:///{tmp_path / 'served.db'}",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--fd", str(sock.fileno())],
        cwd=APP_DIR,
        env=env,
        pass_fds=[sock.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    sock.close()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "uvicorn did not answer in time"
                time.sleep(0.1)
            r = client.post(
                "/accounts",
                json={"id": "A-1", "at": T0.isoformat(), "imported": True, "status": "active"},
            )
            assert r.status_code == 201, r.text
            r = client.post("/accounts/A-1/fire/suspend", json={"at": T0.isoformat()})
            assert r.status_code == 200 and r.json()["dest"]["name"] == "suspended"
            r = client.post("/accounts/A-1/fire/register", json={})
            assert r.status_code == 409
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["account_status"]["name"] == "suspended"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            process.kill()
            process.wait(timeout=15)
        if process.stderr is not None:
            process.stderr.close()
