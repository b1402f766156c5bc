"""The lottery across `barrage serve` processes: a draw on one node reaches the screens of
another, and `exclude_previous` there knows the first node's winners (the log is shared)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.cluster import BUSES, Cluster
from tests.server_process import AUTH
from tests.sse import next_event


@pytest.mark.parametrize("bus", BUSES)
async def test_a_draw_on_one_node_shows_on_the_other_and_is_excluded_there(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_MODE": "off"}
    async with Cluster(tmp_path, fresh_postgres_url, bus, env=env) as cluster, \
            aiohttp.ClientSession() as http:
        a, b = cluster.nodes
        for name in ("Ann", "Bo", "Cy"):
            async with aiohttp.ClientSession() as device:  # a new device: a new sender
                async with device.post(f"{a.url}/api/barrages", json={"text": "me", "author": name}) as resp:
                    assert resp.status == 201
        async with http.get(f"{b.url}/stream") as screen:
            await b.wait_for_streams(1)
            draw = f"{a.url}/api/rooms/main/lottery"
            async with http.post(draw, json={"winners": 2}, headers=AUTH) as resp:
                assert resp.status == 201
                first = await resp.json()
            while (shown := await next_event(screen, 15)).event != "lottery":
                pass
            assert shown.data == first
        async with http.post(f"{b.url}/api/rooms/main/lottery", json={"winners": 1, "exclude_previous": True},
                             headers=AUTH) as resp:
            assert resp.status == 201
            second = await resp.json()
        assert second["pool"] == 1
        names = {w["author"] for w in first["winners"] + second["winners"]}
        assert names == {"Ann", "Bo", "Cy"}
