"""Rooms over real HTTP: the /api/rooms contract, `room` on every route that reads or writes
barrages, one room's stream never carrying another's, and an unknown room a 404 everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.config import load_config
from tests.conftest import ADMIN_TOKEN, AUTH, ClientFactory
from tests.sse import next_event
from tests.web.test_stream import wait_for_screens

ROOM_KEYS = {"slug", "title", "join_text", "mode", "crossing_seconds", "paused", "announcement", "screens"}


async def make_room(client: TestClient, **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/rooms", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_rooms_are_made_listed_read_and_changed(client: TestClient) -> None:
    listed = await (await client.get("/api/rooms", headers=AUTH)).json()
    assert [room["slug"] for room in listed["rooms"]] == ["main"]
    hall = await make_room(client, slug="hall-b", title="Hall B", join_text="Scan me", mode="off",
                           crossing_seconds=10)
    assert hall == {"slug": "hall-b", "title": "Hall B", "join_text": "Scan me", "mode": "off",
                    "crossing_seconds": 10.0, "paused": False, "announcement": None, "screens": 0}
    plain = await make_room(client, slug="side")
    assert set(plain) == ROOM_KEYS and plain["title"] == "side" and plain["mode"] == "manual"
    resp = await client.patch("/api/rooms/hall-b", json={"title": "Hall B+", "crossing_seconds": 6},
                              headers=AUTH)
    assert resp.status == 200 and (await resp.json())["title"] == "Hall B+"
    got = await (await client.get("/api/rooms/hall-b", headers=AUTH)).json()
    assert (got["title"], got["crossing_seconds"], got["join_text"]) == ("Hall B+", 6.0, "Scan me")
    listed = await (await client.get("/api/rooms", headers=AUTH)).json()
    assert [room["slug"] for room in listed["rooms"]] == ["main", "hall-b", "side"]


@pytest.mark.parametrize(("body", "status"), [
    ({"slug": "main"}, 409),
    ({"slug": "Main"}, 400), ({"slug": "-a"}, 400), ({"slug": "a" * 33}, 400), ({}, 400),
    ({"slug": "ok", "mode": "maybe"}, 400), ({"slug": "ok", "crossing_seconds": 0}, 400),
    ({"slug": "ok", "paused": True}, 400),
])
async def test_a_taken_or_bad_room_is_refused(client: TestClient, body: dict, status: int) -> None:
    resp = await client.post("/api/rooms", json=body, headers=AUTH)
    assert resp.status == status and "error" in await resp.json()
    assert len((await (await client.get("/api/rooms", headers=AUTH)).json())["rooms"]) == 1


async def test_the_rooms_api_needs_the_admin_token(client: TestClient) -> None:
    for method, path in (("GET", "/api/rooms"), ("POST", "/api/rooms"), ("GET", "/api/rooms/main"),
                         ("PATCH", "/api/rooms/main")):
        assert (await client.request(method, path, json={"slug": "x"})).status == 401


async def test_an_unknown_room_is_a_404_on_every_route_that_names_one(client: TestClient) -> None:
    await make_room(client, slug="known")
    for method, path, body, auth in [
        ("POST", "/api/barrages", {"text": "hi", "room": "nowhere"}, {}),
        ("GET", "/api/barrages?room=nowhere", None, AUTH),
        ("GET", "/api/rooms/nowhere", None, AUTH),
        ("PATCH", "/api/rooms/nowhere", {"title": "x"}, AUTH),
        ("GET", "/api/mode?room=nowhere", None, AUTH),
        ("PUT", "/api/mode?room=nowhere", {"mode": "off"}, AUTH),
        ("GET", "/api/stats?room=nowhere", None, AUTH),
        ("GET", "/api/screen-config?room=nowhere", None, {}),
        ("GET", "/stream?room=nowhere", None, {}),
        ("GET", "/api/stream?room=nowhere", None, AUTH),
        ("GET", "/screen?room=nowhere", None, {}),
        ("GET", "/send?room=nowhere", None, {}),
        ("GET", "/moderate?room=nowhere", None, {}),
    ]:
        resp = await client.request(method, path, json=body, headers=auth)
        assert resp.status == 404, (method, path, resp.status)
    for page in ("/screen", "/send", "/moderate"):
        assert (await client.get(f"{page}?room=known")).status == 200
    assert (await client.post("/api/barrages", json={"text": "hi", "room": 5})).status == 400


async def test_barrages_carry_their_room_and_list_by_room(open_client: TestClient) -> None:
    await make_room(open_client, slug="hall-b", mode="manual")
    main = await (await open_client.post("/api/barrages", json={"text": "in main"})).json()
    hall = await (await open_client.post("/api/barrages", json={"text": "in B", "room": "hall-b"})).json()
    assert (main["status"], hall["status"]) == ("approved", "pending")  # each room's own mode
    items = (await (await open_client.get("/api/barrages?room=hall-b", headers=AUTH)).json())["items"]
    assert [(b["id"], b["room"]) for b in items] == [(hall["id"], "hall-b")]
    every = (await (await open_client.get("/api/barrages", headers=AUTH)).json())["items"]
    assert [b["room"] for b in every] == ["main", "hall-b"]


async def test_a_rooms_mode_is_its_own(client: TestClient) -> None:
    await make_room(client, slug="hall-b")
    resp = await client.put("/api/mode?room=hall-b", json={"mode": "off"}, headers=AUTH)
    assert await resp.json() == {"mode": "off", "room": "hall-b"}
    assert await (await client.get("/api/mode", headers=AUTH)).json() == {"mode": "manual", "room": "main"}
    reply = await (await client.post("/api/barrages", json={"text": "x", "room": "hall-b"})).json()
    assert reply["status"] == "approved"


async def test_a_screen_gets_its_own_rooms_barrages_only(open_client: TestClient) -> None:
    await make_room(open_client, slug="hall-b", mode="off")
    async with open_client.get("/stream?room=hall-b") as hall_b, open_client.get("/stream") as main, \
            open_client.get("/api/stream", headers=AUTH) as everything:
        await wait_for_screens(open_client, 2)
        for text, room in (("for main", None), ("for B", "hall-b"), ("main again", None)):
            body = {"text": text} | ({"room": room} if room else {})
            assert (await open_client.post("/api/barrages", json=body)).status == 201
        first, second = await next_event(main), await next_event(main)
        assert [first.data["text"], second.data["text"]] == ["for main", "main again"]
        only = await next_event(hall_b)
        assert (only.event, only.data["text"], only.data["room"]) == ("barrage", "for B", "hall-b")
        seen = [(await next_event(everything)).data.get("room") for _ in range(3)]
        assert seen == ["main", "hall-b", "main"]
    # A replay from 0 is the room's alone too; the sentinel proves nothing else was coming.
    sentinel = await (await open_client.post("/api/barrages", json={"text": "end", "room": "hall-b"})).json()
    async with open_client.get("/stream?room=hall-b", headers={"Last-Event-ID": "0"}) as replay:
        texts = [(await next_event(replay)).data["text"] for _ in range(2)]
        assert texts == ["for B", "end"] and sentinel["id"]


async def test_patching_a_room_tells_its_screens(open_client: TestClient) -> None:
    await make_room(open_client, slug="hall-b")
    async with open_client.get("/stream?room=hall-b") as screen:
        await wait_for_screens(open_client, 1)
        resp = await open_client.patch("/api/rooms/hall-b", json={"crossing_seconds": 5, "title": "B"},
                                       headers=AUTH)
        assert resp.status == 200
        message = await next_event(screen)
        assert message.event == "settings" and int(message.id) > 0
        assert message.data == {"title": "B", "crossing_seconds": 5.0}
    config = await (await open_client.get("/api/screen-config?room=hall-b")).json()
    assert (config["room"], config["title"], config["crossing_seconds"]) == ("hall-b", "B", 5.0)
    assert config["join_text"].endswith("/send?room=hall-b")


async def test_the_config_seeds_its_rooms(make_client: ClientFactory, tmp_path: Any) -> None:
    config = load_config(None, env={}, overrides={
        "server": {"admin_token": ADMIN_TOKEN},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'seeded.db'}"},
        "rooms": [{"slug": "hall-a", "title": "Hall A", "mode": "off", "telegram_chats": [-100123]},
                  {"slug": "main", "title": "Keynote"}],
    })
    client = await make_client(config)
    rooms = (await (await client.get("/api/rooms", headers=AUTH)).json())["rooms"]
    assert [(r["slug"], r["title"], r["mode"]) for r in rooms] == [
        ("main", "Keynote", "manual"), ("hall-a", "Hall A", "off")]
