"""/send on a phone, in real Chromium: Enter sends, the field keeps focus, Send stays in view."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from server.app import create_app
from tests.conftest import AUTH, ConfigFactory

# A 390 px wide phone whose on-screen keyboard has taken all but 500 px of the height.
PHONE = {"width": 390, "height": 500}


async def pending_texts(wall: TestServer) -> list[str]:
    async with aiohttp.ClientSession() as http:
        resp = await http.get(wall.make_url("/api/barrages?status=pending"), headers=AUTH)
        return [item["text"] for item in (await resp.json())["items"]]


async def open_send(browser: Browser, wall: TestServer) -> Page:
    context = await browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = await context.new_page()
    await page.goto(str(wall.make_url("/send")))
    await page.locator("#counter:not(:empty)").wait_for()
    return page


async def test_enter_sends_and_shift_enter_is_a_newline(browser: Browser, wall: TestServer) -> None:
    page = await open_send(browser, wall)
    await page.locator("#text").click()
    await page.keyboard.type("first line")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("second line")
    assert await page.input_value("#text") == "first line\nsecond line"
    await page.keyboard.press("Enter")
    await page.locator("#result.ok").wait_for(timeout=5000)
    assert await pending_texts(wall) == ["first line second line"]  # the server folds the newline
    assert await page.input_value("#text") == ""
    assert await page.evaluate("document.activeElement.id") == "text"  # ready for the next one
    await page.keyboard.type("and another")
    await page.keyboard.press("Enter")
    await page.locator("#counter", has_text="0 /").wait_for(timeout=5000)
    assert await pending_texts(wall) == ["first line second line", "and another"]


async def test_the_field_keeps_focus_after_tapping_send(browser: Browser, wall: TestServer) -> None:
    page = await open_send(browser, wall)
    await page.locator("#text").fill("tapped")
    await page.locator("#submit").tap()
    await page.locator("#result.ok").wait_for(timeout=5000)
    assert await page.evaluate("document.activeElement.id") == "text"


async def test_send_stays_visible_above_the_keyboard(browser: Browser, wall: TestServer) -> None:
    page = await open_send(browser, wall)
    await page.locator("#text").focus()
    await page.keyboard.type("a message long enough to matter " * 3)
    for _ in range(3):
        await page.keyboard.press("Shift+Enter")
    box = await page.locator("#submit").bounding_box()
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    # The button is not hidden under something else either: it is what a tap there hits.
    hit = await page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.id",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert hit == "submit"


async def test_the_name_box_takes_the_servers_limit(
    browser: Browser, make_config: ConfigFactory
) -> None:
    for limit in (32, 20):
        config = make_config() if limit == 32 else make_config(moderation__max_author_length=limit)
        wall = TestServer(create_app(config), host="127.0.0.1")
        await wall.start_server()
        try:
            page = await open_send(browser, wall)
            await page.locator(f'#author[maxlength="{limit}"]').wait_for(state="attached", timeout=5000)
            await page.locator("#author").fill("x" * 40)
            assert len(await page.input_value("#author")) == limit
        finally:
            await wall.close()


async def test_a_sender_is_told_when_no_screen_shows_the_room(browser: Browser, wall: TestServer) -> None:
    page = await open_send(browser, wall)
    result = page.locator("#result.ok")
    await page.locator("#text").fill("anyone there?")
    await page.locator("#submit").click()
    await result.wait_for(timeout=5000)
    assert "saved; no screen is showing right now" in await result.text_content()
    screen = await browser.new_page()
    await screen.goto(str(wall.make_url("/screen")))
    async with aiohttp.ClientSession() as http:  # the stream is open once the server counts it
        for _ in range(500):
            async with http.get(wall.make_url("/api/stats"), headers=AUTH) as resp:
                if (await resp.json())["screens"] == 1:
                    break
    await page.locator("#text").fill("now it shows")
    await page.locator("#submit").click()
    await page.locator("#result.ok", has_text="A moderator will look").filter(
        has_not_text="no screen").wait_for(timeout=5000)
