"""Live controls across real `barrage serve` processes: a pause written on one node reaches
the screens of another, and a screen opened there later starts paused."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.cluster import BUSES, Cluster
from tests.server_process import AUTH
from tests.sse import next_block, next_event


async def opening_state(screen: aiohttp.ClientResponse) -> dict:
    assert "connected" in (await next_block(screen, 15)).comments
    state = await next_block(screen, 15)
    assert state.event == "state"
    return state.data


@pytest.mark.parametrize("bus", BUSES)
async def test_a_pause_on_one_node_reaches_the_other_nodes_screens_and_its_new_ones(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    async with Cluster(tmp_path, fresh_postgres_url, bus) as cluster, aiohttp.ClientSession() as http:
        a, b = cluster.nodes
        async with http.get(f"{b.url}/stream") as screen:
            # The state is written in the same step as the stream joins the fan-out: B's screen
            # is listening once it has it.
            assert (await opening_state(screen))["paused"] is False
            async with http.post(f"{a.url}/api/rooms/main/pause", headers=AUTH) as resp:
                assert resp.status == 200 and (await resp.json())["paused"] is True
            paused = await next_event(screen, 15)
            assert (paused.event, paused.data) == ("pause", {})
        async with http.get(f"{b.url}/stream") as later:
            assert (await opening_state(later))["paused"] is True
        async with http.get(f"{b.url}/api/rooms/main", headers=AUTH) as resp:
            assert (await resp.json())["paused"] is True
