"""Web senders are devices (the signed `barrage_device` cookie), not addresses.

Every test drives the real app over real HTTP. Each simulated phone is its own
cookie holder, so the client session here keeps no cookie jar of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import AUTH, ClientFactory, ConfigFactory
from tests.sse import next_event

COOKIE = "barrage_device"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


def set_cookie(resp: aiohttp.ClientResponse) -> str | None:
    """The `barrage_device` value this response sets, if any."""
    for header in resp.headers.getall("Set-Cookie", []):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if COOKIE in jar:
            return jar[COOKIE].value
    return None


async def device_cookie(http: aiohttp.ClientSession, client: TestClient) -> str | None:
    """A phone opening /send: the cookie it is handed."""
    async with http.get(client.make_url("/send")) as resp:
        assert resp.status == 200
        return set_cookie(resp)


async def post(http: aiohttp.ClientSession, client: TestClient, cookie: str | None = None,
               headers: dict[str, str] | None = None, text: str = "hi") -> aiohttp.ClientResponse:
    headers = dict(headers or {})
    if cookie:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    async with http.post(client.make_url("/api/barrages"), json={"text": text}, headers=headers) as resp:
        await resp.read()
        return resp


async def test_send_page_hands_out_a_signed_httponly_cookie(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client()
    async with http.get(client.make_url("/send")) as resp:
        [header] = [h for h in resp.headers.getall("Set-Cookie", []) if h.startswith(COOKIE + "=")]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=lax" in header.lower() and "secure" not in attributes
    max_age = int(header.lower().split("max-age=")[1].split(";")[0])
    assert max_age >= 300 * 24 * 3600
    device_id, _, signature = set_cookie(resp).partition(".")  # type: ignore[union-attr]
    assert len(device_id) >= 20 and len(signature) >= 20


async def test_cookie_is_secure_when_the_public_url_is_https(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(server__public_url="https://wall.example.org")
    async with http.get(client.make_url("/send")) as resp:
        [header] = [h for h in resp.headers.getall("Set-Cookie", []) if h.startswith(COOKIE + "=")]
    assert "secure" in header.lower()


async def test_a_venue_of_300_devices_behind_one_address(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    """300 phones on one NAT address, 3 messages each within a minute: all 900 land."""
    client = await make_client(moderation__max_per_minute=20)  # the shipped defaults
    cookies = [await device_cookie(http, client) for _ in range(300)]
    limit = asyncio.Semaphore(50)

    async def send(cookie: str | None, n: int) -> int:
        async with limit:
            return (await post(http, client, cookie, text=f"message {n}")).status

    statuses = Counter(await asyncio.gather(*(send(c, n) for c in cookies for n in range(3))))
    print(f"venue: 300 devices x 3 from one address -> {dict(statuses)}")
    assert statuses == {201: 900}
    items = (await (await client.get("/api/barrages?limit=1000", headers=AUTH)).json())["items"]
    assert len({item["sender"] for item in items}) == 300


FORGED = "A" * 22 + "." + "A" * 43  # well formed, wrongly signed


@pytest.mark.parametrize("forged", [None, "nonsense", FORGED])
async def test_a_script_without_a_valid_cookie_is_one_sender_per_address(
    make_client: ClientFactory, http: aiohttp.ClientSession, forged: str | None
) -> None:
    client = await make_client(moderation__max_per_minute=20)
    statuses, fresh = Counter(), set()
    for _ in range(30):
        resp = await post(http, client, forged)
        statuses[resp.status] += 1
        fresh.add(set_cookie(resp))
        if resp.status == 429:
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert statuses == {201: 20, 429: 10}
    # every response hands out a fresh, valid cookie, never the forged one back
    assert None not in fresh and forged not in fresh and len(fresh) == 30
    assert (await post(http, client, fresh.pop())).status == 201


async def test_forged_and_missing_cookies_share_the_anonymous_allowance(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__max_per_minute=3)
    real = await device_cookie(http, client)
    assert real is not None
    device_id, _, signature = real.partition(".")
    tampered = f"{device_id[:-1]}{'A' if device_id[-1] != 'A' else 'B'}.{signature}"
    assert [(await post(http, client, c)).status for c in (None, tampered, None, tampered)] == [
        201, 201, 201, 429]
    assert (await post(http, client, real)).status == 201  # the real device is untouched


async def test_the_signing_key_survives_a_restart_and_is_shared(
    make_client: ClientFactory, make_config: ConfigFactory, http: aiohttp.ClientSession
) -> None:
    """No configuration: the key lives in the database, so every process agrees."""
    config = make_config(moderation__max_per_minute=1)
    first = await make_client(config)
    cookie = await device_cookie(http, first)
    assert (await post(http, first, cookie)).status == 201
    second = await make_client(config)  # a second process on the same database
    again = await post(http, second, cookie)
    assert again.status == 201 and set_cookie(again) is None  # accepted as the same, valid device
    await first.close()
    third = await make_client(config)
    assert set_cookie(await post(http, third, cookie, text="after restart")) is None
    items = (await (await third.get("/api/barrages", headers=AUTH)).json())["items"]
    assert {item["sender"] for item in items} == {"web:" + cookie.partition(".")[0]}  # type: ignore[union-attr]


async def test_the_backstop_counts_every_submission_per_address(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__max_per_minute=20, moderation__max_per_minute_per_address=5)
    cookies = [await device_cookie(http, client) for _ in range(8)]
    statuses = [(await post(http, client, c)).status for c in cookies]
    assert statuses == [201] * 5 + [429] * 3
    refused = await post(http, client, cookies[0])
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1


async def test_the_backstop_counts_an_ipv6_slash_64_as_one_address(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__max_per_minute_per_address=2, server__forwarded_hops=1)
    cookies = [await device_cookie(http, client) for _ in range(4)]
    rotating = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2:abcd::7"]
    statuses = [(await post(http, client, c, {"X-Forwarded-For": a})).status
                for c, a in zip(cookies, rotating, strict=False)]
    assert statuses == [201, 201, 429]
    other = await post(http, client, cookies[3], {"X-Forwarded-For": "2001:db8:1:3::1"})
    assert other.status == 201


async def test_backstop_zero_is_off(make_client: ClientFactory, http: aiohttp.ClientSession) -> None:
    client = await make_client(moderation__max_per_minute_per_address=0)
    cookies = [await device_cookie(http, client) for _ in range(5)]
    assert {(await post(http, client, c)).status for c in cookies} == {201}


async def test_forwarded_for_is_read_across_every_header_line(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    """HAProxy appends its own X-Forwarded-For line: the client's line must not win."""
    client = await make_client(moderation__max_per_minute=1, server__forwarded_hops=1)
    url = client.make_url("/api/barrages")
    statuses = []
    for spoof in ("203.0.113.7", "203.0.113.8"):
        headers = [("X-Forwarded-For", spoof), ("X-Forwarded-For", "198.51.100.1")]
        async with http.post(url, json={"text": "hi"}, headers=headers) as resp:
            statuses.append(resp.status)
    assert statuses == [201, 429]


