"""Retract in real Chromium: a flying item leaves at once, and a reconnecting screen never gets it back."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from server.web.fanout import Audience
from server.web.keys import FANOUT
from tests.browser.test_screen import api, open_screen
from tests.conftest import ADMIN_TOKEN, AUTH

# Every barrage node the stage ever gets, recorded as it is added (a flash counts too).
RECORD_ADDED = """
window.__added = [];
new MutationObserver((changes) => {
  for (const change of changes) for (const node of change.addedNodes) {
    if (node.dataset && node.dataset.barrageId) window.__added.push(Number(node.dataset.barrageId));
  }
}).observe(document, { childList: true, subtree: true });
"""


async def screen_counted(wall: TestServer) -> None:
    for _ in range(500):
        if wall.app[FANOUT].count(Audience.SCREEN) >= 1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the screen never connected")


async def approved(wall: TestServer, text: str) -> int:
    item = await api(wall, "POST", "/api/barrages", json={"text": text})
    await api(wall, "POST", f"/api/barrages/{item['id']}/approve", headers=AUTH)
    return item["id"]


async def test_retract_removes_a_flying_item_at_once(browser: Browser, wall: TestServer) -> None:
    screen = await open_screen(browser, wall, "?duration=60")
    oops = await approved(wall, "oops")
    flying = screen.locator(f'[data-barrage-id="{oops}"]')
    await flying.wait_for(state="attached", timeout=5000)
    await api(wall, "POST", f"/api/barrages/{oops}/retract", json={"moderator": "Alice"}, headers=AUTH)
    await flying.wait_for(state="detached", timeout=1000)  # within 1 s, mid-crossing
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_a_reconnecting_screen_never_gets_it_back(browser: Browser, wall: TestServer) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    await context.add_init_script(RECORD_ADDED)
    screen = await context.new_page()
    await screen.goto(str(wall.make_url("/screen?duration=60")))
    await screen_counted(wall)
    before = await approved(wall, "before")
    await screen.locator(f'[data-barrage-id="{before}"]').wait_for(state="attached", timeout=5000)
    # The screen loses its stream and cannot reconnect while the barrage is approved and retracted.
    await context.set_offline(True)
    fanout = wall.app[FANOUT]
    for client in list(fanout._clients[Audience.SCREEN]):
        fanout.drop(client, "test: cut the screen off")
    gone = await approved(wall, "gone")
    await api(wall, "POST", f"/api/barrages/{gone}/retract", headers=AUTH)
    await context.set_offline(False)
    after = await approved(wall, "after")  # replayed from "before" on: the positive signal
    await screen.locator(f'[data-barrage-id="{after}"]').wait_for(state="attached", timeout=15000)
    added = await screen.evaluate("window.__added")
    assert gone not in added and before in added and after in added


async def test_remove_from_screen_on_the_moderation_page(browser: Browser, wall: TestServer) -> None:
    screen = await open_screen(browser, wall, "?duration=60")
    moderate = await browser.new_page()
    await moderate.goto(str(wall.make_url("/moderate")))
    await moderate.fill("#token", ADMIN_TOKEN)
    await moderate.fill("#moderator", "Alice")
    await moderate.click("#login-form button[type=submit]")
    await moderate.locator("#live.live").wait_for(timeout=5000)
    oops = await approved(wall, "oops")
    await screen.locator(f'[data-barrage-id="{oops}"]').wait_for(state="attached", timeout=5000)
    listed = moderate.locator(f'#onscreen [data-on-screen-id="{oops}"]')
    await listed.locator("button", has_text="Remove from screen").click()
    await screen.locator(f'[data-barrage-id="{oops}"]').wait_for(state="detached", timeout=5000)
    await listed.wait_for(state="detached", timeout=5000)
    [item] = (await api(wall, "GET", "/api/barrages?status=retracted", headers=AUTH))["items"]
    assert item["retracted_by"] == "Alice"
