"""Live controls on the screen in real Chromium: pause, resume, clear, the pinned announcement,
and a screen opened late that starts from the room's `state`. Each "nothing happened" waits
for a later event on the same ordered stream (an announcement) as its positive signal."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from tests.browser.test_moderate import open_desk
from tests.browser.test_screen import api, open_screen
from tests.conftest import AUTH


async def approved(wall: TestServer, text: str) -> int:
    item = await api(wall, "POST", "/api/barrages", json={"text": text})
    await api(wall, "POST", f"/api/barrages/{item['id']}/approve", headers=AUTH)
    return item["id"]


async def control(wall: TestServer, name: str) -> dict:
    return await api(wall, "POST", f"/api/rooms/main/{name}", headers=AUTH)


async def announce(wall: TestServer, text: str | None) -> dict:
    return await api(wall, "PUT", "/api/rooms/main/announcement", json={"text": text}, headers=AUTH)


async def shown(screen: Page, text: str) -> None:
    """The announcement line shows `text`: the screen has read every event before it."""
    await screen.locator("#announcement:not([hidden])", has_text=text).wait_for(timeout=5000)


async def test_pause_holds_approved_ones_and_resume_flies_them(browser: Browser, wall: TestServer) -> None:
    screen = await open_screen(browser, wall, "?duration=30")
    await control(wall, "pause")
    ids = [await approved(wall, f"held {i}") for i in range(3)]
    await announce(wall, "after the three")  # later on the stream than all three approvals
    await shown(screen, "after the three")
    assert await screen.locator(".barrage").count() == 0
    await control(wall, "resume")
    for barrage_id in ids:
        await screen.locator(f'[data-barrage-id="{barrage_id}"]').wait_for(state="attached", timeout=5000)
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_clear_empties_the_screen_and_the_waiting_queue(browser: Browser, wall: TestServer) -> None:
    screen = await open_screen(browser, wall, "?duration=60")
    flying = [await approved(wall, f"flying {i}") for i in range(2)]
    for barrage_id in flying:
        await screen.locator(f'[data-barrage-id="{barrage_id}"]').wait_for(state="attached", timeout=5000)
    await control(wall, "pause")
    await approved(wall, "waiting")
    await control(wall, "clear")
    await control(wall, "resume")
    sentinel = await approved(wall, "after the clear")
    await screen.locator(f'[data-barrage-id="{sentinel}"]').wait_for(state="attached", timeout=5000)
    assert await screen.locator(".barrage").count() == 1  # the flying two left, the waiting one never flew
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_the_announcement_is_pinned_replaced_and_removed(browser: Browser, wall: TestServer) -> None:
    screen = await open_screen(browser, wall)
    hostile = '<b>Q&A</b> after the talk <img src=x onerror="window.__pwned=1">'
    await announce(wall, hostile)
    await shown(screen, hostile)
    assert await screen.locator("#announcement").text_content() == hostile
    assert await screen.locator("#announcement b, #announcement img").count() == 0
    await announce(wall, "Lunch at 12")
    await shown(screen, "Lunch at 12")
    await announce(wall, None)
    await screen.locator("#announcement").wait_for(state="hidden", timeout=5000)
    assert await screen.evaluate("window.__pwned") is None
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_a_screen_opened_after_pause_and_announce_shows_it(browser: Browser, wall: TestServer) -> None:
    await control(wall, "pause")
    await announce(wall, "Back at 3 · 三点回来")
    screen = await open_screen(browser, wall)
    await shown(screen, "Back at 3 · 三点回来")
    await screen.locator("html.paused").wait_for(state="attached", timeout=5000)
    held = await approved(wall, "held until resume")
    await announce(wall, "still paused")
    await shown(screen, "still paused")
    assert await screen.locator(".barrage").count() == 0
    await control(wall, "resume")
    await screen.locator(f'[data-barrage-id="{held}"]').wait_for(state="attached", timeout=5000)
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_settings_change_the_screen_live(browser: Browser, wall: TestServer) -> None:
    screen = await open_screen(browser, wall)
    await api(wall, "PATCH", "/api/rooms/main", json={"title": "Main hall", "join_text": "Scan the QR"},
              headers=AUTH)
    await screen.locator("#join", has_text="Scan the QR").wait_for(timeout=5000)
    assert await screen.title() == "Main hall · barrage"
    await api(wall, "PATCH", "/api/rooms/main", json={"join_text": ""}, headers=AUTH)
    await screen.locator("#join", has_text="/send").wait_for(timeout=5000)  # the default again
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_the_moderation_desk_pauses_pins_and_clears_a_rooms_screen(
    browser: Browser, wall: TestServer
) -> None:
    screen = await open_screen(browser, wall, "?duration=60")
    desk = await open_desk(browser, wall)
    main = desk.locator('.room-control[data-room="main"]')
    await main.get_by_role("button", name="Pause").click()
    await screen.locator("html.paused").wait_for(state="attached", timeout=5000)
    await main.locator(".room-state.paused").wait_for(timeout=5000)
    await main.get_by_label("Announcement for main").fill("Q&A after the talk")
    await main.get_by_role("button", name="Set", exact=True).click()
    await shown(screen, "Q&A after the talk")
    await main.locator(".pinned", has_text="Q&A after the talk").wait_for(timeout=5000)
    await main.get_by_role("button", name="Resume").click()
    await screen.locator("html:not(.paused)").wait_for(state="attached", timeout=5000)
    await main.get_by_role("button", name="Remove").click()
    await screen.locator("#announcement").wait_for(state="hidden", timeout=5000)
    assert (await api(wall, "GET", "/api/rooms/main", headers=AUTH))["announcement"] is None
    flying = screen.locator(f'[data-barrage-id="{await approved(wall, "on screen")}"]')
    await flying.wait_for(state="attached", timeout=5000)
    await main.get_by_role("button", name="Clear").click()
    await flying.wait_for(state="detached", timeout=5000)
    assert screen.errors == [] and desk.errors == []  # type: ignore[attr-defined]
