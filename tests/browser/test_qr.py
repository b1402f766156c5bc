"""Join by QR in real Chromium: the served SVG, rendered by the browser, decodes (zxing-cpp)
to the room's join URL; the screen shows it in its join corner, and a large one with the
title once nothing has flown for screen.idle_seconds, gone when the next item flies."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
import zxingcpp
from aiohttp.test_utils import TestServer
from PIL import Image
from playwright.async_api import Browser, Locator, Page

from server.app import create_app
from server.config import Config
from server.web.keys import CONFIG
from tests.browser.test_screen import api
from tests.conftest import AUTH, ConfigFactory


@pytest.fixture
async def idle_wall(make_config: ConfigFactory) -> AsyncIterator[TestServer]:
    """Moderation off, a 1 s idle time and a 1 s crossing, and a second room."""
    config = make_config(moderation__mode="off", screen__idle_seconds=1, screen__crossing_seconds=1,
                         server__public_url="https://wall.example.org")
    server = TestServer(create_app(config), host="127.0.0.1")
    await server.start_server()
    await api(server, "POST", "/api/rooms", json={"slug": "hall-b", "title": "Hall B"}, headers=AUTH)
    yield server
    await server.close()


def config_of(wall: TestServer) -> Config:
    return wall.app[CONFIG]


async def decoded(shot: Locator | Page) -> list[str]:
    image = Image.open(io.BytesIO(await shot.screenshot()))
    return [found.text for found in zxingcpp.read_barcodes(image)]


async def test_the_svg_decodes_to_the_join_url(browser: Browser, idle_wall: TestServer) -> None:
    page = await browser.new_page(viewport={"width": 400, "height": 400})
    for slug in ("main", "hall-b"):
        resp = await page.goto(str(idle_wall.make_url(f"/rooms/{slug}/qr.svg")))
        assert resp is not None and resp.headers["content-type"] == "image/svg+xml"
        assert await decoded(page) == [config_of(idle_wall).join_url(slug)]
    assert config_of(idle_wall).join_url("hall-b") == "https://wall.example.org/send?room=hall-b"


async def open_screen(browser: Browser, wall: TestServer, query: str) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(str(wall.make_url(f"/screen{query}")))
    return page


async def test_the_join_corner_shows_the_rooms_qr(browser: Browser, idle_wall: TestServer) -> None:
    page = await open_screen(browser, idle_wall, "?room=hall-b")
    corner = page.locator("#join #join-qr")
    await corner.wait_for(state="visible")
    assert await corner.get_attribute("src") == "/rooms/hall-b/qr.svg"
    assert await corner.evaluate("img => img.complete && img.naturalWidth > 0")  # it loaded
    assert await page.locator("#join-text").text_content() == (
        "Join the wall: https://wall.example.org/send?room=hall-b")


async def test_a_large_qr_comes_when_idle_and_goes_when_an_item_flies(
    browser: Browser, idle_wall: TestServer
) -> None:
    page = await open_screen(browser, idle_wall, "?room=hall-b")
    idle = page.locator("#idle")
    await idle.wait_for(state="visible")  # nothing flew for idle_seconds
    assert await page.locator("#idle-title").text_content() == "Hall B"
    assert await decoded(page.locator("#idle-qr")) == [config_of(idle_wall).join_url("hall-b")]
    item = await api(idle_wall, "POST", "/api/barrages", json={"text": "here we go", "room": "hall-b"})
    await page.locator(f'[data-barrage-id="{item["id"]}"]').wait_for(state="attached")
    await idle.wait_for(state="hidden")
    await idle.wait_for(state="visible")  # the item crossed, and the wall was idle again


async def test_join_0_hides_the_corner_and_the_large_qr(browser: Browser, idle_wall: TestServer) -> None:
    page = await open_screen(browser, idle_wall, "?join=0")
    await page.locator("html[data-idle=true]").wait_for(state="attached")  # the screen went idle
    assert await page.locator("#idle").is_hidden()
    assert await page.locator("#join").is_hidden()
