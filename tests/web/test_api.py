"""The HTTP API through the real app factory, over real HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.app import STORE
from server.core.model import Status
from server.web.auth import ADMIN_ROUTE
from tests.conftest import AUTH, ClientFactory, ConfigFactory


async def submit(client: TestClient, **body: object) -> dict:
    resp = await client.post("/api/barrages", json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def listed(client: TestClient, status: str = "") -> list[dict]:
    resp = await client.get(f"/api/barrages?status={status}", headers=AUTH)
    assert resp.status == 200
    return (await resp.json())["items"]


async def test_submit_in_manual_mode_is_pending(client: TestClient) -> None:
    reply = await submit(client, text="  hello wall  ", author="Ann", color="#ABC", size="large")
    assert reply == {"id": reply["id"], "status": "pending", "reason": None, "screens": 0}
    [item] = await listed(client, "pending")
    assert item["text"] == "hello wall" and item["color"] == "#aabbcc" and item["size"] == "large"
    assert item["source"] == "web" and item["author"] == "Ann" and "created_at" in item
    assert "decided_by" not in item


async def test_submit_in_mode_off_is_approved(open_client: TestClient) -> None:
    assert (await submit(open_client, text="hi"))["status"] == "approved"


async def test_defaults(client: TestClient) -> None:
    await submit(client, text="hi")
    [item] = await listed(client)
    assert (item["author"], item["color"], item["size"]) == ("Anonymous", "#ffffff", "medium")


BAD_BODIES = [
    b"not json",
    b"",
    b"[1, 2]",
    b'"text"',
    b"{}",
    b'{"text": 5}',
    b'{"text": null}',
    b'{"text": "   "}',
    b'{"text": "' + b"x" * 101 + b'"}',
    b'{"text": "hi", "author": 7}',
    b'{"text": "hi", "author": "' + b"a" * 33 + b'"}',
    b'{"text": "hi", "color": "#12"}',
    b'{"text": "hi", "color": "url(javascript:x)"}',
    b'{"text": "hi", "color": ["red"]}',
    b'{"text": "hi", "size": "huge"}',
    b'{"text": "hi", "size": 3}',
    b"\xff\xfe\x00garbage",
    b'{"text": "\\ud800"}',
    b"[" * 60_000,
    b'{"text": ' + b"[" * 60_000,
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_input_is_400_and_stores_nothing(client: TestClient, body: bytes) -> None:
    resp = await client.post("/api/barrages", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert isinstance((await resp.json())["error"], str)
    assert await listed(client) == []
    assert (await client.get("/healthz")).status == 200


async def test_oversized_body_is_refused(client: TestClient) -> None:
    resp = await client.post("/api/barrages", data=b"{" + b" " * 200_000 + b"}",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert await listed(client) == []


async def test_every_admin_route_needs_the_token(make_client: ClientFactory) -> None:
    client = await make_client(server__forwarded_hops=1)
    routes = [
        r for r in client.app.router.routes()
        if getattr(r.handler, ADMIN_ROUTE, False)
    ]
    assert len(routes) >= 7
    for n, route in enumerate(routes):
        path = route.resource.canonical.replace("{id}", "1")
        # each route from its own address: failed logins are limited per address
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
            headers["X-Forwarded-For"] = f"198.51.100.{n}"
            resp = await client.request(route.method, path, headers=headers)
            assert resp.status == 401, (route.method, path, headers)
            if route.method != "HEAD":
                assert (await resp.json())["error"]


async def test_list_is_in_id_order_and_filters(client: TestClient) -> None:
    ids = [(await submit(client, text=f"m{i}"))["id"] for i in range(4)]
    await client.post(f"/api/barrages/{ids[1]}/approve", headers=AUTH)
    await client.post(f"/api/barrages/{ids[2]}/reject", headers=AUTH)
    assert [i["id"] for i in await listed(client)] == ids
    assert [i["id"] for i in await listed(client, "pending")] == [ids[0], ids[3]]
    assert [i["id"] for i in await listed(client, "approved")] == [ids[1]]
    [rejected] = await listed(client, "rejected")
    assert rejected["id"] == ids[2] and rejected["decided_by"] == "web moderator"
    assert (await client.get("/api/barrages?status=nope", headers=AUTH)).status == 400
    assert (await client.get("/api/barrages?limit=-1", headers=AUTH)).status == 400


async def test_decisions(client: TestClient) -> None:
    bid = (await submit(client, text="hi"))["id"]
    resp = await client.post(f"/api/barrages/{bid}/approve", json={"moderator": "Alice"}, headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "approved" and body["decided_by"] == "Alice" and body["decided_at"]
    again = await client.post(f"/api/barrages/{bid}/reject", headers=AUTH)
    assert again.status == 409
    assert await again.json() == {"error": "already approved by Alice"}


async def test_a_second_press_by_the_same_moderator_is_200(client: TestClient) -> None:
    bid = (await submit(client, text="double click"))["id"]
    first = await client.post(f"/api/barrages/{bid}/approve", json={"moderator": "Alice"}, headers=AUTH)
    again = await client.post(f"/api/barrages/{bid}/approve", json={"moderator": "Alice"}, headers=AUTH)
    assert (first.status, again.status) == (200, 200)
    assert await again.json() == await first.json()
    other = await client.post(f"/api/barrages/{bid}/approve", json={"moderator": "Bob"}, headers=AUTH)
    assert other.status == 409 and await other.json() == {"error": "already approved by Alice"}


async def test_undo(client: TestClient) -> None:
    bid = (await submit(client, text="take it back"))["id"]
    await client.post(f"/api/barrages/{bid}/reject", json={"moderator": "Alice"}, headers=AUTH)
    resp = await client.post(f"/api/barrages/{bid}/undo", json={"moderator": "Alice"}, headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    assert body["id"] == bid and body["status"] == "pending" and "decided_by" not in body
    assert [i["id"] for i in await listed(client, "pending")] == [bid]
    again = await client.post(f"/api/barrages/{bid}/undo", headers=AUTH)  # nothing left to undo
    assert again.status == 409 and "not decided" in (await again.json())["error"]
    approved = await client.post(f"/api/barrages/{bid}/approve", headers=AUTH)
    assert approved.status == 200 and (await approved.json())["decided_by"] == "web moderator"
    assert (await client.post("/api/barrages/999/undo", headers=AUTH)).status == 404
    assert (await client.post(f"/api/barrages/{bid}/undo")).status == 401
    assert (await client.post(f"/api/barrages/{bid}/undo", data=b"[", headers=AUTH)).status == 400


async def test_undo_is_409_after_ten_seconds_and_for_auto_approval(client: TestClient) -> None:
    bid = (await submit(client, text="long ago"))["id"]
    eleven_seconds_ago = datetime.now(UTC) - timedelta(seconds=11)
    await client.app[STORE].decide(bid, Status.APPROVED, "Alice", eleven_seconds_ago)
    resp = await client.post(f"/api/barrages/{bid}/undo", headers=AUTH)
    assert resp.status == 409 and "too late" in (await resp.json())["error"]
    await client.put("/api/mode", json={"mode": "off"}, headers=AUTH)
    auto = (await submit(client, text="no review"))["id"]
    resp = await client.post(f"/api/barrages/{auto}/undo", headers=AUTH)
    assert resp.status == 409 and "automatically" in (await resp.json())["error"]
    assert [i["id"] for i in await listed(client, "approved")] == [bid, auto]


@pytest.mark.parametrize("path", ["/api/barrages/999/approve", "/api/barrages/99999999999999999999/reject",
                                  "/api/barrages/abc/approve"])
async def test_unknown_barrage_is_404(client: TestClient, path: str) -> None:
    resp = await client.post(path, headers=AUTH)
    assert resp.status == 404


async def test_decision_body_must_be_json_object(client: TestClient) -> None:
    bid = (await submit(client, text="hi"))["id"]
    resp = await client.post(f"/api/barrages/{bid}/approve", data=b"[", headers=AUTH)
    assert resp.status == 400
    assert (await listed(client, "pending"))[0]["id"] == bid


async def test_mode_switch_at_runtime(client: TestClient) -> None:
    assert (await (await client.get("/api/mode", headers=AUTH)).json()) == {"mode": "manual", "room": "main"}
    resp = await client.put("/api/mode", json={"mode": "off"}, headers=AUTH)
    assert await resp.json() == {"mode": "off", "room": "main"}
    assert (await submit(client, text="now"))["status"] == "approved"
    assert (await client.put("/api/mode", json={"mode": "automatic"}, headers=AUTH)).status == 400


async def test_stats(client: TestClient) -> None:
    bid = (await submit(client, text="a"))["id"]
    await submit(client, text="b")
    await client.post(f"/api/barrages/{bid}/approve", headers=AUTH)
    stats = await (await client.get("/api/stats", headers=AUTH)).json()
    assert stats == {"mode": "manual", "pending": 1, "approved_today": 1, "screens": 0,
                     "screens_by_room": {"main": 0}}


async def test_rate_limit_is_429(make_client: ClientFactory) -> None:
    client = await make_client(moderation__max_per_minute=2)
    await client.get("/send")  # the client's jar keeps the device cookie
    for _ in range(2):
        await submit(client, text="hi")
    resp = await client.post("/api/barrages", json={"text": "hi"})
    assert resp.status == 429 and "slow down" in (await resp.json())["error"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


async def test_restart_keeps_pending_barrages(
    make_client: ClientFactory, make_config: ConfigFactory
) -> None:
    config = make_config()
    first = await make_client(config)
    bid = (await submit(first, text="survive"))["id"]
    await first.close()
    second = await make_client(config)
    [item] = await listed(second, "pending")
    assert item["id"] == bid and item["text"] == "survive"
    assert (await second.post(f"/api/barrages/{bid}/approve", headers=AUTH)).status == 200


async def test_unknown_api_path_is_json_404(client: TestClient) -> None:
    resp = await client.get("/api/nope")
    assert resp.status == 404 and "error" in await resp.json()
    resp = await client.delete("/api/barrages")
    assert resp.status == 405


async def test_healthz_and_screen_config(client: TestClient) -> None:
    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json())["status"] == "ok"
    cfg = await (await client.get("/api/screen-config")).json()
    assert cfg["join_text"].endswith("/send") and cfg["crossing_seconds"] == 8
    assert cfg["heartbeat_seconds"] == 15  # the screen's watchdog is timed from it


async def test_screen_config_gives_the_heartbeat_in_force(make_client: ClientFactory) -> None:
    client = await make_client(stream__heartbeat_seconds=0.25)
    cfg = await (await client.get("/api/screen-config")).json()
    assert cfg["heartbeat_seconds"] == 0.25


async def test_hostile_moderator_name_is_cleaned(client: TestClient) -> None:
    bid = (await submit(client, text="hi"))["id"]
    resp = await client.post(
        f"/api/barrages/{bid}/approve", headers=AUTH,
        json={"moderator": "\ud800Al\u202eice" + "x" * 500},
    )
    assert resp.status == 200
    assert (await resp.json())["decided_by"] == "Alice" + "x" * 59


async def test_odd_encodings_and_digits_are_4xx(client: TestClient) -> None:
    resp = await client.post("/api/barrages", data=b'{"text": "hi"}',
                             headers={"Content-Type": "application/json; charset=bogus"})
    assert resp.status == 400
    assert (await client.get("/api/barrages?after=%C2%B2", headers=AUTH)).status == 400
    assert (await client.post("/api/barrages/%C2%B2/approve", headers=AUTH)).status == 404
    assert (await client.get("/stream?last_event_id=%C2%B2")).status == 400
    assert await listed(client) == []


async def test_undecodable_authorization_is_401(client: TestClient) -> None:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /api/mode HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
                 b"Connection: close\r\n\r\n")
    status = (await reader.readline()).split()[1]
    writer.close()
    assert status == b"401"


async def test_approved_today_counts_in_local_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Etc/GMT-14")  # UTC+14: local midnight is far from UTC's
    time.tzset()
    try:
        bid = (await submit(client, text="late night"))["id"]
        await client.post(f"/api/barrages/{bid}/approve", headers=AUTH)
        stats = await (await client.get("/api/stats", headers=AUTH)).json()
        assert stats["approved_today"] == 1
    finally:
        monkeypatch.undo()
        time.tzset()


async def test_rate_limit_behind_a_trusted_proxy(make_client: ClientFactory) -> None:
    client = await make_client(moderation__max_per_minute=1, server__forwarded_hops=1)
    url = client.make_url("/api/barrages")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as script:  # no cookies
        for address in ("203.0.113.1", "203.0.113.2"):
            resp = await script.post(url, json={"text": "hi"},
                                     headers={"X-Forwarded-For": f"10.0.0.9, {address}"})
            assert resp.status == 201
        again = await script.post(url, json={"text": "hi"},
                                  headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.1"})
        assert again.status == 429


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/jsonp", "application/json-patch+json", "",
])
async def test_submit_needs_application_json(client: TestClient, content_type: str) -> None:
    """A cross-origin form or text/plain post needs no CORS preflight: it must not land."""
    headers = {"Content-Type": content_type, "Origin": "https://evil.example"} if content_type else {}
    resp = await client.post("/api/barrages", data=b'{"text": "hi"}', headers=headers,
                             skip_auto_headers=["Content-Type"])
    assert resp.status == 415 and "application/json" in (await resp.json())["error"]
    assert await listed(client) == []


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
async def test_json_with_any_charset_parameter_is_accepted(client: TestClient, content_type: str) -> None:
    resp = await client.post("/api/barrages", data=b'{"text": "hi"}', headers={"Content-Type": content_type})
    assert resp.status == 201


async def test_admin_responses_are_never_cached(client: TestClient) -> None:
    routes = [r for r in client.app.router.routes() if getattr(r.handler, ADMIN_ROUTE, False)]
    for route in routes:
        path = route.resource.canonical.replace("{id}", "1")
        resp = await client.request(route.method, path)
        assert resp.status == 401 and resp.headers["Cache-Control"] == "no-store", path
    bid = (await submit(client, text="hi"))["id"]
    for method, path in [("GET", "/api/barrages"), ("GET", "/api/stats"), ("GET", "/api/mode"),
                         ("POST", f"/api/barrages/{bid}/approve")]:
        resp = await client.request(method, path, headers=AUTH)
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store", path


async def test_failed_admin_logins_are_limited_per_address(make_client: ClientFactory) -> None:
    client = await make_client(server__forwarded_hops=1)
    guesser = {"X-Forwarded-For": "203.0.113.66"}
    for _ in range(30):  # a moderator's own requests never count
        assert (await client.get("/api/mode", headers={**AUTH, **guesser})).status == 200
    for i in range(10):
        resp = await client.get("/api/mode", headers={"Authorization": f"Bearer guess-{i}", **guesser})
        assert resp.status == 401
    locked = await client.get("/api/mode", headers={"Authorization": "Bearer guess-11", **guesser})
    assert locked.status == 429 and 1 <= int(locked.headers["Retry-After"]) <= 60
    assert locked.headers["Cache-Control"] == "no-store" and "error" in await locked.json()
    # The lockout holds even for the right token: a guess that hit must not be told so.
    assert (await client.get("/api/mode", headers={**AUTH, **guesser})).status == 429
    other = {"X-Forwarded-For": "203.0.113.67"}
    assert (await client.get("/api/mode", headers={**AUTH, **other})).status == 200
