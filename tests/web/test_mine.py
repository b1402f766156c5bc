"""GET /api/my/barrages: a phone sees its own barrages and their status, never another's.

Each simulated phone holds its own cookie (the session keeps no jar), as in test_senders.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.web.mine import MINE
from tests.cluster import Cluster
from tests.conftest import AUTH, ClientFactory
from tests.server_process import AUTH as NODE_AUTH
from tests.web.test_senders import COOKIE, FORGED, device_cookie

Phone = dict[str, str]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def phone(http: aiohttp.ClientSession, client: TestClient) -> Phone:
    return {"Cookie": f"{COOKIE}={await device_cookie(http, client)}"}


async def send(http: aiohttp.ClientSession, base: str, phone: Phone, text: str, **extra: Any) -> int:
    async with http.post(f"{base}/api/barrages", json={"text": text, **extra}, headers=phone) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]


async def mine(http: aiohttp.ClientSession, base: str, headers: Phone | None = None) -> list[dict[str, Any]]:
    return (await answer(http, base, headers))["items"]


async def wins(http: aiohttp.ClientSession, base: str, headers: Phone | None = None) -> list[dict[str, Any]]:
    return (await answer(http, base, headers))["wins"]


async def answer(http: aiohttp.ClientSession, base: str, headers: Phone | None) -> dict[str, Any]:
    async with http.get(f"{base}/api/my/barrages", headers=headers or {}) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        return await resp.json()


def base(client: TestClient) -> str:
    return str(client.make_url("")).rstrip("/")


async def test_a_phone_sees_its_own_barrages_newest_first_and_another_phone_none_of_them(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client()
    await client.post("/api/rooms", json={"slug": "hall-b"}, headers=AUTH)
    alice, bob = await phone(http, client), await phone(http, client)
    first = await send(http, base(client), alice, "first")
    theirs = await send(http, base(client), bob, "bob's")
    second = await send(http, base(client), alice, "second", room="hall-b")

    items = await mine(http, base(client), alice)
    assert [(i["id"], i["text"], i["room"]) for i in items] == [(second, "second", "hall-b"),
                                                               (first, "first", "main")]
    assert set(items[0]) == {"id", "text", "status", "room", "created_at", "reason"}  # no sender
    assert [i["id"] for i in await mine(http, base(client), bob)] == [theirs]
    assert await mine(http, base(client), await phone(http, client)) == []


@pytest.mark.parametrize("cookie", [None, "nonsense", FORGED])
async def test_without_a_valid_cookie_the_list_is_empty(
    make_client: ClientFactory, http: aiohttp.ClientSession, cookie: str | None
) -> None:
    client = await make_client()
    await send(http, base(client), await phone(http, client), "someone's")
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    assert await mine(http, base(client), headers) == []


async def test_decisions_show_in_the_status(make_client: ClientFactory, http: aiohttp.ClientSession) -> None:
    client = await make_client()
    alice = await phone(http, client)
    kept, dropped, waiting = [await send(http, base(client), alice, t) for t in ("a", "b", "c")]
    assert {i["status"] for i in await mine(http, base(client), alice)} == {"pending"}
    await client.post(f"/api/barrages/{kept}/approve", headers=AUTH)
    await client.post(f"/api/barrages/{dropped}/reject", headers=AUTH)

    items = {i["id"]: i for i in await mine(http, base(client), alice)}
    statuses = {i: items[i]["status"] for i in items}
    assert statuses == {kept: "approved", dropped: "rejected", waiting: "pending"}
    assert items[dropped]["reason"] == "rejected by web moderator"
    assert items[kept]["reason"] is None


async def test_the_list_is_bounded_to_the_latest(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__max_per_minute=100)
    alice = await phone(http, client)
    ids = [await send(http, base(client), alice, f"n{n}") for n in range(MINE + 5)]
    assert [i["id"] for i in await mine(http, base(client), alice)] == ids[::-1][:MINE]


async def test_a_phone_a_draw_picked_is_told_and_no_other_phone_is(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    """Only approved barrages hold a ticket: Alice's is approved, Bob's still waits."""
    client = await make_client()
    await client.post("/api/rooms", json={"slug": "hall-b"}, headers=AUTH)
    alice, bob = await phone(http, client), await phone(http, client)
    approved = await send(http, base(client), alice, "pick me", room="hall-b")
    await send(http, base(client), bob, "still waiting", room="hall-b")
    await client.post(f"/api/barrages/{approved}/approve", headers=AUTH)
    assert await wins(http, base(client), alice) == []

    draws = []
    for _ in range(2):
        resp = await client.post("/api/rooms/hall-b/lottery", json={"winners": 1}, headers=AUTH)
        draws.append((await resp.json())["draw_id"])
    told = await wins(http, base(client), alice)
    assert [(w["draw_id"], w["room"]) for w in told] == [(draws[1], "hall-b"), (draws[0], "hall-b")]
    assert told[0]["event_id"] > told[1]["event_id"]  # newest first
    assert await wins(http, base(client), bob) == []
    assert await wins(http, base(client)) == []  # no cookie: nobody's


async def test_any_node_answers_from_the_database(tmp_path: Path, fresh_postgres_url: str) -> None:
    """Sent through one process, decided through another: each shows the phone the truth."""
    async with (Cluster(tmp_path, fresh_postgres_url, "redis") as cluster,
                aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http):
        a, b = cluster.nodes
        async with http.get(f"{a.url}/send") as resp:
            alice = {"Cookie": f"{COOKIE}={resp.cookies[COOKIE].value}"}
        sent = await send(http, a.url, alice, "hello")
        assert [(i["id"], i["status"]) for i in await mine(http, b.url, alice)] == [(sent, "pending")]
        async with http.post(f"{b.url}/api/barrages/{sent}/approve", headers=NODE_AUTH) as resp:
            assert resp.status == 200
        assert [i["status"] for i in await mine(http, a.url, alice)] == ["approved"]
