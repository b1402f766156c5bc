"""The database's epoch across nodes on PostgreSQL: every node names the same one, and after
a restore (pg_restore, then the README's reset of the epoch) the nodes agree on the new one
and a screen that remembers an id of the old one gets the events that reused its ids."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import asyncpg

from tests.cluster import Cluster, libpq
from tests.sse import events

EPOCH_RESET = "DELETE FROM setting WHERE key = 'db.epoch'"  # README, Operating › Backups


async def epochs(cluster: Cluster) -> list[tuple[str, str]]:
    """Each node's epoch, as its screen config and its stream's header name it."""
    found = []
    async with aiohttp.ClientSession() as http:
        for node in cluster.nodes:
            async with http.get(f"{node.url}/api/screen-config") as resp:
                config = (await resp.json())["epoch"]
            async with http.get(f"{node.url}/stream") as stream:
                found.append((config, stream.headers["X-Barrage-Epoch"]))
    return found


async def roll_back(url: str, to_id: int) -> None:
    """What restoring an older dump does to the log: the events after it are gone, and the
    sequence hands their ids out again."""
    conn = await asyncpg.connect(libpq(url))
    try:
        await conn.execute("DELETE FROM event WHERE id > $1", to_id)
        await conn.execute("SELECT setval(pg_get_serial_sequence('event', 'id'), $1)", to_id)
        await conn.execute(EPOCH_RESET)
    finally:
        await conn.close()


async def test_nodes_share_the_epoch_and_its_renewal_after_a_restore(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    async with Cluster(tmp_path, fresh_postgres_url, env={"BARRAGE_MODERATION_MODE": "off"}) as cluster:
        first = await epochs(cluster)
        assert len({token for pair in first for token in pair}) == 1
        await cluster.nodes[0].submit("kept")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{cluster.nodes[0].url}/stream", params={"last_event_id": "0"}) as stream:
                kept = int((await events(stream, 1))[0].id or 0)
        await cluster.nodes[1].submit("lost 1", "lost 2")
        await cluster.stop()
        await roll_back(fresh_postgres_url, kept)
        await asyncio.gather(*(node.start() for node in cluster.nodes))
        second = await epochs(cluster)
        assert len({token for pair in second for token in pair}) == 1 and second[0] != first[0]
        await cluster.nodes[0].submit("new 1", "new 2")
        async with aiohttp.ClientSession() as http:
            resume = {"last_event_id": str(kept + 2), "epoch": first[0][0]}
            async with http.get(f"{cluster.nodes[1].url}/stream", params=resume) as stream:
                got = await events(stream, 2)
        assert [(m.id, m.data["text"]) for m in got] == [(f"{kept + 1}", "new 1"), (f"{kept + 2}", "new 2")]