async def test_an_unparsable_forwarded_entry_falls_back_to_the_peer(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__max_per_minute=1, server__forwarded_hops=1)
    first = await post(http, client, headers={"X-Forwarded-For": "10.0.0.1, not-an-address"})
    second = await post(http, client)  # no header: the peer, 127.0.0.1, as above
    assert (first.status, second.status) == (201, 429)


async def test_refusals_are_counted_and_logged_without_flooding(
    make_client: ClientFactory, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    from server.web.keys import COUNTERS

    client = await make_client(moderation__max_per_minute=2)
    with caplog.at_level(logging.INFO):
        statuses = [(await post(http, client)).status for _ in range(12)]
    assert statuses.count(429) == 10
    assert client.app[COUNTERS]["rate_limited.sender"] == 10
    lines = [r for r in caplog.records if "rate limit" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]


async def test_every_barrage_json_names_its_sender_but_the_screen_does_not(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client()
    cookie = await device_cookie(http, client)
    assert cookie is not None
    sender = "web:" + cookie.partition(".")[0]
    admin = await client.get("/api/stream", headers=AUTH)
    screen = await client.get("/stream")
    first = await post(http, client, cookie)
    assert first.status == 201
    pending = await next_event(admin)
    assert pending.data["sender"] == sender
    [item] = (await (await client.get("/api/barrages", headers=AUTH)).json())["items"]
    assert item["sender"] == sender
    decided = await client.post(f"/api/barrages/{item['id']}/approve", headers=AUTH)
    assert (await decided.json())["sender"] == sender
    assert (await next_event(admin)).data["sender"] == sender
    flying = await next_event(screen)
    assert flying.data["id"] == item["id"] and "sender" not in flying.data

