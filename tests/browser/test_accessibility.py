"""axe-core (from npm, see package.json) on every page, light and dark: no serious or critical findings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from tests.conftest import ADMIN_TOKEN, AUTH

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


async def post(wall: TestServer, path: str, body: dict, headers: dict | None = None) -> dict:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(wall.make_url(path), json=body, headers=headers)
        assert resp.status < 300, await resp.text()
        return await resp.json()


async def approve_all(wall: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.get(wall.make_url("/api/barrages?status=pending"), headers=AUTH)
        for item in (await resp.json())["items"]:
            await post(wall, f"/api/barrages/{item['id']}/approve", {}, AUTH)


async def screens_connected(wall: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(250):
            resp = await http.get(wall.make_url("/api/stats"), headers=AUTH)
            if (await resp.json())["screens"] >= 1:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the screen never connected")


async def findings(page: Page) -> list[dict]:
    assert AXE.exists(), f"{AXE} is missing: run `make test` (or `npm ci`) to install axe-core"
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']}))")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"] if v["impact"] in BLOCKING
    ]


async def open_page(browser: Browser, wall: TestServer, path: str, scheme: str, **viewport: int) -> Page:
    # The pages' CSP forbids inline scripts, which is how axe is injected: bypass it for this check only.
    context = await browser.new_context(bypass_csp=True, color_scheme=scheme,  # type: ignore[arg-type]
                                        viewport=viewport or {"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(str(wall.make_url(path)))
    return page


SCHEMES = pytest.mark.parametrize("scheme", ["light", "dark"])


@SCHEMES
@pytest.mark.parametrize("path", ["/", "/send", "/moderate"])
async def test_plain_pages(browser: Browser, wall: TestServer, path: str, scheme: str) -> None:
    page = await open_page(browser, wall, path, scheme)
    await page.locator("main").wait_for()
    if path == "/moderate":
        await page.locator("#login:not([hidden])").wait_for()
    if path == "/send":
        await page.locator("#counter:not(:empty)").wait_for()
    assert await findings(page) == []


async def sent_one(browser: Browser, wall: TestServer, scheme: str) -> Page:
    """/send on a phone-sized page, with one message sent."""
    page = await open_page(browser, wall, "/send", scheme, width=390, height=700)
    await page.fill("#text", "hello")
    await page.click("#submit")
    await page.locator("#result.ok").wait_for()
    return page


@SCHEMES
async def test_send_after_sending(browser: Browser, wall: TestServer, scheme: str) -> None:
    page = await sent_one(browser, wall, scheme)
    await page.locator("#mine li").wait_for()
    assert await findings(page) == []


@SCHEMES
async def test_send_after_winning_the_draw(browser: Browser, wall: TestServer, scheme: str) -> None:
    page = await sent_one(browser, wall, scheme)
    await approve_all(wall)
    await post(wall, "/api/rooms/main/lottery", {"winners": 1}, AUTH)
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # polls at once
    await page.locator("#wins p").wait_for()
    assert await findings(page) == []


@SCHEMES
async def test_moderation_desk(browser: Browser, wall: TestServer, scheme: str) -> None:
    await post(wall, "/api/filters", {"pattern": "spam", "action": "review", "note": "a note"}, AUTH)
    first = await post(wall, "/api/barrages", {"text": "first", "color": "yellow"})
    await post(wall, "/api/barrages", {"text": "second, spam from www.example.com", "color": "blue"})
    page = await open_page(browser, wall, f"/moderate#token={ADMIN_TOKEN}", scheme)
    await page.locator("#live.live").wait_for()
    await page.click("#filters summary")  # the filter rules, open: their form and list are checked too
    await page.locator("#rule-rows tr").wait_for()
    await page.locator(".card .flag").first.wait_for()
    card = page.locator(f'.card[data-barrage-id="{first["id"]}"]')
    await card.locator("button.approve").click()
    await page.locator("#notice.ok").wait_for()
    assert await findings(page) == []


@SCHEMES
async def test_screen(browser: Browser, wall: TestServer, scheme: str) -> None:
    page = await open_page(browser, wall, "/screen", scheme)
    await page.locator("#join-text:not(:empty)").wait_for()
    await screens_connected(wall)
    item = await post(wall, "/api/barrages", {"text": "a comment in flight", "color": "blue"})
    await post(wall, f"/api/barrages/{item['id']}/approve", {}, AUTH)
    await page.locator(f'[data-barrage-id="{item["id"]}"]').wait_for(state="attached")
    assert await findings(page) == []
