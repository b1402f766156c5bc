"""The lottery in Chromium: drawn from /moderate's Lottery button, shown on the screen."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from server.app import create_app
from tests.browser.test_screen import api, open_screen
from tests.conftest import ADMIN_TOKEN, ConfigFactory

HOSTILE = '<img src=x onerror="__pwned=1">'  # an author name: at most 32 characters


@pytest.fixture
async def open_wall(make_config: ConfigFactory) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(make_config(moderation__mode="off")), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_the_lottery_button_draws_and_the_screen_shows_the_winners(
        browser: Browser, open_wall: TestServer) -> None:
    for author in ("Ann", HOSTILE, "小明"):  # each request a new device: three senders
        await api(open_wall, "POST", "/api/barrages", json={"text": "me!", "author": author})
    screen = await open_screen(browser, open_wall)
    moderate = await browser.new_page()
    await moderate.goto(str(open_wall.make_url(f"/moderate#token={ADMIN_TOKEN}")))
    await moderate.locator("#live.live").wait_for(timeout=5000)
    await moderate.click("#lotteries summary")
    row = moderate.locator("#lottery-rooms li", has_text="main")
    await row.locator("input").fill("2")
    await row.locator("button", has_text="Lottery").click()
    await moderate.locator("#notice.ok", has_text="Lottery in main").wait_for(timeout=5000)
    assert "drawn from 3 senders" in await moderate.locator("#notice").text_content()

    await screen.locator("#lottery.drawing .lottery-spin").wait_for(timeout=2000)  # the animation
    winners = screen.locator("#lottery .lottery-winner")
    await winners.nth(1).wait_for(timeout=6000)
    shown = await winners.all_text_contents()
    assert len(set(shown)) == 2 and set(shown) <= {"Ann", HOSTILE, "小明"}
    notice = await moderate.locator("#notice").text_content()
    assert all(name in notice for name in shown)
    assert await screen.locator("#lottery img, #lottery script, #lottery b").count() == 0
    assert await screen.evaluate("window.__pwned") is None
    assert screen.errors == []  # type: ignore[attr-defined]
