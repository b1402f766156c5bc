"""/metrics on several `barrage serve` processes (tests/cluster.py): each node answers with its
own numbers (its submissions, its streams, its bus link); what the database holds (pending)
reads alike on every node."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.cluster import BUSES, Cluster, eventually
from tests.metrics_scrape import BEARER, METRICS_TOKEN, Scrape, scrape_url
from tests.server_process import AUTH

ENV = {"BARRAGE_METRICS_ENABLED": "true", "BARRAGE_METRICS_TOKEN": METRICS_TOKEN,
       "BARRAGE_MODERATION_MODE": "manual"}


@pytest.mark.parametrize("bus", BUSES)
async def test_each_node_answers_with_its_own_numbers(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    async with Cluster(tmp_path, fresh_postgres_url, bus, env=ENV) as cluster, \
            aiohttp.ClientSession() as http:
        a, b = cluster.nodes
        async with http.get(f"{a.url}/metrics") as resp:
            assert resp.status == 401
        # Start-up may publish (the first node seeds the rooms): counted from here.
        published = [(await scrape_url(http, f"{n.url}/metrics", BEARER)).value(
            "barrage_events_published_total") for n in (a, b)]
        await a.submit("one", "two")
        await b.submit("three")
        async with http.get(f"{b.url}/stream"):
            await b.wait_for_streams(1)
            found: dict[str, Scrape] = {}

            async def scraped() -> bool:
                found["a"], found["b"] = [await scrape_url(http, f"{n.url}/metrics", BEARER) for n in (a, b)]
                # pending: read from the database at most once a second (server/metrics.py)
                return all(s.value("barrage_bus_connected") == 1
                           and s.value("barrage_pending", room="main") == 3 for s in found.values())

            await eventually(scraped)
        assert [found[n].value("barrage_submissions_total", source="web", outcome="accepted")
                for n in "ab"] == [2, 1]
        assert [found[n].value("barrage_streams", room="main", audience="screen") for n in "ab"] == [0, 1]
        assert [found[n].value("barrage_pending", room="main") for n in "ab"] == [3, 3]  # the database's
        assert [found[n].value("barrage_events_published_total") - before
                for n, before in zip("ab", published, strict=True)] == [2, 1]
        async with http.get(f"{b.url}/api/barrages?status=pending", headers=AUTH) as resp:
            first = (await resp.json())["items"][0]["id"]
        async with http.post(f"{b.url}/api/barrages/{first}/approve", headers=AUTH) as resp:
            assert resp.status == 200
        after: list[Scrape] = []

        async def decided() -> bool:
            after[:] = [await scrape_url(http, f"{n.url}/metrics", BEARER) for n in (a, b)]
            return [s.value("barrage_pending", room="main") for s in after] == [2, 2]

        await eventually(decided)
        assert [s.value("barrage_decisions_total", verdict="approve", via="web") for s in after] == [0, 1]
