"""Render docs/screen.png: the real app, real Chromium, a screen as it looks during an event.

It shows the three things an organizer sets up: comments in flight (CJK and emoji among them),
a pinned announcement (PUT /api/rooms/main/announcement) and the join corner with the room's QR
code, which encodes `server.public_url` + /send. Run with `make screenshot`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright

from server.app import create_app
from server.config import load_config

OUT = Path(__file__).with_name("screen.png")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ADMIN_TOKEN = "screenshot-admin-token"  # a throwaway server on loopback, gone when the script ends
PUBLIC_URL = "https://wall.example.org"  # what the QR code and the join text show
ANNOUNCEMENT = "Q&A after the talk — scan to join"
COMMENTS = [
    ("Welcome to the 2026 party!", "Host", "yellow", "large"),
    ("こんにちは from Tokyo 🇯🇵", "Aki", "pink", "medium"),
    ("The demo was amazing 👏👏", "Sam", "white", "medium"),
    ("新年快乐，万事如意！🧧", "Wei", "red", "medium"),
    ("Hello from the back row!", "Mia", "green", "medium"),
    ("<script>alert(1)</script> stays text", "Eve", "orange", "small"),
    ("안녕하세요 👋 서울에서", "Jin", "cyan", "medium"),
    ("Best talk of the day", "Noor", "#b57bff", "large"),
    ("Can we get a group photo? 📸", "Tom", "blue", "small"),
    ("🎉🎉🎉", "Ana", "yellow", "medium"),
]


async def main(chromium: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(None, env={}, overrides={
            "database": {"url": f"sqlite+aiosqlite:///{tmp}/shot.db"},
            "server": {"public_url": PUBLIC_URL, "admin_token": ADMIN_TOKEN},
            "moderation": {"mode": "off", "max_per_minute": 0},
        })
        server = TestServer(create_app(config), host="127.0.0.1")
        await server.start_server()
        try:
            await shoot(server, chromium)
        finally:
            await server.close()


async def shoot(server: TestServer, chromium: str) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        await page.goto(str(server.make_url("/screen")))
        await join_corner_ready(page)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.put(server.make_url("/api/rooms/main/announcement"),
                                json={"text": ANNOUNCEMENT}) as resp:
                resp.raise_for_status()
            await page.locator("#announcement:not([hidden])").wait_for()
            for text, author, color, size in COMMENTS:
                body = {"text": text, "author": author, "color": color, "size": size}
                async with http.post(server.make_url("/api/barrages"), json=body) as resp:
                    resp.raise_for_status()
                await asyncio.sleep(0.35)  # staggered, so the lanes fill as they would live
        await asyncio.sleep(1.2)  # let the last ones get well into the screen
        await page.screenshot(path=str(OUT))
        await browser.close()
    print(f"wrote {OUT}")


async def join_corner_ready(page: Page) -> None:
    """The join text is set and the QR image has loaded (an unloaded <img> would shoot blank)."""
    await page.locator("#join-text:not(:empty)").wait_for()
    await page.locator("#join-qr:not([hidden])").wait_for()
    await page.wait_for_function("document.getElementById('join-qr').naturalWidth > 0")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/chromium"))
