"""Marks on the real Redis (127.0.0.1:6379), shared by every node that uses it: slow mode and
"already sent" hold across processes. Each test counts under a key prefix of its own."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from server.marks_redis import RedisMarks
from tests.test_ratelimit_redis import REDIS_URL


@pytest.fixture
async def node() -> AsyncIterator[Callable[[], RedisMarks]]:
    prefix = f"barrage-test-{secrets.token_hex(6)}"
    made: list[RedisMarks] = []

    def make() -> RedisMarks:
        made.append(RedisMarks(REDIS_URL, key_prefix=prefix))
        return made[-1]

    yield make
    for marks in made:
        await marks.close()
    redis = Redis.from_url(REDIS_URL)
    async for key in redis.scan_iter(match=f"{prefix}*"):
        await redis.delete(key)
    await redis.aclose()


async def test_one_of_many_nodes_reserving_at_once_gets_it(node: Callable[[], RedisMarks]) -> None:
    nodes = [node() for _ in range(4)]
    waits = await asyncio.gather(*(nodes[i % 4].reserve("slow:web:a", f"t{i}", 30) for i in range(40)))
    assert waits.count(0.0) == 1
    assert all(25 < wait <= 30 for wait in waits if wait)


async def test_release_frees_only_its_own_reservation(node: Callable[[], RedisMarks]) -> None:
    a, b = node(), node()
    assert await a.reserve("repeat:x", "mine", 30) == 0.0
    await b.release("repeat:x", "not mine")
    assert await b.reserve("repeat:x", "theirs", 30) > 0
    await b.release("repeat:x", "mine")
    assert await b.reserve("repeat:x", "theirs", 30) == 0.0


async def test_a_mark_runs_out(node: Callable[[], RedisMarks]) -> None:
    marks = node()
    assert await marks.reserve("slow:web:b", "t", 0.05) == 0.0
    for _ in range(200):  # Redis expires it: a positive signal, bounded
        if await marks.reserve("slow:web:b", "t2", 0.05) == 0.0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the mark never ran out")


async def test_without_redis_each_node_counts_in_memory() -> None:
    marks = RedisMarks("redis://127.0.0.1:1/0", key_prefix="nowhere")
    try:
        assert await marks.reserve("slow:web:c", "t", 30) == 0.0
        assert await marks.reserve("slow:web:c", "t2", 30) > 0
        await marks.release("slow:web:c", "t")
        assert await marks.reserve("slow:web:c", "t2", 30) == 0.0
    finally:
        await marks.close()
