"""Expiry over HTTP: a pending barrage past moderation.pending_ttl_seconds (or pushed past
moderation.max_pending) becomes `expired`, with an `expired` event on the admin stream; it is
listed by ?status=expired, its web sender sees it, approving it is a 409; and what became due
while the server was down expires when it starts again."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from server.config import Config
from tests.conftest import AUTH, ClientFactory, ConfigFactory
from tests.sse import Message, next_event


async def submit(client: TestClient, text: str) -> int:
    resp = await client.post("/api/barrages", json={"text": text})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def next_expired(admin: ClientResponse) -> Message:
    """The positive signal: the next `expired` event (bounded: 15 s, far above the 1 s tick)."""
    while (message := await next_event(admin, 15)).event != "expired":
        pass
    return message


async def listed(client: TestClient, status: str) -> list[int]:
    resp = await client.get(f"/api/barrages?status={status}", headers=AUTH)
    assert resp.status == 200
    return [item["id"] for item in (await resp.json())["items"]]


async def test_a_pending_barrage_past_its_ttl_expires(make_client: ClientFactory) -> None:
    client = await make_client(moderation__pending_ttl_seconds=1)
    admin = await client.get("/api/stream", headers=AUTH)
    waiting = await submit(client, "nobody looks at me")
    expired = await next_expired(admin)
    assert expired.data["id"] == waiting
    assert (expired.data["status"], expired.data["reason"]) == ("expired", "expired")
    assert expired.data["decided_at"] and expired.data["decided_by"] is None
    assert await listed(client, "expired") == [waiting]
    assert await listed(client, "pending") == []
    late = await client.post(f"/api/barrages/{waiting}/approve", json={"moderator": "Alice"}, headers=AUTH)
    assert (late.status, await late.json()) == (409, {"error": "already expired"})
    mine = (await (await client.get("/api/my/barrages")).json())["items"]  # the sender's own phone
    assert [(item["id"], item["status"]) for item in mine] == [(waiting, "expired")]
    admin.close()


async def test_expired_is_a_status_to_list_and_a_bad_one_names_them_all(client: TestClient) -> None:
    assert await listed(client, "expired") == []
    resp = await client.get("/api/barrages?status=gone", headers=AUTH)
    assert resp.status == 400
    assert "expired" in (await resp.json())["error"]


async def test_past_max_pending_the_oldest_expires_first(make_client: ClientFactory) -> None:
    client = await make_client(moderation__max_pending=3)
    admin = await client.get("/api/stream", headers=AUTH)
    ids = [await submit(client, f"message {n}") for n in range(3)]
    fourth = await submit(client, "one too many")
    assert (await next_expired(admin)).data["id"] == ids[0]
    assert await listed(client, "pending") == [*ids[1:], fourth]
    newest = await submit(client, "and another")
    assert (await next_expired(admin)).data["id"] == ids[1]
    assert await listed(client, "pending") == [ids[2], fourth, newest]
    admin.close()


async def test_what_fell_due_while_the_server_was_down_expires_when_it_starts(
    make_client: ClientFactory, make_config: ConfigFactory, tmp_path: Path
) -> None:
    config: Config = make_config(moderation__pending_ttl_seconds=300)
    first = await make_client(config)
    stale, fresh = await submit(first, "waited all night"), await submit(first, "just sent")
    await first.close()
    # The server stays down for an hour: the stale one's clock runs out meanwhile.
    with sqlite3.connect(tmp_path / "barrage.db") as db:
        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        db.execute("UPDATE barrage SET created_at = ? WHERE id = ?", (an_hour_ago, stale))
    again = await make_client(config)
    admin = await again.get("/api/stream", headers={**AUTH, "Last-Event-ID": "0"})
    assert (await next_expired(admin)).data["id"] == stale
    assert await listed(again, "pending") == [fresh]
    admin.close()


async def test_with_no_ttl_the_cap_still_applies(make_client: ClientFactory) -> None:
    client = await make_client(moderation__pending_ttl_seconds=0, moderation__max_pending=1)
    admin = await client.get("/api/stream", headers=AUTH)
    old = await submit(client, "old")
    await submit(client, "new")  # over the cap of 1
    assert (await next_expired(admin)).data["id"] == old
    admin.close()
