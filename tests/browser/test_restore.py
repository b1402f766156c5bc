"""Real Chromium on /screen while the database under it is restored to an older backup:
the event ids it has seen are handed out again, and every new comment still flies."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page

from server.store import backup
from tests.server_process import ServerProcess

ENV = {
    "BARRAGE_MODERATION_MODE": "off",
    "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
    "BARRAGE_STREAM_RETRY_MS": "100",  # the shortest allowed: the page retries quickly while it is down
}


async def flown(screen: Page, text: str) -> None:
    """Until a comment with `text` is on the stage (?duration=120 keeps it there)."""
    await screen.locator(".barrage", has_text=text).first.wait_for(state="attached", timeout=60_000)


async def test_a_screen_gets_every_new_comment_after_a_restore_to_an_older_copy(
    browser: Browser, tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "wall", env=ENV)
    url = server.environment()["BARRAGE_DATABASE_URL"]
    await server.start()
    try:
        screen = await browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        screen.on("pageerror", lambda exc: errors.append(str(exc)))
        await screen.goto(f"{server.url}/screen?duration=120")
        await server.wait_for_streams(1)
        await server.submit("kept 1", "kept 2")
        backup.backup(url, tmp_path / "copy.db")
        await server.submit("lost 1", "lost 2", "lost 3", "lost 4")  # ids the screen sees, then reused
        for text in ("kept 1", "kept 2", "lost 1", "lost 2", "lost 3", "lost 4"):
            await flown(screen, text)
        assert await server.stop() == 0
        backup.restore(url, tmp_path / "copy.db")
        await server.start()
        await server.wait_for_streams(1)  # the page came back by itself
        news = ["new 1", "new 2", "new 3", "new 4"]  # the ids "lost 1" to "lost 4" had
        await server.submit(*news)
        for text in news:
            await flown(screen, text)
        shown = await screen.locator(".barrage").all_text_contents()
        assert len(shown) == len(set(shown))  # nothing twice
        assert errors == []
    finally:
        await server.kill()
