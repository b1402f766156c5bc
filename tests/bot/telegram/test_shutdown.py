"""Ctrl+C on a real `barrage serve` while moderation cards are being posted to Telegram."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient

from server.app import TELEGRAM
from server.web.keys import CONFIG
from tests.bot.telegram.conftest import MOD_CHAT, MODERATOR
from tests.bot.telegram.test_channel import MOD, send_text
from tests.conftest import CapturedLog
from tests.fakes.telegram_api import FakeTelegram
from tests.server_process import ForkServer, ServerProcess

STOPS = 50
AT_ONCE = 4
HANG = 20.0  # a hang detector, not a performance bound


def wall_with_cards(workdir: Path, fake: FakeTelegram, index: int, forks: ForkServer) -> ServerProcess:
    return ServerProcess(workdir, forks=forks, env={
        "BARRAGE_TELEGRAM_ENABLED": "true",
        "BARRAGE_TELEGRAM_TOKEN": f"{1000 + index}:stop-test",  # tells the processes' calls apart
        "BARRAGE_TELEGRAM_API_BASE_URL": fake.base_url,
        "BARRAGE_TELEGRAM_MODERATOR_CHAT_ID": str(MOD_CHAT),
        "BARRAGE_TELEGRAM_MODERATORS": f"[{MODERATOR}]",
        "BARRAGE_TELEGRAM_POLL_TIMEOUT_SECONDS": "1",
        "BARRAGE_MODERATION_MODE": "manual",
        "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
    })


async def flood(server: ServerProcess) -> None:
    """Submit until cancelled, through the stop: every submission wakes the card loops."""
    async with aiohttp.ClientSession() as http:
        for i in range(1_000_000):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.post(f"{server.url}/api/barrages", json={"text": f"card {i}"}):
                    pass


async def cards_posted(fake: FakeTelegram, token: str, count: int) -> None:
    """Until the fake has seen this process post `count` cards: cards are on their way."""
    while True:
        if sum(c.method == "sendMessage" and c.token == token for c in fake.calls) >= count:
            return
        await asyncio.sleep(0.02)


async def stop_while_posting_cards(server: ServerProcess, fake: FakeTelegram, token: str) -> int | str:
    await server.start()
    submitting = asyncio.create_task(flood(server))
    try:
        await cards_posted(fake, token, 3)
        return await server.stop(HANG)
    except AssertionError as exc:
        return str(exc)
    finally:
        submitting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await submitting
        await server.kill()


async def test_ctrl_c_while_cards_are_posted_always_stops(fake_tg: FakeTelegram, tmp_path: Path) -> None:
    """Python 3.11's asyncio.wait_for could swallow the stop's cancellation of a card loop
    woken at that moment, and `barrage serve` then waited forever."""
    slots = asyncio.Semaphore(AT_ONCE)

    async def cycle(index: int, forks: ForkServer) -> int | str:
        async with slots:
            server = wall_with_cards(tmp_path / f"wall{index}", fake_tg, index, forks)
            return await stop_while_posting_cards(server, fake_tg, f"{1000 + index}:stop-test")

    started = time.monotonic()
    async with ForkServer() as forks:  # a fork each: 50 × 2 s of imports would dominate
        outcomes = await asyncio.gather(*(cycle(i, forks) for i in range(STOPS)))
    print(f"{STOPS} stops in {time.monotonic() - started:.1f} s")
    assert [o for o in outcomes if o != 0] == []


def refuse_new_cards(database: str) -> None:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        db.execute("CREATE TRIGGER no_cards BEFORE INSERT ON card BEGIN SELECT RAISE(ABORT, 'no'); END")


async def test_a_failed_pending_repost_is_logged_and_the_channel_still_stops(
    tg_client: Callable[..., Awaitable[TestClient]], debug_log: CapturedLog
) -> None:
    client = await tg_client("polling")
    channel, fake = client.app[TELEGRAM], client.fake_tg  # type: ignore[attr-defined]
    assert (await client.post("/api/barrages", json={"text": "waiting"})).status == 201
    await fake.wait_for("sendMessage", chat_id=MOD_CHAT)
    # From now on the database refuses new cards: a real failure, in the file itself.
    database = client.app[CONFIG].database.url.removeprefix("sqlite+aiosqlite:///")
    # In a thread: the app shares this event loop, and a write of its own in flight
    # must be able to commit while this waits for the lock.
    await asyncio.to_thread(refuse_new_cards, database)
    await send_text(client, fake, "/pending", sender=MOD, message_id=11, chat_id=MOD_CHAT,
                    chat_type="supergroup")
    sent = await fake.wait_for("sendMessage", count=3, chat_id=MOD_CHAT)  # the card, the answer, again
    assert "Re-posting 1 waiting." in [c.params["text"] for c in sent]
    await asyncio.wait([channel.cards._repost])  # its card posted, storing it fails; then stop
    await client.close()
    assert channel.app is not None and channel._polling is not None
    assert channel._polling.done() and not channel.app.running
    assert "IntegrityError" in debug_log.text()  # logged with its traceback, not raised
