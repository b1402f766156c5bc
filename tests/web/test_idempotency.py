"""`Idempotency-Key` on POST /api/barrages, over real HTTP through the real app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from server.app import STORE
from server.store.sql import BARRAGE
from tests.conftest import AUTH, ClientFactory, ConfigFactory
from tests.web.test_senders import device_cookie


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def send(http: aiohttp.ClientSession, client: TestClient, key: str | None,
               cookie: str | None = None, text: str = "hello") -> tuple[int, dict, aiohttp.ClientResponse]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    if cookie:
        headers["Cookie"] = f"barrage_device={cookie}"
    async with http.post(client.make_url("/api/barrages"), json={"text": text}, headers=headers) as resp:
        return resp.status, await resp.json(), resp


async def count(client: TestClient) -> int:
    return len((await (await client.get("/api/barrages", headers=AUTH)).json())["items"])


async def test_the_same_key_returns_the_first_result(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client()
    cookie = await device_cookie(http, client)
    first = await send(http, client, "4f1c-retry-me", cookie)
    assert first[0] == 201 and first[1] == {"id": first[1]["id"], "status": "pending",
                                                  "reason": None, "screens": 0}
    await client.post(f"/api/barrages/{first[1]['id']}/approve", headers=AUTH)
    again = await send(http, client, "4f1c-retry-me", cookie)
    assert again[:2] == first[:2]  # what the first answer said, though approved since
    assert await count(client) == 1
    other = await send(http, client, "another-key", cookie)
    assert other[0] == 201 and other[1]["id"] != first[1]["id"]


async def test_two_identical_requests_at_once_make_one_barrage(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__mode="off")
    cookie = await device_cookie(http, client)
    results = await asyncio.gather(*(send(http, client, "same-moment", cookie) for _ in range(8)))
    assert {(status, body["id"], body["status"]) for status, body, _ in results} == {
        (201, results[0][1]["id"], "approved")}
    assert await count(client) == 1


async def test_the_key_holds_across_processes(
    make_client: ClientFactory, make_config: ConfigFactory, http: aiohttp.ClientSession
) -> None:
    config = make_config()
    one, two = await make_client(config), await make_client(config)  # two servers, one database
    cookie = await device_cookie(http, one)
    first = await send(http, one, "k-across", cookie)
    assert (await send(http, two, "k-across", cookie))[:2] == first[:2]
    both = await asyncio.gather(send(http, one, "k-race", cookie), send(http, two, "k-race", cookie))
    assert both[0][1] == both[1][1]
    assert await count(one) == 2


async def test_the_key_belongs_to_its_device(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client()
    a, b = await device_cookie(http, client), await device_cookie(http, client)
    assert (await send(http, client, "shared", a))[1] != (await send(http, client, "shared", b))[1]
    assert await count(client) == 2


async def test_a_repeat_is_not_counted_by_the_rate_limit(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client(moderation__max_per_minute=2)
    cookie = await device_cookie(http, client)
    statuses = [(await send(http, client, "k1", cookie))[0] for _ in range(6)]
    statuses += [(await send(http, client, k, cookie))[0] for k in ("k2", "k3")]
    assert statuses == [201] * 7 + [429]


async def test_after_24_hours_the_key_makes_a_new_barrage(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client()
    cookie = await device_cookie(http, client)
    first = (await send(http, client, "daily", cookie))[1]
    engine = client.app[STORE]._engine  # age the stored row: a day passes
    async with engine.begin() as conn:
        await conn.execute(update(BARRAGE).values(created_at=datetime.now(UTC) - timedelta(hours=25)))
    later = (await send(http, client, "daily", cookie))[1]
    assert later["id"] != first["id"]
    assert (await send(http, client, "daily", cookie))[1] == later
    assert await count(client) == 2


async def test_without_a_key_every_post_is_new(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    client = await make_client()
    cookie = await device_cookie(http, client)
    await send(http, client, None, cookie)
    await send(http, client, None, cookie)
    assert await count(client) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
async def test_a_bad_key_is_400(make_client: ClientFactory, http: aiohttp.ClientSession, key: str) -> None:
    client = await make_client()
    status, body, _ = await send(http, client, key)
    assert status == 400 and "Idempotency-Key" in body["error"]
    assert await count(client) == 0


@pytest.mark.parametrize("key", [b"caf\xc3\xa9", b"del\x7f", b"\xff\xfe"])
async def test_a_non_ascii_key_is_400(client: TestClient, key: bytes) -> None:
    """Bytes an HTTP client library refuses to send, over a raw socket."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    body = b'{"text": "hi"}'
    writer.write(b"POST /api/barrages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Idempotency-Key: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                 % (key, len(body), body))
    status = (await reader.readline()).split()[1]
    writer.close()
    assert status == b"400"
    assert await count(client) == 0


async def test_the_longest_key_is_accepted(make_client: ClientFactory, http: aiohttp.ClientSession) -> None:
    client = await make_client()
    key = "".join(chr(c) for c in range(0x20, 0x7F)) * 3
    key = key[:255]
    first = await send(http, client, key)
    assert first[0] == 201 and (await send(http, client, key))[1] == first[1]
