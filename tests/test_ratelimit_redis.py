"""Rate windows on the real Redis (127.0.0.1:6379), shared by every node that uses it.

Each test run counts under a key prefix of its own, deleted at the end, so runs never cross.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from server.app import create_app
from server.ratelimit_redis import RedisWindows
from server.web.keys import WINDOWS
from tests.conftest import ConfigFactory
from tests.server_process import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def node() -> AsyncIterator[Callable[[], RedisWindows]]:
    """Makes the windows of one more node, all on this test's key prefix."""
    prefix = f"barrage-test-{secrets.token_hex(6)}"
    made: list[RedisWindows] = []

    def make() -> RedisWindows:
        made.append(RedisWindows(REDIS_URL, key_prefix=prefix))
        return made[-1]

    yield make
    for windows in made:
        await windows.close()
    redis = Redis.from_url(REDIS_URL)
    async for key in redis.scan_iter(match=f"{prefix}*"):
        await redis.delete(key)
    await redis.aclose()


async def test_two_nodes_share_one_limit(node: Callable[[], RedisWindows]) -> None:
    a, b = node(), node()
    assert await a.acquire([("sender:42", 2)]) is None
    assert await b.acquire([("sender:42", 2)]) is None
    refused = await a.acquire([("sender:42", 2)])
    assert refused is not None and refused[0] == 0 and 55 < refused[1] <= 60
    assert await b.acquire([("sender:43", 2)]) is None  # other keys are their own


async def test_a_refusal_counts_against_no_window(node: Callable[[], RedisWindows]) -> None:
    a, b = node(), node()
    both = [("sender:s", 2), ("address:net", 1)]
    assert await a.acquire(both) is None
    refused = await b.acquire(both)
    assert refused is not None and refused[0] == 1  # the network's window is full
    assert await a.acquire([("sender:s", 2)]) is None  # the sender's second: not taken by the refusal
    assert (await b.acquire([("sender:s", 2)]) or (None,))[0] == 0


async def test_waiting_says_how_long_and_counts_nothing(node: Callable[[], RedisWindows]) -> None:
    a, b = node(), node()
    assert await b.waiting("admin-failures:net", 1) == 0
    assert await b.waiting("admin-failures:net", 1) == 0  # asking twice counted nothing
    assert await a.acquire([("admin-failures:net", 1)]) is None
    assert 55 < await b.waiting("admin-failures:net", 1) <= 60


async def test_without_redis_each_node_counts_in_its_own_memory() -> None:
    windows = RedisWindows(f"redis://127.0.0.1:{free_port()}/0", key_prefix="nobody-listens")
    try:
        assert await windows.acquire([("sender:1", 1)]) is None
        refused = await windows.acquire([("sender:1", 1)])
        assert refused is not None and refused[0] == 0
        assert await windows.waiting("sender:1", 1) > 0
    finally:
        await windows.close()


async def test_two_app_instances_share_the_network_limit(
    make_config: ConfigFactory, aiohttp_client: Any, node: Callable[[], RedisWindows]
) -> None:
    # Composed by hand as server/app.py's _windows does when bus.url is redis:// (this
    # branch's bus.url accepts memory:// only; no bus is involved here). One database file.
    config = make_config(moderation__max_per_minute_per_address=2)
    clients = []
    for _ in range(2):
        app = create_app(config)
        app[WINDOWS] = node()
        clients.append(await aiohttp_client(app))
    first, second = clients
    for client in (first, second):
        resp = await client.post("/api/barrages", json={"text": "hi"})
        assert resp.status == 201, await resp.text()
    refused = await first.post("/api/barrages", json={"text": "one too many"})
    assert refused.status == 429 and 55 <= int(refused.headers["Retry-After"]) <= 60
