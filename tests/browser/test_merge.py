"""×N in real Chromium: repeats show "×N" on the flying item, or fly it once more with its count."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from server.app import create_app
from tests.browser.test_moderate import card, open_desk
from tests.browser.test_screen import api, open_screen
from tests.conftest import ConfigFactory


@pytest.fixture
async def open_wall(make_config: ConfigFactory) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(make_config(moderation__mode="off")), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def say(wall: TestServer, text: str) -> dict:
    return await api(wall, "POST", "/api/barrages", json={"text": text})


async def test_repeats_show_xn_on_the_flying_item(browser: Browser, open_wall: TestServer) -> None:
    screen = await open_screen(browser, open_wall, "?duration=60")
    first = await say(open_wall, "Encore!")
    flying = screen.locator(f'[data-barrage-id="{first["id"]}"]')
    await flying.wait_for(state="attached", timeout=5000)
    for text in ("encore", "ENCORE!!", "En-core", "encore 👏"):
        await say(open_wall, text)
    await screen.locator(f'[data-barrage-id="{first["id"]}"] .count', has_text="×5").wait_for(timeout=5000)
    assert await flying.count() == 1  # one item, not five
    assert await screen.locator(".barrage").count() == 1
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_a_repeat_after_the_item_left_flies_it_again_with_its_count(
    browser: Browser, open_wall: TestServer
) -> None:
    screen = await open_screen(browser, open_wall, "?duration=1")
    first = await say(open_wall, "one more time")
    flying = screen.locator(f'[data-barrage-id="{first["id"]}"]')
    await flying.wait_for(state="attached", timeout=5000)
    await flying.wait_for(state="detached", timeout=5000)  # crossed and gone
    await say(open_wall, "One more time!")
    again = screen.locator(f'[data-barrage-id="{first["id"]}"] .count', has_text="×2")
    await again.wait_for(state="attached", timeout=5000)
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_the_desk_shows_xn_and_counts_up_live(browser: Browser, wall: TestServer) -> None:
    first = await say(wall, "Bravo!")
    await say(wall, "bravo")
    desk = await open_desk(browser, wall)
    senders = card(desk, first["id"]).locator(".senders")
    await senders.filter(has_text="×2 senders").wait_for(timeout=5000)
    await say(wall, "BRAVO!!")  # live, through the moderators' stream
    await senders.filter(has_text="×3 senders").wait_for(timeout=5000)
    assert await desk.locator(".card").count() == 1  # the repeats wait with the first, not beside it
    assert desk.errors == []  # type: ignore[attr-defined]
