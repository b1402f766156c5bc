"""Senders and abuse over HTTP: mutes (/api/mutes), shadow mutes, slow mode, "already sent",
autoban. The real app; each TestClient keeps its own cookie jar, so it is one phone (one sender)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.app import STORE
from server.core.model import REASON_BLOCKED, REASON_MUTED, Draft, Mute, Size, Source, Status
from server.store import SqlStore
from tests.conftest import AUTH, ClientFactory, ConfigFactory
from tests.sse import next_block, next_event


async def send(client: TestClient, text: str, **headers: str) -> aiohttp.ClientResponse:
    resp = await client.post("/api/barrages", json={"text": text}, headers=headers)
    await resp.read()
    return resp


async def sender_of(client: TestClient) -> str:
    """This client's sender key: its first barrage's."""
    resp = await client.get("/api/barrages", headers=AUTH)
    return (await resp.json())["items"][0]["sender"]


async def mute(client: TestClient, sender: str, minutes: int = 60, **body: object) -> aiohttp.ClientResponse:
    resp = await client.post("/api/mutes", json={"sender": sender, "minutes": minutes, **body}, headers=AUTH)
    await resp.read()
    return resp


async def test_a_muted_sender_is_403_with_until_and_lifting_it_lets_them_in(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    assert (await send(client, "first")).status == 201
    sender = await sender_of(client)
    before = datetime.now(UTC)
    resp = await mute(client, sender, 30, reason="spamming")
    assert resp.status == 201
    body = await resp.json()
    assert body["sender"] == sender and body["reason"] == "spamming"
    until = datetime.fromisoformat(body["until"])
    assert before + timedelta(minutes=30) <= until <= datetime.now(UTC) + timedelta(minutes=30)

    refused = await send(client, "second")
    assert refused.status == 403
    answer = await refused.json()
    assert answer == {"error": answer["error"], "until": body["until"]}
    assert "you are muted until" in answer["error"] and until.strftime("%H:%M") in answer["error"]
    assert len((await (await client.get("/api/barrages", headers=AUTH)).json())["items"]) == 1

    listed = await (await client.get("/api/mutes", headers=AUTH)).json()
    assert listed == {"mutes": [{"sender": sender, "until": body["until"], "reason": "spamming"}]}
    lifted = await client.delete(f"/api/mutes/{quote(sender, safe='')}", headers=AUTH)
    assert lifted.status == 204
    assert (await send(client, "third")).status == 201
    assert (await (await client.get("/api/mutes", headers=AUTH)).json()) == {"mutes": []}
    again = await client.delete(f"/api/mutes/{quote(sender, safe='')}", headers=AUTH)
    assert again.status == 404 and "not muted" in (await again.json())["error"]


async def test_zero_minutes_is_until_lifted(make_client: ClientFactory) -> None:
    client = await make_client()
    await send(client, "hi")
    sender = await sender_of(client)
    assert (await (await mute(client, sender, 0)).json())["until"] is None
    refused = await send(client, "again")
    assert refused.status == 403
    assert await refused.json() == {"error": "you are muted until a moderator lifts it", "until": None}


async def test_a_sender_key_with_slashes_and_colons_is_lifted_percent_encoded(client: TestClient) -> None:
    sender = "slack:T/1:U 2"
    assert (await mute(client, sender)).status == 201
    assert (await client.delete(f"/api/mutes/{quote(sender, safe='')}", headers=AUTH)).status == 204
    assert (await client.delete("/api/mutes/slack:T1:U1", headers=AUTH)).status == 404


async def test_a_mute_that_ran_out_is_not_listed_and_lets_its_sender_in(
    make_client: ClientFactory, make_config: ConfigFactory,
) -> None:
    config = make_config()
    first = await make_client(config)
    await send(first, "before")
    sender = await sender_of(first)
    [device] = [cookie.value for cookie in first.session.cookie_jar if cookie.key == "barrage_device"]
    await first.close()
    store = SqlStore.from_url(config.database.url)  # a mute of an earlier evening, long over
    past = datetime.now(UTC) - timedelta(minutes=1)
    await store.mute(Mute(sender, past, "old", "Ann"), past - timedelta(hours=1))
    await store.close()

    client = await make_client(config)
    assert (await (await client.get("/api/mutes", headers=AUTH)).json()) == {"mutes": []}
    assert (await send(client, "after", Cookie=f"barrage_device={device}")).status == 201  # the same phone
    assert (await client.delete(f"/api/mutes/{quote(sender, safe='')}", headers=AUTH)).status == 404
    items = (await (await client.get("/api/barrages", headers=AUTH)).json())["items"]
    assert [item["sender"] for item in items] == [sender, sender]


async def test_a_mute_is_an_event_on_the_admin_stream(client: TestClient) -> None:
    stream = await client.get("/api/stream", headers=AUTH)
    await next_block(stream)
    await mute(client, "telegram:7", 5, reason="flood")
    event = await next_event(stream)
    assert event.event == "mutes"
    assert event.data["sender"] == "telegram:7" and event.data["muted"] is True
    await client.delete("/api/mutes/telegram:7", headers=AUTH)
    event = await next_event(stream)
    assert (event.event, event.data["sender"], event.data["muted"]) == ("mutes", "telegram:7", False)
    stream.close()


async def test_shadow_mute_stores_rejected_and_tells_nothing_unusual(make_client: ClientFactory) -> None:
    client = await make_client(moderation__shadow_mute=True)
    assert (await send(client, "normal")).status == 201
    sender = await sender_of(client)
    await mute(client, sender)
    resp = await send(client, "shadowed")
    assert resp.status == 201
    body = await resp.json()
    # what anyone is told
    assert body == {"id": body["id"], "status": "pending", "reason": None, "screens": 0}
    [item] = (await (await client.get("/api/barrages?status=rejected", headers=AUTH)).json())["items"]
    assert (item["id"], item["reason"], item["decided_by"]) == (body["id"], REASON_MUTED, "auto")
    pending = (await (await client.get("/api/barrages?status=pending", headers=AUTH)).json())["items"]
    assert [p["text"] for p in pending] == ["normal"]
    mine = (await (await client.get("/api/my/barrages")).json())["items"]
    assert {m["text"]: m["status"] for m in mine} == {"normal": "pending", "shadowed": "pending"}


async def test_a_shadow_muted_sender_blocked_is_told_blocked_never_muted(make_client: ClientFactory) -> None:
    """What anyone sending a blocked word is told: the mute stays silent."""
    client = await make_client(moderation__shadow_mute=True)
    await block(client, "badword")
    assert (await send(client, "normal")).status == 201
    await mute(client, await sender_of(client))
    body = await (await send(client, "a badword here")).json()
    assert (body["status"], body["reason"]) == ("rejected", REASON_BLOCKED)


async def test_shadow_mute_in_off_mode_says_approved_and_nothing_flies(make_client: ClientFactory) -> None:
    client = await make_client(moderation__shadow_mute=True, moderation__mode="off")
    stream = await client.get("/stream")
    await next_block(stream)
    assert (await send(client, "one")).status == 201
    first = await next_event(stream)
    sender = await sender_of(client)
    await mute(client, sender)
    assert (await (await send(client, "hidden")).json())["status"] == "approved"
    assert (await send(client, "hidden too")).status == 201
    await client.delete(f"/api/mutes/{quote(sender, safe='')}", headers=AUTH)
    assert (await send(client, "visible")).status == 201
    # The next event on the screen is the one sent after the mute was lifted: nothing in between.
    nxt = await next_event(stream)
    assert (first.data["text"], nxt.data["text"]) == ("one", "visible")
    stream.close()


async def test_already_sent_compares_normalised_text_per_sender(make_client: ClientFactory) -> None:
    client = await make_client(moderation__repeat_seconds=60)
    assert (await send(client, "Hello!!")).status == 201
    repeat = await send(client, "hello")
    assert repeat.status == 409
    assert await repeat.json() == {"error": "already sent: you sent the same message less than 60 s ago"}
    assert (await send(client, "h e l l o ...")).status == 409
    assert (await send(client, "hello there")).status == 201  # another text
    async with aiohttp.ClientSession() as other:  # another phone: a cookie of its own
        async with other.post(client.make_url("/api/barrages"), json={"text": "hello"}) as resp:
            assert resp.status == 201


async def test_slow_mode_says_how_long_to_wait_and_a_refusal_does_not_restart_it(
    make_client: ClientFactory,
) -> None:
    client = await make_client(moderation__slow_mode_seconds=120)
    assert (await send(client, "one")).status == 201
    refused = await send(client, "two")
    assert refused.status == 429
    wait = int(refused.headers["Retry-After"])
    assert 110 <= wait <= 120
    assert (await refused.json())["error"] == f"slow mode is on: wait {wait} s before sending again"
    again = await send(client, "three")
    assert again.status == 429 and int(again.headers["Retry-After"]) <= wait  # not restarted
    items = (await (await client.get("/api/barrages", headers=AUTH)).json())["items"]
    assert [item["text"] for item in items] == ["one"]


async def test_a_rate_limit_refusal_does_not_start_the_slow_mode_clock(make_client: ClientFactory) -> None:
    client = await make_client(moderation__slow_mode_seconds=120, moderation__max_per_minute_per_address=1)
    async with aiohttp.ClientSession() as other:  # a phone behind the same address spends its minute
        async with other.post(client.make_url("/api/barrages"), json={"text": "first"}) as resp:
            assert resp.status == 201
    for text in ("one", "two"):
        refused = await send(client, text)
        assert refused.status == 429
        # The address's limit each time: had the first refusal started the clock, slow mode would say so.
        assert "slow mode" not in (await refused.json())["error"]


async def block(client: TestClient, word: str) -> None:
    """A real block rule, through the API: the filter every process runs."""
    resp = await client.post("/api/filters", json={"pattern": word, "action": "block"}, headers=AUTH)
    assert resp.status == 201, await resp.text()


async def test_autoban_after_three_blocked(make_client: ClientFactory) -> None:
    client = await make_client(moderation__autoban_after=3, moderation__autoban_minutes=60)
    await block(client, "badword")
    for n in range(3):
        resp = await send(client, f"badword {n}")
        assert resp.status == 201
    refused = await send(client, "now a nice one")
    assert refused.status == 403
    until = datetime.fromisoformat((await refused.json())["until"])
    assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(minutes=60)
    [listed] = (await (await client.get("/api/mutes", headers=AUTH)).json())["mutes"]
    assert listed["reason"] == "3 blocked messages in 180 min"
    stored = (await (await client.get("/api/barrages?status=rejected", headers=AUTH)).json())["items"]
    assert [item["reason"] for item in stored] == [REASON_BLOCKED] * 3


async def test_two_blocked_and_a_clean_one_do_not_autoban(make_client: ClientFactory) -> None:
    client = await make_client(moderation__autoban_after=3)
    await block(client, "badword")
    for text in ("badword 1", "fine", "badword 2", "also fine"):
        assert (await send(client, text)).status == 201
    assert (await (await client.get("/api/mutes", headers=AUTH)).json()) == {"mutes": []}


async def test_a_barrage_stored_rejected_writes_a_rejected_event(client: TestClient) -> None:
    """Not a `pending` one: no desk or card loop lists it."""
    draft = Draft("x", "Ann", "#ffffff", Size.MEDIUM, Source.WEB, sender="web:1", reason=REASON_MUTED)
    barrage, event = await client.app[STORE].add(draft, Status.REJECTED, datetime.now(UTC))
    assert event is not None and event.kind.value == "rejected" and barrage.reason == REASON_MUTED


BAD_MUTES = [
    b"", b"null", b"[]", b"{}", b'"x"', b"{", b'{"sender": "web:1"}', b'{"minutes": 5}',
    b'{"sender": "", "minutes": 5}', b'{"sender": "   ", "minutes": 5}', b'{"sender": null, "minutes": 5}',
    b'{"sender": 5, "minutes": 5}', b'{"sender": ["web:1"], "minutes": 5}', b'{"sender": {}, "minutes": 5}',
    b'{"sender": "web:1", "minutes": -1}', b'{"sender": "web:1", "minutes": 1e9}',
    b'{"sender": "web:1", "minutes": 525601}', b'{"sender": "web:1", "minutes": 99999999999999999999999}',
    b'{"sender": "web:1", "minutes": "5"}', b'{"sender": "web:1", "minutes": 1.5}',
    b'{"sender": "web:1", "minutes": true}', b'{"sender": "web:1", "minutes": null}',
    b'{"sender": "web:1", "minutes": NaN}', b'{"sender": "web:1", "minutes": Infinity}',
    b'{"sender": "web:1", "minutes": 5, "reason": 7}', b'{"sender": "web:1", "minutes": 5, "reason": []}',
    b'{"sender": "web:1", "minutes": 5, "reason": "' + b"x" * 201 + b'"}',
    b'{"sender": "web:1", "minutes": 5, "reason": "a\\u0000b"}',
    b'{"sender": "web:\\u0000", "minutes": 5}', b'{"sender": "' + b"w" * 201 + b'", "minutes": 5}',
    b'{"sender": "web:\\ud800", "minutes": 5}', b'{"sender": "web:1\\n", "minutes": 5}',
    b'{"sender": "web:1", "minutes": 5, "moderator": 5}',
    b"\xff\xfe", b'{"sender": "web:1", "minutes": 5}' * 2, b"[" * 10000,
]


@pytest.mark.parametrize("body", BAD_MUTES)
async def test_bad_mute_bodies_are_400_and_store_nothing(client: TestClient, body: bytes) -> None:
    resp = await client.post("/api/mutes", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status == 400, (body[:60], await resp.text())
    assert "error" in await resp.json()
    assert (await (await client.get("/api/mutes", headers=AUTH)).json()) == {"mutes": []}


BAD_LIFTS = ["nobody", "%00", "%ff", "%2e%2e", "..", "web%3A", "x" * 300, "%E2%80%AE", "%F0%9F%98%80",
             "a%2Fb", "%20", "web:1?x=1", "telegram:1;drop"]


async def test_bad_lifts_and_methods_never_5xx(client: TestClient) -> None:
    await mute(client, "telegram:1")
    statuses = []
    for raw in BAD_LIFTS:
        resp = await client.delete(f"/api/mutes/{raw}", headers=AUTH)
        statuses.append(resp.status)
        assert resp.status in (400, 404), (raw, resp.status, await resp.text())
    for method, path in (("PUT", "/api/mutes"), ("PATCH", "/api/mutes"), ("GET", "/api/mutes/telegram:1"),
                         ("POST", "/api/mutes/telegram:1"), ("DELETE", "/api/mutes")):
        resp = await client.request(method, path, headers=AUTH)
        assert resp.status == 405, (method, path)
    assert all(status < 500 for status in statuses)
    still = (await (await client.get("/api/mutes", headers=AUTH)).json())["mutes"]
    assert [m["sender"] for m in still] == ["telegram:1"]


async def test_mutes_need_the_admin_token(client: TestClient) -> None:
    for method, path, body in (("GET", "/api/mutes", None), ("DELETE", "/api/mutes/telegram:1", None),
                               ("POST", "/api/mutes", json.dumps({"sender": "telegram:1", "minutes": 5}))):
        resp = await client.request(method, path, data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 401
    assert (await (await client.get("/api/mutes", headers=AUTH)).json()) == {"mutes": []}
