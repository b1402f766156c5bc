"""×N merging across `barrage serve` processes (tests/cluster.py) on PostgreSQL: the same text
sent to node a and node b at once makes one first, and every other copy joins it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.cluster import Cluster, event_log, eventually
from tests.server_process import AUTH

EACH = 40  # per node, sent concurrently


async def submit(http: aiohttp.ClientSession, url: str, text: str) -> int:
    async with http.post(f"{url}/api/barrages", json={"text": text}) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]


async def crowd(http: aiohttp.ClientSession, urls: list[str], texts: list[str]) -> list[int]:
    sends = [submit(http, url, texts[i % len(texts)]) for i in range(EACH) for url in urls]
    return list(await asyncio.gather(*sends))


async def test_the_same_text_on_two_nodes_at_once_makes_one_first(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_MODE": "manual"}
    async with Cluster(tmp_path, fresh_postgres_url, "redis", env=env) as cluster, \
            aiohttp.ClientSession() as http:
        urls = [node.url for node in cluster.nodes]
        ids = await crowd(http, urls, ["Happy New Year!", "happy new year", "HAPPY NEW YEAR"])
        async with http.get(f"{urls[1]}/api/barrages?status=pending", headers=AUTH) as resp:
            [first] = (await resp.json())["items"]
        assert first["count"] == 2 * EACH and first["id"] in ids
        async with http.post(f"{urls[0]}/api/barrages/{first['id']}/approve", json={"moderator": "Alice"},
                             headers=AUTH) as resp:
            assert resp.status == 200
        async with http.get(f"{urls[1]}/api/barrages?status=approved&limit=500", headers=AUTH) as resp:
            assert len((await resp.json())["items"]) == 2 * EACH

        async with http.put(f"{urls[0]}/api/mode", json={"mode": "off"}, headers=AUTH) as resp:
            assert resp.status == 200

        async def both_off() -> bool:
            modes = []
            for url in urls:
                async with http.get(f"{url}/api/mode", headers=AUTH) as resp:
                    modes.append((await resp.json())["mode"])
            return modes == ["off", "off"]

        await eventually(both_off)
        # Many texts, each sent to both nodes at the same moment: each one's first is a race.
        waves = await crowd(http, urls, [f"wave {n}" for n in range(EACH // 2)])
        async with http.get(f"{urls[0]}/api/barrages?status=approved&limit=500", headers=AUTH) as resp:
            stored = [b for b in (await resp.json())["items"] if b["id"] in waves]
        firsts = [b for b in stored if b["merged_into"] is None]
        assert len(stored) == 2 * EACH and len(firsts) == EACH // 2
        assert sorted(b["count"] for b in firsts) == [4] * (EACH // 2)
        flown = await crowd(http, urls, ["Encore!", "encore", "ENCORE!!"])
        log = [e for e in await event_log(fresh_postgres_url) if e.payload.get("id") in [*flown, *ids]]
        barrages = [e for e in log if e.kind == "barrage"]
        merges = [e for e in log if e.kind == "merge"]
        # Each text flies once. The first is whichever committed first, not the lowest id:
        # PostgreSQL hands out ids before the lock decides the order.
        [_, encore] = [e.payload["id"] for e in barrages]
        assert [e.payload["id"] for e in barrages] == [first["id"], encore] and encore in flown
        assert [e.payload for e in merges] == [
            {"id": encore, "count": n, "room": "main"} for n in range(2, 2 * EACH + 1)]
