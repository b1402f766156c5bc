"""Senders across real `barrage serve` processes: a mute made on one node refuses on the
others (the `mutes` event), and slow mode and "already sent" hold whichever node takes the
submission (marks on Redis, or in the database on a PostgreSQL bus). A phone is one cookie
jar: the device key is the database's, so its cookie is valid on every node."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from tests.cluster import BUSES, Cluster, eventually
from tests.server_process import AUTH


def phone() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # nodes are 127.0.0.1


async def send(http: aiohttp.ClientSession, url: str, text: str) -> tuple[int, dict]:
    async with http.post(f"{url}/api/barrages", json={"text": text}) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("bus", BUSES)
async def test_a_mute_made_on_one_node_refuses_on_another(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    async with Cluster(tmp_path, fresh_postgres_url, bus) as cluster, phone() as http:
        a, b = cluster.nodes
        assert (await send(http, b.url, "hello"))[0] == 201
        async with http.get(f"{a.url}/api/barrages", headers=AUTH) as resp:
            sender = (await resp.json())["items"][0]["sender"]
        mute = {"sender": sender, "minutes": 10}
        async with http.post(f"{a.url}/api/mutes", json=mute, headers=AUTH) as resp:
            assert resp.status == 201
            until = (await resp.json())["until"]

        async def refused_on_b() -> bool:
            status, body = await send(http, b.url, "let me in")
            return status == 403 and body["until"] == until

        await eventually(refused_on_b)
        async with http.delete(f"{b.url}/api/mutes/{quote(sender, safe='')}", headers=AUTH) as resp:
            assert resp.status == 204

        async def accepted_on_a() -> bool:
            return (await send(http, a.url, "back again"))[0] == 201

        await eventually(accepted_on_a)


@pytest.mark.parametrize("bus", BUSES)  # Redis: its marks; PostgreSQL alone: the `mark` table
async def test_slow_mode_and_already_sent_hold_across_nodes(
    bus: str, tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_SLOW_MODE_SECONDS": "60", "BARRAGE_MODERATION_REPEAT_SECONDS": "60"}
    async with Cluster(tmp_path, fresh_postgres_url, bus, env=env) as cluster, phone() as http:
        a, b = cluster.nodes
        assert (await send(http, a.url, "Hello!!"))[0] == 201
        assert await send(http, b.url, "hello") == (
            409, {"error": "already sent: you sent the same message less than 60 s ago"})
        status, body = await send(http, b.url, "something else")
        assert status == 429 and body["error"].startswith("slow mode is on: wait ")

        # Ten at once from another phone, over both nodes: one gets in.
        async with phone() as other:
            await send(other, a.url, "")  # a 400 that hands the phone its cookie
            answers = await asyncio.gather(*(send(other, (a, b)[n % 2].url, f"burst {n}") for n in range(10)))
        assert sorted(status for status, _ in answers) == [201] + [429] * 9
