"""GET /metrics over real HTTP, read with prometheus_client.parser: each series moves when its
event happens."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient

from server.web.keys import COUNTERS
from tests.conftest import AUTH, ClientFactory
from tests.metrics_scrape import BEARER, METRICS_TOKEN, Scrape
from tests.sse import next_block
from tests.web.test_stream import stalled_stream, wait_for_screens

SHARED_REDIS = "redis://127.0.0.1:6379/0"


async def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Scrape:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-store"
    return Scrape.parse(await resp.text())


async def until(client: TestClient, check: Callable[[Scrape], bool]) -> Scrape:
    """Scrape until `check` holds (a positive signal, bounded against hangs)."""
    for _ in range(500):
        if check(found := await scrape(client)):
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"never held: {found.samples}")


@pytest.fixture
async def metered(make_client: ClientFactory) -> TestClient:
    return await make_client(metrics__enabled=True)


def submissions(found: Scrape, outcome: str, source: str = "web") -> float | None:
    return found.value("barrage_submissions_total", source=source, outcome=outcome)


async def test_off_by_default_is_a_404(client: TestClient) -> None:
    assert (await client.get("/metrics")).status == 404


async def test_the_text_format_with_the_default_collectors(metered: TestClient) -> None:
    found = await scrape(metered)
    for name in ("process_cpu_seconds", "process_resident_memory_bytes", "python_info",
                 "python_gc_collections"):
        assert name in found.families, name
    assert found.families["barrage_submissions"] == "counter"
    assert found.families["barrage_decision_seconds"] == "histogram"
    assert found.families["barrage_streams"] == "gauge"
    for outcome in ("accepted", "rejected", "refused", "duplicate"):
        assert submissions(found, outcome) == 0
    assert found.value("barrage_pending", room="main") == 0
    assert found.value("barrage_streams", room="main", audience="screen") == 0
    assert found.value("barrage_database_writable") == 1  # /healthz's database check
    # Present only with a shared bus, and with an enabled platform.
    assert "barrage_bus_connected" not in found.families
    assert "barrage_outbound_queue" not in found.families
    assert "barrage_platform_retries" not in found.families
    assert "barrage_platform_connected" not in found.families


async def test_a_token_needs_bearer_and_locks_nobody_out(make_client: ClientFactory) -> None:
    client = await make_client(metrics__enabled=True, metrics__token=METRICS_TOKEN)
    for headers in (None, {"Authorization": "Bearer wrong-token-0123456789"}, AUTH,
                    {"Authorization": METRICS_TOKEN}, {"Authorization": "Basic " + METRICS_TOKEN}):
        for _ in range(6):  # past the admin token's lockout, were it counted there
            resp = await client.get("/metrics", headers=headers)
            assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    await scrape(client, BEARER)
    await scrape(client, {"Authorization": f"bearer  {METRICS_TOKEN}"})
    assert "admin_auth.failed" not in client.app[COUNTERS]
    assert (await client.get("/api/stats", headers=AUTH)).status == 200


async def test_submissions_by_outcome(make_client: ClientFactory) -> None:
    client = await make_client(metrics__enabled=True, moderation__mode="auto",
                               moderation__max_per_minute=2)  # the first counts as anonymous
    assert (await client.post("/api/filters", json={"pattern": "darnit"}, headers=AUTH)).status == 201
    assert (await client.post("/api/barrages", json={"text": "hello"})).status == 201
    assert (await client.post("/api/barrages", json={"text": "oh darnit"})).status == 201
    key = {"Idempotency-Key": "once"}
    for _ in range(2):
        assert (await client.post("/api/barrages", json={"text": "again"}, headers=key)).status == 201
    refusals = [(client.post("/api/barrages", data=b"not json",
                             headers={"Content-Type": "application/json"}), 400),  # before the core
                (client.post("/api/barrages", json={"text": " "}), 400),  # the core's input policy
                (client.post("/api/barrages", json={"text": "x", "room": "nowhere"}), 404),
                (client.post("/api/barrages", json={"text": "over the limit"}), 429)]
    for request, status in refusals:
        assert (await request).status == status
    found = await scrape(client)
    assert [submissions(found, o) for o in ("accepted", "rejected", "duplicate", "refused")] == [2, 1, 1, 4]
    assert found.value("barrage_rate_limited_total", limit="sender") == 1  # the service's own count
    assert submissions(found, "accepted", "telegram") == 0


async def test_a_muted_sender_is_refused(metered: TestClient) -> None:
    assert (await metered.post("/api/barrages", json={"text": "first"})).status == 201
    [item] = (await (await metered.get("/api/barrages", headers=AUTH)).json())["items"]
    assert (await metered.post(f"/api/barrages/{item['id']}/approve", headers=AUTH)).status == 200
    resp = await metered.post("/api/mutes", json={"sender": _sender(metered), "minutes": 5}, headers=AUTH)
    assert resp.status == 201, await resp.text()
    assert (await metered.post("/api/barrages", json={"text": "second"})).status == 403
    assert submissions(await scrape(metered), "refused") == 1


def _sender(client: TestClient) -> str:
    cookie = next(c for c in client.session.cookie_jar if c.key == "barrage_device")
    return f"web:{cookie.value.split('.')[0]}"


async def test_decisions_and_their_wait(metered: TestClient) -> None:
    ids = []
    for text in ("one", "two", "three"):
        ids.append((await (await metered.post("/api/barrages", json={"text": text})).json())["id"])
    found = await scrape(metered)
    assert found.value("barrage_pending", room="main") == 3
    assert (await metered.post(f"/api/barrages/{ids[0]}/approve", headers=AUTH)).status == 200
    assert (await metered.post(f"/api/barrages/{ids[0]}/approve", headers=AUTH)).status == 200  # a repeat
    resp = await metered.post("/api/barrages/bulk", json={"ids": ids[1:], "verdict": "reject"}, headers=AUTH)
    assert resp.status == 200
    found = await scrape(metered)
    assert found.value("barrage_decisions_total", verdict="approve", via="web") == 1
    assert found.value("barrage_decisions_total", verdict="reject", via="web") == 2
    assert found.value("barrage_decisions_total", verdict="approve", via="telegram") == 0
    assert found.value("barrage_decision_seconds_count") == 3
    assert found.value("barrage_decision_seconds_bucket", le="+Inf") == 3
    assert found.value("barrage_events_published_total") >= 6  # three pending, three decided
    for _ in range(300):  # the pending counts are read at most once a second (REFRESH_SECONDS)
        if (await scrape(metered)).value("barrage_pending", room="main") == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("barrage_pending never came down to 0")


async def test_streams_by_room_and_audience(make_client: ClientFactory) -> None:
    client = await make_client(metrics__enabled=True, rooms=[{"slug": "hall"}])
    screens = [await client.get("/stream"), await client.get("/stream?room=hall")]
    desks = [await client.get("/api/stream", headers=AUTH), await client.get("/api/stream?room=hall",
                                                                               headers=AUTH)]
    for stream in screens + desks:
        await next_block(stream)
    found = await until(client, lambda s: s.value("barrage_streams", room="*", audience="admin") == 1)
    assert found.labelled("barrage_streams") == {
        frozenset({("room", r), ("audience", a)}): n for r, a, n in [
            ("main", "screen", 1), ("hall", "screen", 1), ("main", "admin", 0), ("hall", "admin", 1),
            ("*", "admin", 1)]}
    for stream in screens:
        stream.close()
    await wait_for_screens(client, 0)
    found = await until(client, lambda s: s.value("barrage_streams", room="hall", audience="screen") == 0)
    assert found.value("barrage_streams", room="main", audience="screen") == 0
    for stream in desks:
        stream.close()


async def test_a_stalled_stream_dropped_is_counted(make_client: ClientFactory) -> None:
    """As tests/web/test_stream.py's stalled client: one that never reads is dropped."""
    client = await make_client(metrics__enabled=True, moderation__mode="off",
                               moderation__max_text_length=1000, stream__max_buffer_bytes=1024)
    reader = await client.get("/stream")
    await next_block(reader)
    stalled = stalled_stream(client)
    await wait_for_screens(client, 2)
    assert (await scrape(client)).value("barrage_fanout_dropped_streams_total") == 0
    for i in range(150):
        assert (await client.post("/api/barrages", json={"text": f"{i:04d}" + "字" * 900})).status == 201
    await wait_for_screens(client, 1)
    found = await scrape(client)
    assert found.value("barrage_fanout_dropped_streams_total") == 1
    assert found.value("barrage_streams", room="main", audience="screen") == 1
    stalled.close()
    reader.close()


async def test_bus_connected_with_redis(make_client: ClientFactory) -> None:
    client = await make_client(metrics__enabled=True, bus__url=SHARED_REDIS,
                               bus__channel=f"metrics_{secrets.token_hex(6)}")
    found = await until(client, lambda s: s.value("barrage_bus_connected") == 1)
    assert found.families["barrage_bus_connected"] == "gauge"


async def test_each_app_has_its_own_numbers(make_client: ClientFactory, make_config) -> None:
    one = await make_client(metrics__enabled=True)
    two = await make_client(make_config(metrics__enabled=True, database__url="sqlite+aiosqlite:///"
                                        + str(make_config().database.url).split("///")[1] + "-2"))
    assert (await one.post("/api/barrages", json={"text": "only here"})).status == 201
    assert submissions(await scrape(one), "accepted") == 1
    assert submissions(await scrape(two), "accepted") == 0
