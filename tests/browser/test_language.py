"""The pages in Chinese, in Chromium: a browser that asks for zh-CN (Accept-Language, from the
context's locale) gets the Chinese page, and what the scripts write is Chinese too: the send
page's statuses, the desk's buttons and verdicts, the screen's join corner. axe-core finds
nothing serious on the Chinese pages either."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from server.app import create_app
from tests.browser.test_accessibility import approve_all, findings, post, screens_connected
from tests.conftest import ADMIN_TOKEN, AUTH, ConfigFactory

HANG = 10_000  # ms: only a broken page waits this long


async def chinese_page(browser: Browser, wall: TestServer, path: str, **options: object) -> Page:
    context = await browser.new_context(locale="zh-CN", **options)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(str(wall.make_url(path)))
    return page


async def test_the_send_page_in_chinese(browser: Browser, wall: TestServer) -> None:
    page = await chinese_page(browser, wall, "/send", viewport={"width": 390, "height": 700})
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert await page.locator("h1").text_content() == "发送到弹幕墙"
    assert await page.get_attribute("#text", "placeholder") == "说点什么吧"
    await page.fill("#text", "新年快乐")
    await page.click("#submit")
    await page.locator("#result.ok", has_text="等待审核").wait_for(timeout=HANG)
    mine = page.locator("#mine li", has_text="新年快乐").locator(".mine-status")
    await mine.filter(has_text="等待审核").wait_for(timeout=HANG)
    async with aiohttp.ClientSession() as http:  # no name given: the page's word for it
        resp = await http.get(wall.make_url("/api/barrages?status=pending"), headers=AUTH)
        assert [item["author"] for item in (await resp.json())["items"]] == ["匿名"]
    await approve_all(wall)
    await post(wall, "/api/rooms/main/lottery", {"winners": 1}, AUTH)
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # polls at once
    await mine.filter(has_text="已上墙").wait_for(timeout=HANG)
    await page.locator("#wins p", has_text="🎉 恭喜你中奖了！").wait_for(timeout=HANG)


async def test_a_refusal_on_the_send_page_is_in_chinese(browser: Browser, make_config: ConfigFactory) -> None:
    wall = TestServer(create_app(make_config(moderation__max_text_length=5)), host="127.0.0.1")
    await wall.start_server()
    try:
        page = await chinese_page(browser, wall, "/send")
        await page.locator("#counter", has_text="/ 5").wait_for(timeout=HANG)
        await page.fill("#text", "这条消息太长了吧")
        await page.click("#submit")
        await page.locator("#result.error", has_text="内容太长了（最多 5 个字）").wait_for(timeout=HANG)
    finally:
        await wall.close()


async def test_the_desk_in_chinese(browser: Browser, wall: TestServer) -> None:
    first = await post(wall, "/api/barrages", {"text": "第一条", "author": "小王"})
    second = await post(wall, "/api/barrages", {"text": "第二条"})
    page = await chinese_page(browser, wall, f"/moderate#token={ADMIN_TOKEN}")
    await page.locator("#live.live", has_text="实时").wait_for(timeout=HANG)
    card = page.locator(f'.card[data-barrage-id="{first["id"]}"]')
    assert await card.locator("button.approve").text_content() == "✅ 通过"
    assert await card.locator("button.reject").text_content() == "❌ 拒绝"
    assert await card.locator(".tick input").get_attribute("aria-label") == "选择“第一条”"
    assert "网页" in (await card.locator(".meta").text_content() or "")
    await card.locator("button.approve").click()
    await page.locator("#notice.ok", has_text="已通过：第一条").wait_for(timeout=HANG)
    assert await card.locator(".verdict span").text_content() == "已通过（你）"
    assert await card.locator("button.undo").text_content() == "撤销"
    other = page.locator(f'.card[data-barrage-id="{second["id"]}"]')
    await other.locator("button.reject").click()
    await page.locator("#notice.ok", has_text="已拒绝：第二条").wait_for(timeout=HANG)
    controls = await page.locator(".room-control button").all_text_contents()
    assert controls == ["暂停", "继续", "清屏", "置顶", "删除"]


async def test_the_screens_join_corner_in_chinese(browser: Browser, make_config: ConfigFactory) -> None:
    config = make_config(server__public_url="https://wall.example.org")
    wall = TestServer(create_app(config), host="127.0.0.1")
    await wall.start_server()
    try:
        page = await chinese_page(browser, wall, "/screen")
        corner = page.locator("#join-text", has_text="扫码发弹幕")
        await corner.wait_for(timeout=HANG)
        assert await corner.text_content() == "扫码发弹幕：https://wall.example.org/send"
        assert await page.get_attribute("#join-qr", "alt") == "扫码上墙的二维码"
        assert await page.get_attribute("html", "lang") == "zh-CN"
    finally:
        await wall.close()


async def test_a_configured_language_wins_over_the_browsers(
    browser: Browser, make_config: ConfigFactory
) -> None:
    wall = TestServer(create_app(make_config(ui__language="zh-CN")), host="127.0.0.1")
    await wall.start_server()
    try:
        page = await browser.new_page(locale="en-US")
        await page.goto(str(wall.make_url("/send")))
        assert await page.locator("#submit").text_content() == "发送"
    finally:
        await wall.close()


# -- axe-core on the Chinese pages --

async def axe_page(browser: Browser, wall: TestServer, path: str, scheme: str, **viewport: int) -> Page:
    # axe is injected as an inline script, which the pages' CSP forbids: bypassed for this check only.
    return await chinese_page(browser, wall, path, bypass_csp=True, color_scheme=scheme,
                              viewport=viewport or {"width": 1280, "height": 800})


SCHEMES = pytest.mark.parametrize("scheme", ["light", "dark"])


@SCHEMES
@pytest.mark.parametrize("path", ["/", "/moderate"])
async def test_axe_on_chinese_pages(browser: Browser, wall: TestServer, path: str, scheme: str) -> None:
    page = await axe_page(browser, wall, path, scheme)
    await page.locator("main").wait_for()
    if path == "/moderate":
        await page.locator("#login:not([hidden])").wait_for()
    assert await findings(page) == []


@SCHEMES
async def test_axe_on_the_chinese_send_page_after_sending(
    browser: Browser, wall: TestServer, scheme: str
) -> None:
    page = await axe_page(browser, wall, "/send", scheme, width=390, height=700)
    await page.fill("#text", "你好")
    await page.click("#submit")
    await page.locator("#mine li").wait_for()
    assert await findings(page) == []


@SCHEMES
async def test_axe_on_the_chinese_desk(browser: Browser, wall: TestServer, scheme: str) -> None:
    await post(wall, "/api/filters", {"pattern": "spam", "action": "review"}, AUTH)
    first = await post(wall, "/api/barrages", {"text": "第一条"})
    await post(wall, "/api/barrages", {"text": "spam 来自 www.example.com"})
    page = await axe_page(browser, wall, f"/moderate#token={ADMIN_TOKEN}", scheme)
    await page.locator("#live.live").wait_for()
    await page.click("#filters summary")
    await page.locator("#rule-rows tr").wait_for()
    await page.locator(".card .flag").first.wait_for()
    await page.locator(f'.card[data-barrage-id="{first["id"]}"] button.approve').click()
    await page.locator("#notice.ok").wait_for()
    assert await findings(page) == []


@SCHEMES
async def test_axe_on_the_chinese_screen(browser: Browser, wall: TestServer, scheme: str) -> None:
    page = await axe_page(browser, wall, "/screen", scheme)
    await page.locator("#join-text:not(:empty)").wait_for()
    await screens_connected(wall)
    item = await post(wall, "/api/barrages", {"text": "飞过的弹幕", "color": "blue"})
    await post(wall, f"/api/barrages/{item['id']}/approve", {}, AUTH)
    await page.locator(f'[data-barrage-id="{item["id"]}"]').wait_for(state="attached")
    assert await findings(page) == []
