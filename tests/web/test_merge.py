"""×N merging over HTTP: 200 phones sending one text make one pending item (manual) or one
flying item and `merge` events on a real SSE client (mode off), replayed like any event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import AUTH, ClientFactory
from tests.sse import events
from tests.web.test_mine import Phone, base, mine, phone, send
from tests.web.test_stream import wait_for_screens

CROWD = 200
TEXTS = ["Happy New Year!", "happy new year", "HAPPY NEW YEAR!!!", "Happy  New  Year 🎉"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def crowd(http: aiohttp.ClientSession, client: TestClient) -> list[Phone]:
    return list(await asyncio.gather(*(phone(http, client) for _ in range(CROWD))))


async def all_send(http: aiohttp.ClientSession, client: TestClient, phones: list[Phone]) -> list[int]:
    url = base(client)
    sends = (send(http, url, p, TEXTS[i % len(TEXTS)]) for i, p in enumerate(phones))
    return list(await asyncio.gather(*sends))


async def test_200_phones_make_one_pending_item_and_all_see_the_verdict(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__mode="manual")
    phones = await crowd(http, client)
    ids = await all_send(http, client, phones)
    [item] = (await (await client.get("/api/barrages?status=pending", headers=AUTH)).json())["items"]
    assert item["count"] == CROWD and item["id"] in ids
    stats = await (await client.get("/api/stats", headers=AUTH)).json()
    assert stats["pending"] == 1
    every = (await (await client.get("/api/barrages?limit=500", headers=AUTH)).json())["items"]
    repeats = [b for b in every if b["id"] != item["id"]]
    assert len(repeats) == CROWD - 1
    assert {(b["status"], b["merged_into"]) for b in repeats} == {("pending", item["id"])}

    resp = await client.post(f"/api/barrages/{item['id']}/approve", json={"moderator": "Alice"}, headers=AUTH)
    assert resp.status == 200 and (await resp.json())["count"] == CROWD
    url = base(client)
    for p in phones:
        [own] = await mine(http, url, p)
        assert own["status"] == "approved"
    approved = (await (await client.get(f"/api/barrages?status=approved&limit={CROWD}", headers=AUTH)).json())
    assert len(approved["items"]) == CROWD and {b["decided_by"] for b in approved["items"]} == {"Alice"}


async def test_200_phones_in_mode_off_make_one_flying_item_and_merge_events_replayed(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__mode="off")
    phones = await crowd(http, client)
    screen = await client.get("/stream")
    await wait_for_screens(client, 1)
    ids = await all_send(http, client, phones)
    got = await events(screen, CROWD)
    first = got[0]
    assert first.event == "barrage" and first.data["id"] == min(ids) and first.data["count"] == 1
    assert [m.event for m in got[1:]] == ["merge"] * (CROWD - 1)
    assert [m.data for m in got[1:]] == [{"id": first.data["id"], "count": n} for n in range(2, CROWD + 1)]

    replay = await client.get("/stream", headers={"Last-Event-ID": first.id})  # History, in memory
    again = await events(replay, CROWD - 1)
    assert [(m.id, m.event, m.data) for m in again] == [(m.id, m.event, m.data) for m in got[1:]]
    admin = await client.get("/api/stream", headers={**AUTH, "Last-Event-ID": "0"})  # from the log
    logged = [m for m in await events(admin, CROWD + 1) if m.event != "room"]  # main's creation first
    assert [m.event for m in logged] == ["barrage"] + ["merge"] * (CROWD - 1)
    assert logged[-1].data == {"id": first.data["id"], "count": CROWD, "room": "main"}
    for stream in (screen, replay, admin):
        stream.close()


async def test_a_retracted_first_takes_its_merges_out_of_the_replay(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__mode="off")
    a, b = await phone(http, client), await phone(http, client)
    first = await send(http, base(client), a, "encore")
    await send(http, base(client), b, "Encore!")
    resp = await client.post(f"/api/barrages/{first}/retract", json={"moderator": "Alice"}, headers=AUTH)
    assert resp.status == 200
    replay = await client.get("/stream", headers={"Last-Event-ID": "0"})
    [only] = await events(replay, 1)
    assert only.event == "retract"
    replay.close()
