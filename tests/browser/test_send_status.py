"""/send in real Chromium tells the sender what became of each message: waiting, on screen,
not approved. Another phone sees none of it."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Locator, Page

from tests.browser.test_moderate import api
from tests.browser.test_send import open_send
from tests.conftest import AUTH

# A bound on a hang (the page polls every few seconds while one waits), not a timing claim.
HANG = 20000


async def send(page: Page, text: str) -> None:
    await page.locator("#text").fill(text)
    await page.keyboard.press("Enter")
    await page.locator("#result.ok").wait_for(timeout=5000)


def mine(page: Page, text: str) -> Locator:
    return page.locator("#mine li", has_text=text)


async def test_the_sender_sees_waiting_then_on_screen_or_not_approved(
    browser: Browser, wall: TestServer
) -> None:
    page = await open_send(browser, wall)
    assert await page.locator("#mine-section").is_hidden()
    await send(page, "<b>hello</b> wall")
    await send(page, "a rude one")
    hello, rude = mine(page, "<b>hello</b> wall"), mine(page, "a rude one")
    await hello.locator(".mine-status", has_text="waiting").wait_for(timeout=HANG)
    await rude.locator(".mine-status", has_text="waiting").wait_for(timeout=HANG)
    assert await page.locator("#mine b").count() == 0  # text, never markup

    items = (await api(wall, "GET", "/api/barrages?status=pending", headers=AUTH))["items"]
    ids = {item["text"]: item["id"] for item in items}
    await api(wall, "POST", f"/api/barrages/{ids['<b>hello</b> wall']}/approve", headers=AUTH)
    await hello.locator(".mine-status", has_text="on screen").wait_for(timeout=HANG)
    await api(wall, "POST", f"/api/barrages/{ids['a rude one']}/reject", headers=AUTH)
    await rude.locator(".mine-status", has_text="not approved").wait_for(timeout=HANG)
    assert await page.locator("#mine li").all_inner_texts() == [
        "a rude one\nnot approved: rejected by web moderator", "<b>hello</b> wall\non screen"]

    other = await open_send(browser, wall)  # another phone: a context of its own, its own cookie
    await send(other, "mine only")
    await mine(other, "mine only").wait_for(timeout=HANG)
    assert await other.locator("#mine li").count() == 1


async def test_a_phone_the_lottery_picks_is_told_so(browser: Browser, wall: TestServer) -> None:
    """A web sender has no chat: /send shows the win, as text. Another phone is not told."""
    page, other = await open_send(browser, wall), await open_send(browser, wall)
    await send(page, "pick me")
    await send(other, "still waiting")
    items = (await api(wall, "GET", "/api/barrages?status=pending", headers=AUTH))["items"]
    ids = {item["text"]: item["id"] for item in items}
    await api(wall, "POST", f"/api/barrages/{ids['pick me']}/approve", headers=AUTH)
    await mine(page, "pick me").locator(".mine-status", has_text="on screen").wait_for(timeout=HANG)
    assert await page.locator("#wins").is_hidden()

    await api(wall, "POST", "/api/rooms/main/lottery", json={"winners": 1}, headers=AUTH)
    # Approved after the draw: when the other phone shows it on screen, the same answer held
    # its wins (none), so the check below needs no sleep.
    await api(wall, "POST", f"/api/barrages/{ids['still waiting']}/approve", headers=AUTH)
    for phone in (page, other):  # the phone is picked up again: it polls at once
        await phone.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    await page.locator("#wins p", has_text="You won the draw!").wait_for(timeout=HANG)
    await mine(other, "still waiting").locator(".mine-status", has_text="on screen").wait_for(timeout=HANG)
    assert await other.locator("#wins").is_hidden()
