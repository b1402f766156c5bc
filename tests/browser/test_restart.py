"""Chromium's own EventSource across a real restart of `barrage serve` (same port, same file)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from tests.server_process import ServerProcess
from tests.test_restart import END, TEXTS, restart_mid_stream, restartable_wall

LISTEN = """() => {
  window.seen = [];
  const source = new EventSource('/stream');
  source.addEventListener('barrage', (e) => window.seen.push(JSON.parse(e.data).text));
}"""


async def test_chromium_eventsource_resumes_across_a_restart(browser: Browser, tmp_path: Path) -> None:
    server: ServerProcess = restartable_wall(tmp_path)
    await server.start()
    try:
        page = await browser.new_page()
        await page.goto(f"{server.url}/healthz")  # same origin, and no CSP to forbid evaluate
        await page.evaluate(LISTEN)
        # Chromium retries every `retry` while the server is down, then resumes with Last-Event-ID.
        await restart_mid_stream(server)
        await page.wait_for_function(f"window.seen.includes({END!r})", timeout=60_000)
        seen = await page.evaluate("window.seen")
    finally:
        await server.kill()
    assert seen == [*TEXTS, END]
