"""Retract across `barrage serve` processes (tests/cluster.py): retracted on node a, a screen on
node b drops it, and b's replays (from its memory and from the log) never carry it again."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.cluster import BUSES, Cluster
from tests.server_process import AUTH
from tests.sse import next_event


async def submit(http: aiohttp.ClientSession, url: str, text: str) -> int:
    async with http.post(f"{url}/api/barrages", json={"text": text}) as resp:
        assert resp.status == 201
        return (await resp.json())["id"]


async def replayed(http: aiohttp.ClientSession, url: str, after: int, until: int) -> list[tuple[str, int]]:
    """What a screen replaying after event `after` gets, up to barrage `until` (the positive signal)."""
    got: list[tuple[str, int]] = []
    async with http.get(f"{url}/stream", headers={"Last-Event-ID": str(after)}) as screen:
        while not got or got[-1] != ("barrage", until):
            message = await next_event(screen, 15)
            got.append((message.event, message.data["id"]))
    return got


@pytest.mark.parametrize("bus", BUSES)
async def test_retracted_on_one_node_is_dropped_and_never_replayed_on_the_other(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_MODE": "off"}
    async with Cluster(tmp_path, fresh_postgres_url, bus, env=env) as cluster, \
            aiohttp.ClientSession() as http:
        a, b = cluster.nodes
        async with http.get(f"{b.url}/stream") as screen:
            await b.wait_for_streams(1)
            kept = await submit(http, a.url, "kept")
            gone = await submit(http, a.url, "gone")
            shown = [await next_event(screen, 15) for _ in range(2)]
            assert [m.data["id"] for m in shown] == [kept, gone]
            before_gone = int(shown[0].id)
            async with http.post(f"{a.url}/api/barrages/{gone}/retract", json={"moderator": "Alice"},
                                 headers=AUTH) as resp:
                assert resp.status == 200
            dropped = await next_event(screen, 15)
            assert (dropped.event, dropped.data) == ("retract", {"id": gone})
        last = await submit(http, a.url, "last")
        expected = [("retract", gone), ("barrage", last)]
        # b's recent history (held in memory since it started), then the whole log from 0
        assert await replayed(http, b.url, before_gone, last) == expected
        assert await replayed(http, b.url, 0, last) == [("barrage", kept), *expected]
