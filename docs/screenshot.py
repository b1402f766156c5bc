"""Render docs/screen.png: the real app, real Chromium, a handful of comments in flight.

Run with `make screenshot`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from server.app import create_app
from server.config import load_config

OUT = Path(__file__).with_name("screen.png")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
COMMENTS = [
    ("Welcome to the 2026 party!", "Host", "yellow", "large"),
    ("こんにちは from Tokyo 🇯🇵", "Aki", "pink", "medium"),
    ("The demo was amazing 👏👏", "Sam", "white", "medium"),
    ("Who brought the cake?", "Lee", "orange", "small"),
    ("Hello from the back row!", "Mia", "green", "medium"),
    ("<script>alert(1)</script> stays text", "Eve", "red", "small"),
    ("¡Feliz fin de año!", "Carla", "cyan", "medium"),
    ("Best talk of the day", "Noor", "#b57bff", "large"),
    ("Can we get a group photo?", "Tom", "blue", "small"),
    ("🎉🎉🎉", "Ana", "yellow", "medium"),
]


async def main(chromium: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(None, env={}, overrides={
            "database": {"url": f"sqlite+aiosqlite:///{tmp}/shot.db"},
            "moderation": {"mode": "off", "max_per_minute": 0},
            "screen": {"join_text": "Join the wall: wall.example.org/send"},
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
        await page.locator("#join:not(:empty)").wait_for()
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as http:
            for text, author, color, size in COMMENTS:
                body = {"text": text, "author": author, "color": color, "size": size}
                await http.post(server.make_url("/api/barrages"), json=body)
                await asyncio.sleep(0.35)
        await asyncio.sleep(1.2)
        await page.screenshot(path=str(OUT))
        await browser.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/chromium"))
