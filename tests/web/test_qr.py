"""GET /rooms/{slug}/qr.svg: a public, script-free SVG of the room's join URL (decoded back
to that URL in tests/browser/test_qr.py), cached, 404 for an unknown room."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aiohttp.test_utils import TestClient

from server.web.keys import CONFIG
from server.web.qr import QR_CACHE, QrCache
from tests.conftest import AUTH, ClientFactory

SVG = "{http://www.w3.org/2000/svg}"


async def test_a_rooms_qr_is_an_svg_of_its_join_url(client: TestClient) -> None:
    assert (await client.post("/api/rooms", json={"slug": "hall-b"}, headers=AUTH)).status == 201
    resp = await client.get("/rooms/hall-b/qr.svg")  # public: no token
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/svg+xml"
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'"
    root = ET.fromstring(await resp.read())
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text == client.app[CONFIG].join_url("hall-b")
    assert client.app[CONFIG].join_url("hall-b").endswith("/send?room=hall-b")
    # Nothing that runs or loads: only a title and paths.
    assert {element.tag for element in root.iter()} == {f"{SVG}svg", f"{SVG}title", f"{SVG}path"}


async def test_main_joins_at_plain_send_on_the_public_url(make_client: ClientFactory) -> None:
    client = await make_client(server__public_url="https://wall.example.org/")
    root = ET.fromstring(await (await client.get("/rooms/main/qr.svg")).read())
    assert root.find(f"{SVG}title").text == "https://wall.example.org/send"


async def test_an_unknown_room_has_no_qr(client: TestClient) -> None:
    assert (await client.get("/rooms/nowhere/qr.svg")).status == 404
    assert (await client.get("/rooms/Bad%20Slug/qr.svg")).status == 404


async def test_each_code_is_made_once(client: TestClient) -> None:
    first = await (await client.get("/rooms/main/qr.svg")).read()
    cache = client.app[QR_CACHE]
    made = cache.get(client.app[CONFIG].join_url("main"))
    assert made is cache.get(client.app[CONFIG].join_url("main"))  # the same bytes, not remade
    assert made == first


def test_the_cache_is_bounded_and_keeps_the_recent() -> None:
    cache = QrCache(size=2)
    a = cache.get("http://a/send")
    cache.get("http://b/send")
    assert cache.get("http://a/send") is a  # asked again: now the most recent
    cache.get("http://c/send")  # pushes out b, the least recent
    assert cache.get("http://a/send") is a
    assert len(cache._svgs) == 2 and "http://b/send" not in cache._svgs
