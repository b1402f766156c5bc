"""Deciding several at once on /moderate, in real Chromium: tick cards (a click, or `x`), then
Shift+A / Shift+R decide the ticked ones in one POST /api/barrages/bulk; an expired barrage
leaves the desk as a decided one does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from server.app import create_app
from tests.browser.test_moderate import card, open_desk, status_of, submit
from tests.conftest import ConfigFactory


async def test_tick_two_cards_and_approve_them_with_shift_a(browser: Browser, wall: TestServer) -> None:
    first, second, third = await submit(wall, "first", "second", "third")
    desk = await open_desk(browser, wall)
    await card(desk, third).wait_for(timeout=5000)
    await card(desk, first).locator(".tick input").check()  # a click on its checkbox
    await card(desk, second).locator(".text").click()  # select the second card…
    await desk.keyboard.press("x")  # …and tick it from the keyboard
    await desk.locator("#bulk-count", has_text="2 selected").wait_for(timeout=5000)
    await desk.keyboard.press("Shift+A")
    for each in (first, second):
        await card(desk, each).and_(desk.locator(".decided.approved")).wait_for(timeout=5000)
    assert await status_of(wall, first) == ("approved", "Zoe")
    assert await status_of(wall, second) == ("approved", "Zoe")
    assert await status_of(wall, third) == ("pending", None)
    assert desk.decisions == ["bulk"]  # type: ignore[attr-defined]  # one request for both
    assert await desk.locator("#bulk-approve").is_disabled()  # nothing ticked any more
    assert desk.errors == []  # type: ignore[attr-defined]


async def test_select_all_visible_and_reject_selected(browser: Browser, wall: TestServer) -> None:
    ids = await submit(wall, "one", "two", "three")
    desk = await open_desk(browser, wall)
    await card(desk, ids[-1]).wait_for(timeout=5000)
    await desk.locator("#tick-all").check()
    await desk.locator("#bulk-count", has_text="3 selected").wait_for(timeout=5000)
    await desk.locator("#bulk-reject").click()
    for each in ids:
        await card(desk, each).and_(desk.locator(".decided.rejected")).wait_for(timeout=5000)
    assert [await status_of(wall, each) for each in ids] == [("rejected", "Zoe")] * 3
    assert desk.decisions == ["bulk"]  # type: ignore[attr-defined]


@pytest.fixture
async def capped_wall(make_config: ConfigFactory) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(make_config(moderation__max_pending=1)), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_an_expired_card_says_so(browser: Browser, capped_wall: TestServer) -> None:
    [old] = await submit(capped_wall, "old")
    desk = await open_desk(browser, capped_wall)
    await card(desk, old).wait_for(timeout=5000)
    await submit(capped_wall, "new")  # over the cap of one: the old one expires
    expired = card(desk, old).and_(desk.locator(".decided.expired"))
    await expired.wait_for(timeout=5000)
    assert "Expired" in (await expired.locator(".verdict").text_content() or "")
    assert await card(desk, old).locator("button.approve").is_disabled()
