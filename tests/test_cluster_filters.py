"""Filter rules across `barrage serve` processes (tests/cluster.py): a rule added through node a
blocks on node b (b rebuilt its matcher on the `filters` event), and a rule deleted through b
no longer blocks on a."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.cluster import BUSES, Cluster, eventually
from tests.server_process import AUTH


async def submit(http: aiohttp.ClientSession, url: str, text: str) -> dict[str, Any]:
    async with http.post(f"{url}/api/barrages", json={"text": text}) as resp:
        assert resp.status == 201
        return await resp.json()


async def patterns(http: aiohttp.ClientSession, url: str) -> list[str]:
    """The rules in force on that node (its matcher's, not a fresh read)."""
    async with http.get(f"{url}/api/filters", headers=AUTH) as resp:
        return [rule["pattern"] for rule in (await resp.json())["rules"]]


@pytest.mark.parametrize("bus", BUSES)
async def test_a_rule_added_on_one_node_blocks_on_the_other(bus: str, tmp_path: Path,
                                                            fresh_postgres_url: str) -> None:
    env = {"BARRAGE_MODERATION_MODE": "auto"}
    async with Cluster(tmp_path, fresh_postgres_url, bus, env=env) as cluster, \
            aiohttp.ClientSession() as http:
        a, b = cluster.nodes
        assert (await submit(http, b.url, "so b.a.d"))["status"] == "approved"
        async with http.post(f"{a.url}/api/filters", json={"pattern": "bad"}, headers=AUTH) as resp:
            assert resp.status == 201
            rule = await resp.json()
        await eventually(lambda: patterns(http, b.url), timeout=30)  # b heard of it
        assert await submit(http, b.url, "so ｂ ａ ｄ") == {
            "id": 2, "status": "rejected", "reason": "blocked word", "screens": 0}
        async with http.delete(f"{b.url}/api/filters/{rule['id']}", headers=AUTH) as resp:
            assert resp.status == 204

        async def a_forgot() -> bool:
            return await patterns(http, a.url) == []

        await eventually(a_forgot, timeout=30)
        assert (await submit(http, a.url, "so bad"))["status"] == "approved"
