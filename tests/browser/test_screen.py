"""The pages in real Chromium: send → moderate → screen, and hostile text stays text."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from server.app import create_app
from tests.conftest import ADMIN_TOKEN, AUTH, ConfigFactory

PAYLOAD = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>'


async def api(wall: TestServer, method: str, path: str, **kwargs: object) -> dict:
    async with aiohttp.ClientSession() as http:
        resp = await http.request(method, wall.make_url(path), **kwargs)
        assert resp.status < 300, await resp.text()
        return await resp.json()


async def open_screen(browser: Browser, wall: TestServer, query: str = "") -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(str(wall.make_url(f"/screen{query}")))
    # locators, not wait_for_function: the page's CSP (rightly) forbids eval
    await page.locator("#join-text:not(:empty)").wait_for(timeout=5000)
    for _ in range(200):  # the stream is open once the server counts the screen
        if (await api(wall, "GET", "/api/stats", headers=AUTH))["screens"] >= 1:
            break
        await asyncio.sleep(0.02)
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def test_html_payload_shows_as_text_and_never_runs(browser: Browser, wall: TestServer) -> None:
    screen = await open_screen(browser, wall)
    hostile = await api(wall, "POST", "/api/barrages", json={"text": PAYLOAD, "author": "<i>x</i>"})
    normal = await api(wall, "POST", "/api/barrages", json={"text": "Hello wall", "color": "red"})
    for item in (hostile, normal):
        await api(wall, "POST", f"/api/barrages/{item['id']}/approve", headers=AUTH)
    shown = screen.locator(f'[data-barrage-id="{hostile["id"]}"]')
    await shown.wait_for(state="attached", timeout=5000)
    assert await shown.text_content() == "<i>x</i>" + PAYLOAD
    assert await screen.locator("#stage img, #stage script, #stage b").count() == 0
    assert await screen.evaluate("window.__pwned") is None
    plain = screen.locator(f'[data-barrage-id="{normal["id"]}"]')
    await plain.wait_for(state="attached", timeout=5000)
    assert "Hello wall" in await plain.text_content()
    assert await plain.evaluate("el => getComputedStyle(el).color") == "rgb(255, 77, 79)"
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_send_moderate_screen_flow(browser: Browser, wall: TestServer) -> None:
    screen = await open_screen(browser, wall)
    moderate = await browser.new_page()
    await moderate.goto(str(wall.make_url(f"/moderate#token={ADMIN_TOKEN}")))
    await moderate.locator("#live.live").wait_for(timeout=5000)
    assert "token" not in moderate.url  # the token left the address bar

    send = await browser.new_page()
    await send.goto(str(wall.make_url("/send")))
    await send.fill("#author", "Mia")
    await send.fill("#text", "Greetings from the back row")
    await send.locator(".swatch-green").click()
    await send.check("input[name=size][value=large]")
    await send.click("#submit")
    await send.locator("#result.ok").wait_for(timeout=5000)
    assert "moderator" in await send.locator("#result").text_content()

    card = moderate.locator(".card", has_text="Greetings from the back row")
    await card.wait_for(timeout=5000)
    await moderate.keyboard.press("a")  # the keyboard shortcut approves the selected card
    decided = moderate.locator(".card.decided.approved", has_text="Greetings from the back row")
    await decided.wait_for(timeout=5000)

    flying = screen.locator(".barrage", has_text="Greetings from the back row")
    await flying.wait_for(state="attached", timeout=1000)  # within 1 s of the approval
    assert "size-large" in await flying.get_attribute("class")
    assert await flying.evaluate("el => getComputedStyle(el).color") == "rgb(82, 210, 115)"
    items = await api(wall, "GET", "/api/barrages?status=approved", headers=AUTH)
    assert items["items"][0]["decided_by"] == "web moderator"


async def test_moderation_page_rejects_and_switches_mode(browser: Browser, wall: TestServer) -> None:
    moderate = await browser.new_page()
    await moderate.goto(str(wall.make_url("/moderate")))
    await moderate.fill("#token", ADMIN_TOKEN)
    await moderate.fill("#moderator", "Zoe")
    await moderate.click("#login-form button[type=submit]")
    await moderate.locator("#live.live").wait_for(timeout=5000)
    item = await api(wall, "POST", "/api/barrages", json={"text": "spam spam"})
    card = moderate.locator(f'.card[data-barrage-id="{item["id"]}"]')
    await card.locator("button.reject").click()
    await moderate.locator(f'.card.decided.rejected[data-barrage-id="{item["id"]}"]').wait_for(timeout=5000)
    [rejected] = (await api(wall, "GET", "/api/barrages?status=rejected", headers=AUTH))["items"]
    assert rejected["decided_by"] == "Zoe"
    await moderate.click("#mode-off")
    await moderate.locator("#mode-off.active").wait_for(timeout=5000)
    assert (await api(wall, "GET", "/api/mode", headers=AUTH))["mode"] == "off"


async def test_wrong_token_is_refused(browser: Browser, wall: TestServer) -> None:
    moderate = await browser.new_page()
    await moderate.goto(str(wall.make_url("/moderate#token=wrong")))
    await moderate.locator("#login-error", has_text="not accepted").wait_for(timeout=5000)


async def test_lanes_never_overlap(browser: Browser, wall: TestServer) -> None:
    screen = await open_screen(browser, wall, "?speed=2")
    await api(wall, "PUT", "/api/mode", json={"mode": "off"}, headers=AUTH)
    ids = []
    for i in range(40):
        text = "x" * (3 + (i * 7) % 40)
        size = ["small", "medium", "large"][i % 3]
        ids.append((await api(wall, "POST", "/api/barrages", json={"text": text, "size": size}))["id"])
    await screen.locator(".barrage").nth(9).wait_for(state="attached", timeout=5000)
    first = screen.locator(f'[data-barrage-id="{ids[0]}"]')
    frames = 0
    # Every frame, until the first comment has crossed and left: the positive signal that a
    # whole crossing was watched (no fixed number of fixed sleeps).
    while await first.count():
        boxes = await screen.evaluate(
            "() => new Promise(next => requestAnimationFrame(() => next("
            "[...document.querySelectorAll('.barrage')].map(e => e.getBoundingClientRect())"
            ".map(r => [r.left, r.top, r.right, r.bottom]))))"
        )
        frames += 1
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                overlap_x = min(a[2], b[2]) - max(a[0], b[0])
                overlap_y = min(a[3], b[3]) - max(a[1], b[1])
                assert overlap_x <= 1 or overlap_y <= 1, (a, b)
        assert frames < 3000, "the first comment never left the screen"
    assert frames >= 10
    assert screen.errors == []  # type: ignore[attr-defined]


async def test_screen_resumes_after_a_restart_without_loss_or_repeat(
    browser: Browser, make_config: ConfigFactory
) -> None:
    config = make_config(moderation__mode="off")
    first = TestServer(create_app(config), host="127.0.0.1")
    await first.start_server()
    port = first.port
    screen = await open_screen(browser, first, "?duration=60")
    before = await api(first, "POST", "/api/barrages", json={"text": "before the drop"})
    await screen.locator(f'[data-barrage-id="{before["id"]}"]').wait_for(state="attached", timeout=5000)
    await first.close()  # every stream ends; the page starts retrying

    second = TestServer(create_app(config), host="127.0.0.1", port=port)
    await second.start_server()
    try:
        after = await api(second, "POST", "/api/barrages", json={"text": "after the drop"})
        await screen.locator(f'[data-barrage-id="{after["id"]}"]').wait_for(state="attached", timeout=15000)
        assert await screen.locator(f'[data-barrage-id="{before["id"]}"]').count() == 1
        assert await screen.locator(f'[data-barrage-id="{after["id"]}"]').count() == 1
    finally:
        await second.close()
