"""The screen's watchdog in real Chromium, against real `barrage serve` processes.

A stream can stall with its TCP connection still open: the node is frozen (SIGSTOP, a
paused VM) or the network path drops every packet. The browser then never fires
`error`, so the page itself notices that nothing (no event, no heartbeat) came for
about three heartbeats, closes the stream and resumes with `last_event_id`.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.cluster import Cluster, eventually, stream_counts
from tests.fakes.network_path import Relay
from tests.nginx import NGINX
from tests.server_process import ServerProcess

HEARTBEAT = "0.5"  # seconds: the watchdog then fires after about 1.4 s of silence
ENV = {"BARRAGE_MODERATION_MODE": "off", "BARRAGE_STREAM_HEARTBEAT_SECONDS": HEARTBEAT}
WAIT_MS = 60_000  # a bound on a hang, not a timing claim


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(tmp_path / "node", env=ENV)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Screen:
    """/screen in Chromium, with every /stream request it made (comments stay 120 s)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.streams: list[str] = []
        self.heartbeats = 0
        self.errors: list[str] = []
        page.on("request", lambda request: self._requested(request.url))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _requested(self, url: str) -> None:
        if "/stream" in url:
            self.streams.append(url)

    async def open(self, base: str) -> None:
        # DevTools reports each message the page's EventSource takes, heartbeats included.
        devtools = await self.page.context.new_cdp_session(self.page)
        await devtools.send("Network.enable")
        devtools.on("Network.eventSourceMessageReceived", self._message)
        await self.page.goto(f"{base}/screen?duration=120")

    def _message(self, message: dict) -> None:
        if message.get("eventName") == "heartbeat":
            self.heartbeats += 1

    async def shows(self, barrage_id: int) -> None:
        shown = self.page.locator(f'#stage [data-barrage-id="{barrage_id}"]')
        await shown.first.wait_for(state="attached", timeout=WAIT_MS)

    async def times_shown(self, barrage_id: int) -> int:
        return await self.page.locator(f'#stage [data-barrage-id="{barrage_id}"]').count()


async def submit(url: str, *texts: str) -> list[int]:
    """POST each text in order (moderation is off: each goes on the screen); their ids."""
    ids = []
    async with aiohttp.ClientSession() as http:
        for text in texts:
            async with http.post(f"{url}/api/barrages", json={"text": text}) as resp:
                assert resp.status == 201, await resp.text()
                ids.append((await resp.json())["id"])
    return ids


async def open_screen(browser: Browser, base: str) -> Screen:
    screen = Screen(await browser.new_page(viewport={"width": 1280, "height": 720}))
    await screen.open(base)
    return screen


async def test_a_stream_whose_network_path_goes_silent_resumes_with_every_comment_once(
    browser: Browser, node: ServerProcess
) -> None:
    async with Relay(node.port) as path:
        screen = await open_screen(browser, path.url)
        await node.wait_for_streams(1)
        [before] = await submit(node.url, "before the drop")
        await screen.shows(before)
        assert path.silence(b"GET /stream") == 1  # the stream's packets are dropped from now on
        during = await submit(node.url, "sent into the silence", "and another")
        for barrage_id in during:  # only a new stream can bring them
            await screen.shows(barrage_id)
        [after] = await submit(node.url, "after the drop")
        await screen.shows(after)
        for barrage_id in (before, *during, after):
            assert await screen.times_shown(barrage_id) == 1
    assert len(screen.streams) >= 2 and "last_event_id=" in screen.streams[-1]
    assert screen.errors == []


async def test_a_quiet_wall_stays_on_one_stream_while_heartbeats_come(
    browser: Browser, node: ServerProcess
) -> None:
    screen = await open_screen(browser, node.url)
    await node.wait_for_streams(1)
    # Four heartbeats span well over the watchdog's three: had it fired, a second stream
    # would have been asked for by now.
    await eventually(lambda: screen.heartbeats >= 4)
    [barrage_id] = await submit(node.url, "still here")
    await screen.shows(barrage_id)
    assert len(screen.streams) == 1 and screen.errors == []


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is installed by `make test`")
async def test_a_screen_on_a_frozen_node_moves_to_the_other_behind_nginx(
    browser: Browser, tmp_path: Path, fresh_postgres_url: str
) -> None:
    """SIGSTOP keeps the node's sockets open: nginx waits on it (75 s) and the browser sees
    nothing wrong. The watchdog ends the stream; nginx sends the next one elsewhere."""
    async with Cluster(tmp_path, fresh_postgres_url, "redis", env=ENV, nginx=True) as cluster:
        screen = await open_screen(browser, cluster.url)
        await eventually(lambda: _holding(cluster))
        frozen, other = cluster.nodes if (await stream_counts(cluster.nodes))[0] else cluster.nodes[::-1]
        [before] = await submit(other.url, "before the freeze")
        await screen.shows(before)
        assert frozen.proc is not None
        frozen.proc.send_signal(signal.SIGSTOP)
        try:
            during = await submit(other.url, "while it is frozen", "and another")
            for barrage_id in during:
                await screen.shows(barrage_id)
            [after] = await submit(other.url, "after the move")
            await screen.shows(after)
            for barrage_id in (before, *during, after):
                assert await screen.times_shown(barrage_id) == 1
        finally:
            with contextlib.suppress(ProcessLookupError):
                frozen.proc.send_signal(signal.SIGCONT)
    assert "last_event_id=" in screen.streams[-1] and screen.errors == []


async def _holding(cluster: Cluster) -> bool:
    return sum(await stream_counts(cluster.nodes)) == 1
