"""Two rooms, two screens, in real Chromium: each flies its own room's barrages only.
"Never on the other screen" is checked once a later barrage of each room has arrived there
(each screen reads its room's stream in order), not after a sleep."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from tests.browser.test_screen import api, open_screen
from tests.conftest import AUTH


async def send(wall: TestServer, text: str, room: str) -> int:
    item = await api(wall, "POST", "/api/barrages", json={"text": text, "room": room})
    if item["status"] == "pending":
        await api(wall, "POST", f"/api/barrages/{item['id']}/approve", headers=AUTH)
    return item["id"]


async def arrives(screen: Page, barrage_id: int) -> None:
    await screen.locator(f'[data-barrage-id="{barrage_id}"]').wait_for(state="attached", timeout=5000)


async def room_screens(wall: TestServer, room: str) -> None:
    for _ in range(250):  # the stream is open once the server counts the room's screen
        if (await api(wall, "GET", f"/api/stats?room={room}", headers=AUTH))["screens"] >= 1:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no screen of {room} counted")


async def test_a_barrage_for_one_room_never_shows_on_the_others_screen(browser: Browser,
                                                                       wall: TestServer) -> None:
    await api(wall, "POST", "/api/rooms", json={"slug": "hall-b", "title": "Hall B", "mode": "off"},
              headers=AUTH)
    main = await open_screen(browser, wall, "?duration=30")
    hall = await open_screen(browser, wall, "?room=hall-b&duration=30")
    await room_screens(wall, "hall-b")
    assert "/send?room=hall-b" in await hall.locator("#join-text").inner_text()
    for_hall = [await send(wall, f"Hall B {i} 你好", "hall-b") for i in range(3)]
    for_main = [await send(wall, f"main {i} 🎉", "main") for i in range(3)]
    for barrage_id in for_hall:
        await arrives(hall, barrage_id)
    for barrage_id in for_main:
        await arrives(main, barrage_id)
    # A last one in each room: once it is there, everything before it on that stream is too.
    await arrives(hall, await send(wall, "last in B", "hall-b"))
    await arrives(main, await send(wall, "last in main", "main"))
    for barrage_id in for_main:
        assert await hall.locator(f'[data-barrage-id="{barrage_id}"]').count() == 0
    for barrage_id in for_hall:
        assert await main.locator(f'[data-barrage-id="{barrage_id}"]').count() == 0
    assert main.errors == [] and hall.errors == []  # type: ignore[attr-defined]
