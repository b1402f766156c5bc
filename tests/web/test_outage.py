"""Every documented operation with the PostgreSQL server stopped under the real app (a scratch
server of the test's own): no 500, and every answer one the OpenAPI document describes (503
where the database was needed, with a JSON error and Retry-After). Then the server comes back
and the same requests work, on the same app, without a restart."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from server.web.openapi import document
from tests.conftest import AUTH, ClientFactory
from tests.scratch_postgres import ScratchPostgres

BACK_SECONDS = 60.0  # a bound on a hang, not a timing claim
ANSWER_SECONDS = 30.0  # likewise, for each answer
PATH_VALUES = {"{id}": "1", "{slug}": "main", "{sender}": "web:someone"}
# A valid body per operation, so each reaches its store call rather than a 400.
BODIES: dict[str, Any] = {
    "submit": {"text": "while the database is down"},
    "bulkDecide": {"ids": [1], "verdict": "approve"},
    "createRoom": {"slug": "hall-b"},
    "patchRoom": {"title": "Hall A"},
    "drawLottery": {"winners": 1},
    "setAnnouncement": {"text": "back soon"},
    "setMode": {"mode": "manual"},
    "addMute": {"sender": "web:someone", "minutes": 5},
    "addFilter": {"pattern": "spam"},
}
STREAMS = {"adminStream"}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in document()["paths"].items():
        for name, value in PATH_VALUES.items():
            path = path.replace(name, value)
        found += [(method.upper(), path, operation) for method, operation in item.items()]
    return found


async def answer(client: TestClient, method: str, path: str, operation: dict[str, Any]) -> int:
    body = BODIES.get(operation["operationId"])
    async with asyncio.timeout(ANSWER_SECONDS):
        return await _answer(client, method, path, operation, body)


async def _answer(client: TestClient, method: str, path: str, operation: dict[str, Any], body: Any) -> int:
    async with client.request(method, path, headers=AUTH, json=body) as resp:
        if operation["operationId"] in STREAMS and resp.status == 200:
            return 200  # a live stream: it opened (it never ends by itself)
        await resp.read()
        if resp.status >= 400:
            assert resp.content_type == "application/json", (method, path, resp.status)
            assert "error" in await resp.json() or path == "/readyz"
        if resp.status == 503:
            assert resp.headers["Retry-After"].isdigit(), (method, path)
        return resp.status


async def test_no_operation_answers_500_while_the_database_is_down_and_all_work_after(
    make_client: ClientFactory, scratch_postgres: ScratchPostgres
) -> None:
    client = await make_client(database__url=scratch_postgres.url, moderation__mode="manual")
    assert (await client.post("/api/barrages", json={"text": "before"})).status == 201
    await scratch_postgres.stop()
    down = {}
    for method, path, operation in operations():
        down[(method, path)] = await answer(client, method, path, operation)
    for (method, path), status in down.items():
        operation = next(op for m, p, op in operations() if (m, p) == (method, path))
        assert str(status) in operation["responses"], (method, path, status)
    assert down[("POST", "/api/barrages")] == 503
    assert down[("GET", "/api/barrages")] == 503
    assert down[("POST", "/api/barrages/1/approve")] == 503
    assert down[("GET", "/readyz")] == 503
    assert down[("GET", "/healthz")] == 200

    await scratch_postgres.start()
    async with asyncio.timeout(BACK_SECONDS):
        while True:
            if (await client.post("/api/barrages", json={"text": "after"})).status == 201:
                break
            await asyncio.sleep(0.05)
    assert (await client.post("/api/barrages/1/approve", headers=AUTH)).status == 200
    listed = await (await client.get("/api/barrages", headers=AUTH)).json()
    assert [item["text"] for item in listed["items"]] == ["before", "after"]
