"""/moderate per room in real Chromium: `?room=` is that room's queue only, live too; without
it every room's, each card naming its room; the picker switches between them."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect

from tests.browser.test_moderate import api, card
from tests.conftest import ADMIN_TOKEN, AUTH

HANG = 10000  # a bound on a hang, not a timing claim


async def submit(wall: TestServer, room: str, text: str) -> int:
    return (await api(wall, "POST", "/api/barrages", json={"text": text, "room": room}))["id"]


async def open_desk(browser: Browser, wall: TestServer, path: str) -> Page:
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    await page.goto(str(wall.make_url(path)))
    await page.fill("#token", ADMIN_TOKEN)
    await page.click("#login-form button[type=submit]")
    await page.locator("#live.live").wait_for(timeout=HANG)
    return page


async def shown(page: Page) -> list[int]:
    ids = await page.locator(".card").evaluate_all("cards => cards.map(c => c.dataset.barrageId)")
    return [int(i) for i in ids]


async def test_a_rooms_desk_shows_that_rooms_queue_only(browser: Browser, wall: TestServer) -> None:
    await api(wall, "POST", "/api/rooms", json={"slug": "hall-b"}, headers=AUTH)
    in_main = await submit(wall, "main", "for the main hall")
    in_b = await submit(wall, "hall-b", "for hall b")
    page = await open_desk(browser, wall, "/moderate?room=hall-b")
    await card(page, in_b).wait_for(timeout=HANG)
    assert await shown(page) == [in_b]
    assert await page.locator("#room-picker").input_value() == "hall-b"

    # Live: main's arrives first, so once hall b's later one is shown, main's would have been.
    later_main = await submit(wall, "main", "main again")
    later_b = await submit(wall, "hall-b", "hall b again")
    await card(page, later_b).wait_for(timeout=HANG)
    assert await shown(page) == [in_b, later_b]
    await expect(page.locator("#stat-pending")).to_have_text("2", timeout=HANG)  # the room's count

    everything = await open_desk(browser, wall, "/moderate")
    for barrage_id in (in_main, in_b, later_main, later_b):
        await card(everything, barrage_id).wait_for(timeout=HANG)
    assert await card(everything, in_b).locator(".card-room").inner_text() == "hall-b"
    assert await card(everything, in_main).locator(".card-room").inner_text() == "main"
    assert await card(page, in_b).locator(".card-room").count() == 0  # one room: no need to say

    await everything.locator("#room-picker").select_option("main")
    await everything.wait_for_url("**/moderate?room=main")
    await everything.locator("#live.live").wait_for(timeout=HANG)
    await card(everything, later_main).wait_for(timeout=HANG)
    assert await shown(everything) == [in_main, later_main]
