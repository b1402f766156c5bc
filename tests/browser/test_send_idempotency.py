"""/send in real Chromium: one Idempotency-Key per message, kept for a retry."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Route

from tests.browser.test_screen import api
from tests.conftest import AUTH


async def test_a_retry_after_a_lost_answer_stores_the_message_once(
    browser: Browser, wall: TestServer
) -> None:
    page = await browser.new_page()
    keys: list[str] = []
    lose_next = True

    async def on_post(route: Route) -> None:
        nonlocal lose_next
        keys.append(route.request.headers.get("idempotency-key", ""))
        if lose_next:  # the server stores it, the answer never reaches the phone
            lose_next = False
            await route.fetch()
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route("**/api/barrages", on_post)
    await page.goto(str(wall.make_url("/send")))
    result = page.locator("#result")
    await page.fill("#text", "hello once")
    await page.click("#submit")
    await result.filter(has_text="Could not reach").wait_for(timeout=5000)
    await page.click("#submit")  # the same message again
    await result.filter(has_text="Sent!").wait_for(timeout=5000)
    await page.fill("#text", "a second message")
    # "Sent!" still shows from the message before: wait for this one's own answer.
    async with page.expect_response("**/api/barrages") as answer:
        await page.click("#submit")
    assert (await answer.value).status == 201
    await result.filter(has_text="Sent!").wait_for(timeout=5000)

    assert len(keys) == 3 and keys[0] == keys[1] != keys[2] and all(keys)
    items = (await api(wall, "GET", "/api/barrages", headers=AUTH))["items"]
    assert [item["text"] for item in items] == ["hello once", "a second message"]
    cookies = await page.context.cookies()
    [device] = [c for c in cookies if c["name"] == "barrage_device"]
    assert device["httpOnly"] and device["sameSite"] == "Lax"
    assert {item["sender"] for item in items} == {"web:" + device["value"].partition(".")[0]}
