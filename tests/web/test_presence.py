"""Presence: live screens per room, over every node. A sender whose room has no screen is
told so (the 201's `screens`); /api/stats shows screens per room; a screen on node B counts
for a sender on node A (real processes, tests/cluster.py)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.store import SqlStore
from server.web.fanout import FanOut
from server.web.presence import PREFIX, STALE_SECONDS, Presence
from tests.cluster import BUSES, Cluster, Follower, eventually
from tests.conftest import AUTH
from tests.server_process import AUTH as NODE_AUTH
from tests.web.test_stream import wait_for_screens


async def sent(client: TestClient, **body: object) -> dict:
    resp = await client.post("/api/barrages", json={"text": "hi", **body})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_sender_is_told_whether_a_screen_shows_the_room(client: TestClient) -> None:
    assert (await sent(client))["screens"] == 0
    assert (await client.post("/api/rooms", json={"slug": "hall-b"}, headers=AUTH)).status == 201
    other_room = await client.get("/stream?room=hall-b")
    await wait_for_screens(client, 1)
    assert (await sent(client))["screens"] == 0  # hall-b's screen shows nothing of main
    assert (await sent(client, room="hall-b"))["screens"] == 1
    here = await client.get("/stream")
    await wait_for_screens(client, 2)
    assert (await sent(client))["screens"] == 1
    other_room.close()
    here.close()


async def test_stats_and_rooms_show_screens_per_room(client: TestClient) -> None:
    assert (await client.post("/api/rooms", json={"slug": "hall-b"}, headers=AUTH)).status == 201
    streams = [await client.get(url) for url in ("/stream", "/stream?room=hall-b", "/stream?room=hall-b")]
    await wait_for_screens(client, 3)
    stats = await (await client.get("/api/stats", headers=AUTH)).json()
    assert (stats["screens"], stats["screens_by_room"]) == (3, {"main": 1, "hall-b": 2})
    one = await (await client.get("/api/stats?room=hall-b", headers=AUTH)).json()
    assert (one["screens"], one["screens_by_room"]) == (2, {"hall-b": 2})
    room = await (await client.get("/api/rooms/hall-b", headers=AUTH)).json()
    assert room["screens"] == 2
    for stream in streams:
        stream.close()


async def test_other_nodes_rows_count_until_stale_then_go(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await store.create_schema()
    now = 10_000.0
    presence = Presence(FanOut(65536, 15), store, clock=lambda: now)
    await store.put_setting(f"{PREFIX}live", json.dumps({"at": now - 1, "rooms": {"main": 2, "b": 1}}), None)
    await store.put_setting(f"{PREFIX}dead", json.dumps({"at": now - STALE_SECONDS - 1,
                                                         "rooms": {"main": 5}}), None)
    await store.put_setting(f"{PREFIX}junk", "not json", None)
    await presence.sync()
    assert (presence.screens("main"), presence.screens("b"), presence.screens()) == (2, 1, 3)
    rows = await store.settings_under(PREFIX)
    assert set(rows) == {f"{PREFIX}live", presence._key}  # the stale and the unreadable are gone
    assert json.loads(rows[presence._key])["rooms"] == {}  # this node has no screen
    await presence.close()
    assert set(await store.settings_under(PREFIX)) == {f"{PREFIX}live"}  # its own row went with it
    await store.close()


async def stats(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(f"{url}/api/stats", headers=NODE_AUTH) as resp:
        return await resp.json()


@pytest.mark.parametrize("bus", BUSES)
async def test_a_screen_on_node_b_counts_for_a_sender_on_node_a(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    async with Cluster(tmp_path, fresh_postgres_url, bus) as cluster, aiohttp.ClientSession() as http:
        a, b = cluster.nodes
        async with http.post(f"{a.url}/api/barrages", json={"text": "anyone?"}) as resp:
            assert (await resp.json())["screens"] == 0
        async with Follower(f"{b.url}/stream"):
            await eventually(lambda: _counts(http, a.url, 1))
            async with http.post(f"{a.url}/api/barrages", json={"text": "hello"}) as resp:
                assert (await resp.json())["screens"] == 1
        await eventually(lambda: _counts(http, a.url, 0))  # b's screen went: a hears of it


async def _counts(http: aiohttp.ClientSession, url: str, screens: int) -> bool:
    body = await stats(http, url)
    return body["screens"] == screens and body["screens_by_room"] == {"main": screens}
