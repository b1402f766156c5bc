"""Render docs/send-zh-CN.png and docs/screen-zh-CN.png: the pages as a Chinese guest sees them.

The real app and real Chromium with a zh-CN locale (so Accept-Language asks for Chinese, as a
phone set to Chinese does): the send page on a phone after two messages, one on the wall and
one waiting for a moderator, and a screen at a company party (公司年会) with a pinned
announcement, comments in flight and the join corner. Run with `make screenshot`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright

from docs.screenshot import ADMIN_TOKEN, CHROMIUM_ARGS, PUBLIC_URL, join_corner_ready
from server.app import create_app
from server.config import load_config

SEND = Path(__file__).with_name("send-zh-CN.png")
SCREEN = Path(__file__).with_name("screen-zh-CN.png")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ANNOUNCEMENT = "20:30 抽奖开始，扫右下角二维码发弹幕参与！"
COMMENTS = [
    ("新年快乐，万事如意！🧧", "小王", "red", "large"),
    ("祝公司越来越好 🎉", "李姐", "yellow", "medium"),
    ("技术部的舞蹈必须第一名 👏👏", "阿杰", "white", "medium"),
    ("老板发红包！", "匿名", "orange", "medium"),
    ("Hello from the Shanghai office!", "Amy", "green", "small"),
    ("感谢大家一年的辛苦付出 ❤️", "张总", "pink", "medium"),
    ("抽到我抽到我 🙏", "陈晨", "cyan", "medium"),
    ("明年继续加油 💪", "小刘", "#b57bff", "large"),
    ("这个节目太好笑了哈哈哈", "匿名", "blue", "small"),
    ("年会快乐 🎊", "Kevin", "yellow", "medium"),
]


async def main(chromium: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(None, env={}, overrides={
            "database": {"url": f"sqlite+aiosqlite:///{tmp}/shot.db"},
            "server": {"public_url": PUBLIC_URL, "admin_token": ADMIN_TOKEN},
            "moderation": {"max_per_minute": 0},
        })
        server = TestServer(create_app(config), host="127.0.0.1")
        await server.start_server()
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                screen = await open_screen(browser, server)  # first: the send page then sees a screen
                await shoot_send(browser, server)
                await shoot_screen(screen, server)
                await browser.close()
        finally:
            await server.close()


async def approve(http: aiohttp.ClientSession, server: TestServer, barrage_id: int) -> None:
    async with http.post(server.make_url(f"/api/barrages/{barrage_id}/approve"), json={}) as resp:
        resp.raise_for_status()


async def open_screen(browser: Browser, server: TestServer) -> Page:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    await page.goto(str(server.make_url("/screen")))
    await join_corner_ready(page)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        pin = {"text": ANNOUNCEMENT}
        async with http.put(server.make_url("/api/rooms/main/announcement"), json=pin) as resp:
            resp.raise_for_status()
        await page.locator("#announcement:not([hidden])").wait_for()
        while True:  # the stream is open once the server counts it
            async with http.get(server.make_url("/api/stats")) as resp:
                if (await resp.json())["screens"] >= 1:
                    return page
            await asyncio.sleep(0.05)


async def shoot_send(browser: Browser, server: TestServer) -> None:
    """A phone: one message on the wall, one just sent and waiting, a third being written."""
    context = await browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 800},
                                        device_scale_factor=2, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto(str(server.make_url("/send")))
    await page.fill("#author", "小王")
    await page.fill("#text", "今晚的节目都太精彩了！")
    await page.check('input[name="color"][value="red"]', force=True)
    await page.click("#submit")
    await page.locator("#result.ok").wait_for()
    first = await page.locator("#mine li").get_attribute("data-barrage-id")
    async with aiohttp.ClientSession(headers=AUTH) as http:
        await approve(http, server, int(first or 0))
    await page.fill("#text", "市场部的小品再来一个 👏")
    await page.click("#submit")
    await page.locator("#mine .mine-status.approved").wait_for()
    await page.locator("#mine li:nth-child(2)").wait_for()
    await page.fill("#text", "抽到我抽到我")
    await page.locator("#text").blur()
    await page.screenshot(path=str(SEND), full_page=True)
    await context.close()
    print(f"wrote {SEND}")


async def shoot_screen(page: Page, server: TestServer) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        for text, author, color, size in COMMENTS:
            body = {"text": text, "author": author, "color": color, "size": size}
            async with http.post(server.make_url("/api/barrages"), json=body) as resp:
                resp.raise_for_status()
                await approve(http, server, (await resp.json())["id"])
            await asyncio.sleep(0.35)  # staggered, so the lanes fill as they would live
    await asyncio.sleep(1.2)  # let the last ones get well into the screen
    await page.screenshot(path=str(SCREEN))
    print(f"wrote {SCREEN}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/chromium"))
