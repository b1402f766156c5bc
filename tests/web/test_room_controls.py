"""Live controls over real HTTP: pause, resume, clear and the announcement from the API, as
events on the room's screen streams (replayed on Last-Event-ID), and the `state` event every
screen stream opens with."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.conftest import AUTH
from tests.sse import next_block, next_event
from tests.web.test_rooms import make_room
from tests.web.test_stream import wait_for_screens

STATE_KEYS = {"paused", "announcement", "title", "join_text", "crossing_seconds", "epoch", "epoch_start"}


async def control(client: TestClient, slug: str, name: str, status: int = 200, **kw: Any) -> Any:
    resp = await client.post(f"/api/rooms/{slug}/{name}", headers=AUTH, **kw)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def announce(client: TestClient, slug: str, text: object, status: int = 200) -> Any:
    resp = await client.put(f"/api/rooms/{slug}/announcement", json={"text": text}, headers=AUTH)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def first_state(stream: ClientResponse) -> dict[str, Any]:
    """The stream's opening: the preamble, then `state` with no id."""
    assert "connected" in (await next_block(stream)).comments
    state = await next_block(stream)
    assert (state.event, state.id) == ("state", None)
    return state.data


async def test_controls_answer_the_room_as_it_now_is(client: TestClient) -> None:
    paused = await control(client, "main", "pause")
    assert (paused["slug"], paused["paused"], paused["screens"]) == ("main", True, 0)
    assert (await control(client, "main", "pause", json={"moderator": "Alice"}))["paused"]
    assert not (await control(client, "main", "resume"))["paused"]
    assert (await control(client, "main", "clear"))["paused"] is False
    assert (await announce(client, "main", "  Q&A after the talk "))["announcement"] == "Q&A after the talk"
    got = await (await client.get("/api/rooms/main", headers=AUTH)).json()
    assert got["announcement"] == "Q&A after the talk"
    assert (await announce(client, "main", None))["announcement"] is None


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "  "}, {"text": "x" * 201}, {"text": "a\nb"},
                                  {"text": 5}, {}, {"text": "ok", "moderator": 3}])
async def test_a_bad_announcement_is_400(client: TestClient, body: dict[str, Any]) -> None:
    resp = await client.put("/api/rooms/main/announcement", json=body, headers=AUTH)
    assert resp.status == 400 and "error" in await resp.json()


async def test_a_moderators_name_is_cleaned_and_cut_before_the_log(open_client: TestClient) -> None:
    """A name with a line break cannot forge a log line, nor pages of it fill the desks."""
    async with open_client.get("/api/stream", headers=AUTH) as admin:
        forged = "Alice\n2026-12-31 ERROR forged line" + "x" * 5_000
        await control(open_client, "main", "pause", json={"moderator": forged})
        resp = await open_client.post("/api/rooms/main/lottery", json={"winners": 1, "moderator": forged},
                                      headers=AUTH)
        assert resp.status == 409  # nobody to draw: refused after the name was read
        while (message := await next_event(admin)).event != "pause":
            pass
    by = message.data["by"]
    assert "\n" not in by and by.startswith("Alice 2026-12-31") and len(by) <= 64


async def test_controls_need_the_admin_token_and_a_room_that_exists(client: TestClient) -> None:
    for name in ("pause", "resume", "clear"):
        assert (await client.post(f"/api/rooms/main/{name}")).status == 401
        await control(client, "nowhere", name, status=404)
    assert (await client.put("/api/rooms/main/announcement", json={"text": "x"})).status == 401
    await announce(client, "nowhere", "hi", status=404)


async def test_every_screen_stream_opens_with_the_rooms_state(open_client: TestClient) -> None:
    await make_room(open_client, slug="hall-b", title="Hall B", crossing_seconds=12)
    async with open_client.get("/stream?room=hall-b") as screen:
        state = await first_state(screen)
        assert set(state) == STATE_KEYS
        assert state == {"paused": False, "announcement": None, "title": "Hall B",
                         "join_text": state["join_text"], "crossing_seconds": 12.0,
                         "epoch": state["epoch"], "epoch_start": 0}
        assert state["join_text"].endswith("/send?room=hall-b")  # the effective text, not ""
    await control(open_client, "hall-b", "pause")
    await announce(open_client, "hall-b", "Back at 3 · 三点回来")
    for headers in ({}, {"Last-Event-ID": "0"}):
        async with open_client.get("/stream?room=hall-b", headers=headers) as screen:
            state = await first_state(screen)
            assert (state["paused"], state["announcement"]) == (True, "Back at 3 · 三点回来")
    async with open_client.get("/stream") as main:  # another room's state is its own
        assert (await first_state(main))["paused"] is False


async def test_controls_reach_the_rooms_screens_and_are_replayed(open_client: TestClient) -> None:
    await make_room(open_client, slug="hall-b")
    async with open_client.get("/stream?room=hall-b") as screen, open_client.get("/stream") as main:
        await wait_for_screens(open_client, 2)
        await control(open_client, "hall-b", "pause", json={"moderator": "Alice"})
        await control(open_client, "hall-b", "resume")
        await control(open_client, "hall-b", "clear")
        await announce(open_client, "hall-b", "Q&A")
        await announce(open_client, "hall-b", None)
        live = [await next_event(screen) for _ in range(5)]
        assert [(m.event, m.data) for m in live] == [
            ("pause", {}), ("resume", {}), ("clear", {}), ("announce", {"text": "Q&A"}),
            ("announce", {"text": None})]
        assert all(int(m.id) > 0 for m in live)  # in the log: "by" stays off the public screen
        # main's screen got none of it: the next thing it sees is its own.
        await control(open_client, "main", "clear")
        assert (await next_event(main)).event == "clear"
    async with open_client.get("/stream?room=hall-b", headers={"Last-Event-ID": live[0].id}) as again:
        replayed = [await next_event(again) for _ in range(4)]
        assert [(m.id, m.event) for m in replayed] == [(m.id, m.event) for m in live[1:]]
