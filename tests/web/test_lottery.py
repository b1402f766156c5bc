"""The lottery over real HTTP: distinct winners by sender, 409 for a small pool, `since`,
`exclude_previous`, the `lottery` event on the room's screens, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.core.model import Source, Verdict
from server.core.service import Submission
from server.web.keys import SERVICE
from tests.conftest import AUTH, ClientFactory
from tests.sse import next_event
from tests.web.test_rooms import make_room


async def send(client: TestClient, sender: str, text: str = "hi", author: str = "A", *,
               room: str = "main", source: Source = Source.TELEGRAM, verdict: Verdict | None = None) -> int:
    service = client.app[SERVICE]
    receipt = await service.submit(Submission(text=text, author=author, source=source,
                                              sender_key=sender, room=room))
    if verdict is not None:
        await service.decide(receipt.barrage.id, verdict, "Mo")
    return receipt.barrage.id


async def draw(client: TestClient, room: str = "main", status: int = 201, **body: Any) -> dict[str, Any]:
    resp = await client.post(f"/api/rooms/{room}/lottery", json=body, headers=AUTH)
    assert resp.status == status, await resp.text()
    return await resp.json()


@pytest.fixture
async def hall(make_client: ClientFactory) -> TestClient:
    """A room, `hall`, whose barrages go on screen at once."""
    client = await make_client()
    await make_room(client, slug="hall", mode="off")
    return client


async def test_winners_are_distinct_senders_each_with_one_ticket(hall: TestClient) -> None:
    for n in range(5):
        for repeat in range(3):  # three messages: still one ticket
            await send(hall, f"telegram:{n}", f"msg {repeat}", f"Person {n}", room="hall")
    result = await draw(hall, "hall", winners=5)
    assert set(result) == {"draw_id", "winners", "pool"} and result["pool"] == 5
    assert sorted(w["author"] for w in result["winners"]) == [f"Person {n}" for n in range(5)]
    assert all(w == {"author": w["author"], "source": "telegram"} for w in result["winners"])
    await draw(hall, "hall", status=409, winners=6)


async def test_the_author_shown_is_the_one_on_the_latest_approved_barrage(hall: TestClient) -> None:
    await send(hall, "slack:T:U1", author="Old name", room="hall", source=Source.SLACK)
    await send(hall, "slack:T:U1", author="New name", room="hall", source=Source.SLACK)
    assert (await draw(hall, "hall", winners=1))["winners"] == [{"author": "New name", "source": "slack"}]


async def test_only_approved_barrages_in_the_room_make_a_ticket(client: TestClient) -> None:
    await make_room(client, slug="other", mode="off")
    await send(client, "telegram:approved", author="Yes", verdict=Verdict.APPROVE)
    await send(client, "telegram:pending", author="Waiting")
    await send(client, "telegram:rejected", author="No", verdict=Verdict.REJECT)
    await send(client, "telegram:elsewhere", author="Elsewhere", room="other")
    result = await draw(client, winners=1)
    assert (result["pool"], result["winners"][0]["author"]) == (1, "Yes")
    await draw(client, status=409, winners=2)


async def test_since_leaves_out_earlier_senders(hall: TestClient) -> None:
    await send(hall, "telegram:early", author="Early", room="hall")
    await send(hall, "telegram:late", author="Late", room="hall")
    listed = await (await hall.get("/api/barrages?room=hall", headers=AUTH)).json()
    early, late = (item["created_at"] for item in listed["items"])  # stored times: no clock games
    assert early < late
    assert (await draw(hall, "hall", winners=2, since="2000-01-01T00:00:00+08:00"))["pool"] == 2
    result = await draw(hall, "hall", winners=1, since=late)  # inclusive
    assert (result["pool"], result["winners"][0]["author"]) == (1, "Late")


async def test_exclude_previous_never_draws_a_winner_twice(hall: TestClient) -> None:
    for n in range(6):
        await send(hall, f"web:{n}", author=f"P{n}", room="hall", source=Source.WEB)
    winners = []
    for _ in range(3):
        result = await draw(hall, "hall", winners=2, exclude_previous=True)
        winners += [w["author"] for w in result["winners"]]
    assert sorted(winners) == [f"P{n}" for n in range(6)]
    assert result["pool"] == 2  # the last draw had only the two left
    await draw(hall, "hall", status=409, winners=1, exclude_previous=True)
    assert (await draw(hall, "hall", winners=6))["pool"] == 6  # without it, everyone again


async def test_the_draw_reaches_the_rooms_screens_and_the_admin_stream(hall: TestClient) -> None:
    await send(hall, "telegram:7", author="Winner", room="hall")
    screen = await hall.get("/stream?room=hall")
    admin = await hall.get("/api/stream?room=hall", headers=AUTH)
    result = await draw(hall, "hall", winners=1)
    while (message := await next_event(screen)).event != "lottery":
        pass
    assert message.data == result  # {"draw_id", "winners", "pool"}: no sender keys on a screen
    while (message := await next_event(admin)).event != "lottery":
        pass
    assert message.data["senders"] == ["telegram:7"] and message.data["room"] == "hall"
    replay = await hall.get("/stream?room=hall", headers={"Last-Event-ID": "0"})
    while (message := await next_event(replay)).event != "lottery":
        pass
    assert message.data == result
    for response in (screen, admin, replay):
        response.close()


@pytest.mark.parametrize("body", [
    {}, {"winners": 0}, {"winners": -1}, {"winners": 1.5}, {"winners": "2"}, {"winners": True},
    {"winners": 101}, {"winners": 1, "since": "2025-01-01T10:00:00"}, {"winners": 1, "since": "yesterday"},
    {"winners": 1, "since": 12}, {"winners": 1, "exclude_previous": "yes"},
    # in range as written, out of range in UTC: was a 500 (OverflowError)
    {"winners": 1, "since": "0001-01-01T00:00:00+08:00"},
    {"winners": 1, "since": "9999-12-31T23:59:59-08:00"},
])
async def test_bad_input_is_a_400(hall: TestClient, body: dict[str, Any]) -> None:
    await send(hall, "telegram:1", room="hall")
    resp = await hall.post("/api/rooms/hall/lottery", json=body, headers=AUTH)
    assert resp.status == 400 and "error" in await resp.json()


async def test_an_unknown_room_is_a_404_and_strangers_a_401(client: TestClient) -> None:
    assert (await client.post("/api/rooms/nowhere/lottery", json={"winners": 1}, headers=AUTH)).status == 404
    assert (await client.post("/api/rooms/main/lottery", json={"winners": 1})).status == 401
