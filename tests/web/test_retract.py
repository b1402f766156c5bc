"""POST /api/barrages/{id}/retract: approved → retracted, and no screen ever flies it again."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.conftest import AUTH, ClientFactory, ConfigFactory
from tests.sse import events, next_event
from tests.web.test_stream import post, wait_for_screens


async def retract(client: TestClient, barrage_id: int, **body: object) -> tuple[int, dict]:
    resp = await client.post(f"/api/barrages/{barrage_id}/retract", json=body, headers=AUTH)
    return resp.status, await resp.json()


async def test_retract_an_approved_barrage(open_client: TestClient) -> None:
    bid = await post(open_client, "oops")
    status, body = await retract(open_client, bid, moderator="Alice")
    assert status == 200
    assert body["status"] == "retracted" and body["retracted_by"] == "Alice"
    assert body["retracted_at"] >= body["decided_at"]
    resp = await open_client.get("/api/barrages?status=retracted", headers=AUTH)
    assert [b["id"] for b in (await resp.json())["items"]] == [bid]
    resp = await open_client.get("/api/barrages?status=approved", headers=AUTH)
    assert (await resp.json())["items"] == []


async def test_the_same_moderator_again_changes_nothing(open_client: TestClient) -> None:
    bid = await post(open_client, "oops")
    _, first = await retract(open_client, bid, moderator="Alice")
    status, again = await retract(open_client, bid, moderator="Alice")
    assert status == 200 and again == first
    status, other = await retract(open_client, bid, moderator="Bob")
    assert status == 409 and "retracted by Alice" in other["error"]


async def test_only_approved_can_be_retracted(client: TestClient) -> None:
    pending = await post(client, "waiting")
    assert (await retract(client, pending))[0] == 409
    await client.post(f"/api/barrages/{pending}/reject", headers=AUTH)
    assert (await retract(client, pending))[0] == 409
    assert (await retract(client, 999_999))[0] == 404
    resp = await client.post("/api/barrages/1/retract")
    assert resp.status == 401


async def test_screens_get_retract_with_the_id_only(open_client: TestClient) -> None:
    screen = await open_client.get("/stream")
    admin = await open_client.get("/api/stream", headers=AUTH)
    await wait_for_screens(open_client, 1)
    bid = await post(open_client, "oops")
    await retract(open_client, bid, moderator="Alice")
    flown, gone = await events(screen, 2)
    assert (flown.event, flown.data["id"]) == ("barrage", bid)
    assert (gone.event, gone.data) == ("retract", {"id": bid})
    [*_, told] = await events(admin, 2)
    assert told.data == {"id": bid, "room": "main", "by": "Alice"}
    screen.close()
    admin.close()


async def replay_ids(client: TestClient, until: int) -> list[tuple[str, int]]:
    """Every event a screen replaying from 0 gets, up to the barrage `until` (the positive signal)."""
    replay = await client.get("/stream", headers={"Last-Event-ID": "0"})
    got = []
    while not got or got[-1] != ("barrage", until):
        message = await next_event(replay)
        got.append((message.event, message.data["id"]))
    replay.close()
    return got


async def test_a_replay_from_memory_never_carries_it(open_client: TestClient) -> None:
    kept, gone = await post(open_client, "kept"), await post(open_client, "gone")
    await retract(open_client, gone)
    last = await post(open_client, "last")
    assert await replay_ids(open_client, last) == [("barrage", kept), ("retract", gone), ("barrage", last)]


async def test_a_replay_from_the_log_never_carries_it(
    make_client: ClientFactory, make_config: ConfigFactory
) -> None:
    """A fresh process holds no history: the replay from 0 reads the database."""
    config = make_config(moderation__mode="off")
    first = await make_client(config)
    kept, gone = await post(first, "kept"), await post(first, "gone")
    await retract(first, gone)
    await first.close()
    second = await make_client(config)
    last = await post(second, "last")
    assert await replay_ids(second, last) == [("barrage", kept), ("retract", gone), ("barrage", last)]
