"""Expiry across `barrage serve` processes (tests/cluster.py): both nodes run the expiry pass
on one PostgreSQL database, and each pending barrage still expires exactly once, with one
`expired` event that both nodes' admin streams carry."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.cluster import BUSES, Cluster, Follower, event_log, eventually
from tests.server_process import AUTH

PER_NODE = 15


async def submit(http: aiohttp.ClientSession, url: str, text: str) -> int:
    async with http.post(f"{url}/api/barrages", json={"text": text}) as resp:
        assert resp.status == 201
        return (await resp.json())["id"]


def expired_ids(follower: Follower) -> list[int]:
    return [event.data["id"] for event in follower.events if event.event == "expired"]


@pytest.mark.parametrize("bus", BUSES)
async def test_each_barrage_expires_once_whichever_node_runs_the_pass(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_PENDING_TTL_SECONDS": "1"}
    async with Cluster(tmp_path, fresh_postgres_url, bus, env=env) as cluster, \
            aiohttp.ClientSession() as http:
        a, b = cluster.nodes
        async with Follower(f"{a.url}/api/stream", admin=True, last_id=0) as on_a, \
                Follower(f"{b.url}/api/stream", admin=True, last_id=0) as on_b:
            ids = [await submit(http, node.url, f"{node.port} {n}")
                   for n in range(PER_NODE) for node in (a, b)]
            await eventually(lambda: min(len(expired_ids(on_a)), len(expired_ids(on_b))) >= len(ids))
            assert sorted(expired_ids(on_a)) == sorted(expired_ids(on_b)) == sorted(ids)
        log = await event_log(fresh_postgres_url)
        assert Counter(row.payload["id"] for row in log if row.kind == "expired") == Counter(ids)
        async with http.get(f"{b.url}/api/barrages?status=pending",
                            headers=AUTH) as resp:
            assert (await resp.json())["items"] == []
