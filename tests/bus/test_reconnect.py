"""A node that loses its broker reconnects and catches up from the log: nothing is lost.

Redis: a private redis-server on a port of this test's own, stopped and started again
(never the shared one); once through a real `barrage serve` and its /healthz.
PostgreSQL: the listening session is ended from the server side with
pg_terminate_backend, found by its application_name in this run's database only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from server.bus import Sequencer, create_bus
from server.bus.link import Link
from server.bus.postgres import APPLICATION_NAME
from server.store import SqlStore
from tests.bus.conftest import PrivateRedis, eventually, libpq_url
from tests.bus.test_sequence import logged
from tests.conftest import drop_tables
from tests.server_process import ServerProcess
from tests.sse import next_event


@pytest.fixture
async def postgres_log(postgres_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore.from_url(postgres_url)
    async with store._engine.begin() as conn:
        await conn.run_sync(drop_tables)  # Alembic's record too, or create_schema would make nothing
    await store.create_schema()
    yield store
    await store.close()


class Cluster:
    """Two nodes on one log and one broker channel: `a` publishes, `b` records."""

    def __init__(self, url: str, channel: str, log: SqlStore) -> None:
        self.log = log
        self.a = Sequencer(create_bus(url, channel), log)
        self.b = Sequencer(create_bus(url, channel), log)
        self.got: list[int] = []

    async def __aenter__(self) -> Cluster:
        await self.a.connect()
        await self.b.connect()
        self.b.subscribe(lambda e: self.got.append(e.id))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.a.disconnect()
        await self.b.disconnect()

    async def publish(self, count: int) -> None:
        for each in await logged(self.log, count):
            await self.a.publish(each)

    def links(self) -> tuple[Link, Link]:
        assert isinstance(self.a.broker, Link) and isinstance(self.b.broker, Link)
        return self.a.broker, self.b.broker


async def test_a_redis_restart_loses_nothing(private_redis: PrivateRedis, channel: str,
                                             store: SqlStore) -> None:
    await private_redis.start()
    async with Cluster(private_redis.url, channel, store) as cluster:
        await cluster.publish(3)
        await eventually(lambda: cluster.got == [1, 2, 3])
        await private_redis.stop()
        await eventually(lambda: not cluster.a.connected and not cluster.b.connected)
        await cluster.publish(3)  # while Redis is down: only the log has them
        await private_redis.start()
        await eventually(lambda: cluster.a.connected and cluster.b.connected)
        await cluster.publish(2)
        await eventually(lambda: len(cluster.got) >= 8)
        assert cluster.got == list(range(1, 9))
        assert [link.losses for link in cluster.links()] == [1, 1]


async def test_a_redis_that_stops_answering_is_noticed_and_nothing_is_lost(
    private_redis: PrivateRedis, channel: str, store: SqlStore
) -> None:
    await private_redis.start()
    async with Cluster(private_redis.url, channel, store) as cluster:
        await cluster.publish(1)
        await eventually(lambda: cluster.got == [1])
        private_redis.pause()  # no reset, no close: only the missing answers tell
        await cluster.publish(2)
        await eventually(lambda: not cluster.a.connected and not cluster.b.connected)
        private_redis.resume()
        await eventually(lambda: cluster.a.connected and cluster.b.connected)
        await cluster.publish(1)
        await eventually(lambda: len(cluster.got) >= 4)
        assert cluster.got == [1, 2, 3, 4]


async def test_a_node_whose_redis_is_down_at_start_connects_when_it_comes(
    private_redis: PrivateRedis, channel: str, store: SqlStore
) -> None:
    async with Cluster(private_redis.url, channel, store) as cluster:
        assert not cluster.a.connected and not cluster.b.connected
        await private_redis.start()
        await eventually(lambda: cluster.a.connected and cluster.b.connected)
        await cluster.publish(2)
        await eventually(lambda: cluster.got == [1, 2])


async def test_a_terminated_listener_reconnects_and_loses_nothing(
    postgres_url: str, channel: str, postgres_log: SqlStore
) -> None:
    async with Cluster(libpq_url(postgres_url), channel, postgres_log) as cluster:
        await cluster.publish(3)
        await eventually(lambda: cluster.got == [1, 2, 3])
        admin = await asyncpg.connect(libpq_url(postgres_url))
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1 AND datname = current_database()", APPLICATION_NAME)
        finally:
            await admin.close()
        assert ended == 2  # a's and b's, both in this run's database
        await cluster.publish(3)  # maybe before the nodes have noticed: lost notifications
        await eventually(lambda: all(link.losses == 1 and link.connected for link in cluster.links()))
        await cluster.publish(2)
        await eventually(lambda: len(cluster.got) >= 8)
        assert cluster.got == list(range(1, 9))


async def bus_connected(server: ServerProcess) -> bool:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200  # liveness: a node without its broker still serves
        return (await resp.json())["bus_connected"]


async def until_bus_connected(server: ServerProcess, expected: bool) -> None:
    async with asyncio.timeout(30):
        while True:
            if await bus_connected(server) is expected:
                return
            await asyncio.sleep(0.05)


async def test_healthz_follows_the_broker_of_a_node_started_while_it_was_down(
    tmp_path: Path, private_redis: PrivateRedis, channel: str
) -> None:
    server = ServerProcess(tmp_path / "node", env={
        "BARRAGE_BUS_URL": private_redis.url, "BARRAGE_BUS_CHANNEL": channel,
        "BARRAGE_MODERATION_MODE": "off", "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
    })
    await server.start()  # Redis is not running: the node starts anyway
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/stream") as screen:
            assert await bus_connected(server) is False
            await private_redis.start()
            await until_bus_connected(server, True)
            await server.submit("while connected")
            await private_redis.stop()
            await until_bus_connected(server, False)
            await server.submit("while the broker is away")  # this node's own: shown at once
            await private_redis.start()
            await until_bus_connected(server, True)
            await server.submit("after")
            texts = [(await next_event(screen, 15)).data["text"] for _ in range(3)]
        assert texts == ["while connected", "while the broker is away", "after"]
    finally:
        await server.stop()
