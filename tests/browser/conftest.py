"""Real headless Chromium (Debian's), driven by Playwright, against the real app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

from server.app import create_app
from tests.conftest import ConfigFactory

CHROMIUM = os.environ.get("BARRAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def wall(make_config: ConfigFactory) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(make_config()), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()
