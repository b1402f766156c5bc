"""Two `barrage serve` processes on one PostgreSQL database, once with each broker
(the shared Redis, PostgreSQL's LISTEN/NOTIFY), on a channel of this test's own: what
is decided on node A reaches the streams held on node B."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.server_process import AUTH, ServerProcess
from tests.sse import next_event

SHARED_REDIS = os.environ.get("BARRAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["redis", "postgres"])
async def nodes(request: pytest.FixtureRequest, postgres_url: str,
                tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    bus_url = SHARED_REDIS if request.param == "redis" else postgres_url.replace("+asyncpg", "")
    env = {"BARRAGE_DATABASE_URL": postgres_url, "BARRAGE_BUS_URL": bus_url,
           "BARRAGE_BUS_CHANNEL": f"t{os.getpid()}_{secrets.token_hex(4)}",
           "BARRAGE_MODERATION_MAX_PER_MINUTE": "0"}
    a, b = ServerProcess(tmp_path / "a", env=env), ServerProcess(tmp_path / "b", env=env)
    await a.start()  # one after the other: the schema is made by the first
    try:
        await b.start()
        try:
            yield a, b
        finally:
            await b.stop()
    finally:
        await a.stop()


async def test_a_barrage_approved_on_one_node_reaches_streams_on_the_other(
    nodes: tuple[ServerProcess, ServerProcess]
) -> None:
    a, b = nodes
    text = f"across nodes {secrets.token_hex(4)}"
    async with aiohttp.ClientSession() as http, \
            http.get(f"{b.url}/stream") as screen, http.get(f"{b.url}/api/stream", headers=AUTH) as desk:
        await b.wait_for_streams(1)
        async with http.put(f"{a.url}/api/mode", json={"mode": "manual"}, headers=AUTH) as resp:
            assert resp.status == 200
        async with http.post(f"{a.url}/api/barrages", json={"text": text}) as resp:
            assert resp.status == 201
            submitted = await resp.json()
        assert submitted["status"] == "pending"
        async with http.post(f"{a.url}/api/barrages/{submitted['id']}/approve", headers=AUTH) as resp:
            assert resp.status == 200
        shown = await next_event(screen, 15)
        assert (shown.event, shown.data["text"], shown.data["id"]) == ("barrage", text, submitted["id"])
        seen = [await next_event(desk, 15)]  # the mode switch (if it wrote one), pending, barrage
        while seen[-1].event != "barrage":
            seen.append(await next_event(desk, 15))
        assert [m.event for m in seen[-2:]] == ["pending", "barrage"]
        ids = [int(m.id or 0) for m in seen]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # in order, none skipped
        async with http.get(f"{b.url}/healthz") as resp:
            assert (await resp.json())["bus_connected"] is True
