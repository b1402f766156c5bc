"""Two real `barrage serve` processes on one PostgreSQL database, with Telegram on both.

Identical config on both nodes except the fake Bot API's base URL, which only
tells the fake which node called (tests/fakes/telegram_api.py `client_url`).
Until the bus crosses processes, a decision on one node reaches the other's
card loops through their sweep, lowered here (telegram.card_sweep_seconds).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.bot.telegram.conftest import MOD_CHAT, MODERATOR, SECRET, TOKEN
from tests.bot.telegram.test_channel import ANN, HOOK
from tests.conftest import POSTGRES_SERVER_URL, _pg_execute
from tests.fakes.telegram_api import Call, FakeTelegram, message_update
from tests.server_process import AUTH, ForkServer, ServerProcess

TAKEOVER_SECONDS = 15.0  # the bound for another node's first getUpdates after a kill -9


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own: its advisory locks are its own too."""
    name = f"barrage_nodes_{secrets.token_hex(4)}"
    admin = POSTGRES_SERVER_URL.replace("postgresql+asyncpg://", "postgresql://")
    await _pg_execute(admin, f'CREATE DATABASE "{name}"')
    yield POSTGRES_SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    await _pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def node(workdir: Path, name: str, fake: FakeTelegram, database: str, forks: ForkServer,
         mode: str = "polling") -> ServerProcess:
    return ServerProcess(workdir / name, forks=forks, env={
        "BARRAGE_DATABASE_URL": database,
        "BARRAGE_TELEGRAM_ENABLED": "true",
        "BARRAGE_TELEGRAM_MODE": mode,
        "BARRAGE_TELEGRAM_TOKEN": TOKEN,
        "BARRAGE_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "BARRAGE_SERVER_PUBLIC_URL": "https://wall.example.org",
        "BARRAGE_TELEGRAM_API_BASE_URL": fake.client_url(name),
        "BARRAGE_TELEGRAM_MODERATOR_CHAT_ID": str(MOD_CHAT),
        "BARRAGE_TELEGRAM_MODERATORS": f"[{MODERATOR}]",
        "BARRAGE_TELEGRAM_POLL_TIMEOUT_SECONDS": "1",
        "BARRAGE_TELEGRAM_CARD_SWEEP_SECONDS": "0.3",
        "BARRAGE_MODERATION_MODE": "manual",
        "BARRAGE_MODERATION_MAX_PER_MINUTE": "0",
    })


async def next_call(fake: FakeTelegram, method: str, after: float, timeout: float = 30.0,
                    client: str | None = None) -> Call:
    """The first `method` call started after `after` (from `client`, if given), within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in fake.calls:
            if call.method == method and call.started > after and client in (None, call.client):
                return call
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {method} from {client or 'any node'} within {timeout} s")


async def cards_recorded(database: str, count: int) -> None:
    url = database.replace("postgresql+asyncpg://", "postgresql://")
    async with asyncio.timeout(30):
        while True:
            conn = await asyncpg.connect(url)
            try:
                if await conn.fetchval("SELECT count(*) FROM card WHERE message_id != ''") >= count:
                    return
            finally:
                await conn.close()
            await asyncio.sleep(0.05)


def cards_showing(fake: FakeTelegram, text: str) -> list[Call]:
    return [c for c in fake.called("sendMessage", chat_id=MOD_CHAT) if f"“{text}”" in c.params["text"]]


async def one_card(fake: FakeTelegram, text: str) -> Call:
    for _ in range(1500):  # ends a hang after 30 s; nothing is timed
        if found := cards_showing(fake, text):
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no card for {text!r}")


def replies_to_ann(fake: FakeTelegram) -> list[Call]:
    return fake.called("sendMessage", chat_id=ANN["id"])


async def barrages(server: ServerProcess) -> list[dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/barrages", headers=AUTH) as resp:
        assert resp.status == 200
        return (await resp.json())["items"]


async def test_one_node_polls_and_after_its_kill_9_the_other_takes_over(
    fake_tg: FakeTelegram, database: str, tmp_path: Path
) -> None:
    async with ForkServer() as forks:
        nodes = {name: node(tmp_path, name, fake_tg, database, forks) for name in ("a", "b")}
        try:
            for each in nodes.values():  # one after the other: creating the schema is not theirs
                await each.start()          # to race yet (migrations under a lock: issue 10 part 6)
            started = time.monotonic()
            first = await next_call(fake_tg, "getUpdates", 0)
            leader, other = first.client, "b" if first.client == "a" else "a"
            # Both healthy: the leader keeps polling, the other never does. The positive
            # signal: the leader's third poll after both were up (the other retried meanwhile).
            for _ in range(3):
                started = (await next_call(fake_tg, "getUpdates", started, client=leader)).started
            assert {c.client for c in fake_tg.called("getUpdates")} == {leader}
            assert fake_tg.overlapping() == []

            await fake_tg.push_update(message_update(fake_tg.next_update_id(), ANN, "before the kill"))
            await one_card(fake_tg, "before the kill")
            # Not only sent but recorded: a kill between Telegram's answer and the commit leaves a
            # claim nobody can tell from "not posted", and the next holder posts it again (bot/cards.py).
            await cards_recorded(database, 1)

            killed = time.monotonic()
            await nodes[leader].kill()
            takeover = await next_call(fake_tg, "getUpdates", killed, TAKEOVER_SECONDS, client=other)
            print(f"\nkill -9 of the polling node -> first getUpdates on the other: "
                  f"{takeover.started - killed:.2f} s")

            await fake_tg.push_update(message_update(fake_tg.next_update_id(), ANN, "after the kill",
                                                     message_id=2))
            await one_card(fake_tg, "after the kill")
            # A later positive signal: a third message carded after it, by the same loop.
            await fake_tg.push_update(message_update(fake_tg.next_update_id(), ANN, "later", message_id=3))
            await one_card(fake_tg, "later")
            assert [len(cards_showing(fake_tg, t)) for t in ("before the kill", "after the kill", "later")] \
                == [1, 1, 1]
            texts = [b["text"] for b in await barrages(nodes[other])]
            assert sorted(texts) == ["after the kill", "before the kill", "later"]
            assert len(replies_to_ann(fake_tg)) == 3  # one receipt each, whichever node answered
            assert {c.client for c in fake_tg.called("getUpdates") if c.started > killed} == {other}
        finally:
            for each in nodes.values():
                await each.kill()


async def test_submitted_on_one_node_carded_once_and_decided_on_the_other(
    fake_tg: FakeTelegram, database: str, tmp_path: Path
) -> None:
    async with ForkServer() as forks:
        a, b = (node(tmp_path, name, fake_tg, database, forks) for name in ("a", "b"))
        try:
            await a.start()
            await b.start()
            async with aiohttp.ClientSession() as http:
                ids = [await submit(http, b, text) for text in ("from b", "marker")]
                for text in ("from b", "marker"):
                    await one_card(fake_tg, text)  # by whichever node holds the cards lease
                for barrage_id in ids:
                    await approve(http, a, barrage_id)
                await edits_of(fake_tg, 2)
                later = await submit(http, a, "later")  # a later positive signal: its card edited too
                await one_card(fake_tg, "later")
                await approve(http, b, later)
            edits = await edits_of(fake_tg, 3)
            assert len({e.params["message_id"] for e in edits}) == 3  # each card edited once
            assert [len(cards_showing(fake_tg, t)) for t in ("from b", "marker", "later")] == [1, 1, 1]
        finally:
            await a.kill()
            await b.kill()


async def submit(http: aiohttp.ClientSession, server: ServerProcess, text: str) -> int:
    async with http.post(f"{server.url}/api/barrages", json={"text": text}) as resp:
        assert resp.status == 201
        return (await resp.json())["id"]


async def approve(http: aiohttp.ClientSession, server: ServerProcess, barrage_id: int) -> None:
    async with http.post(f"{server.url}/api/barrages/{barrage_id}/approve", headers=AUTH) as resp:
        assert resp.status == 200, await resp.text()


async def edits_of(fake: FakeTelegram, count: int) -> list[Call]:
    return await fake.wait_for("editMessageText", count, timeout=30, chat_id=MOD_CHAT)


async def test_the_same_webhook_update_on_two_nodes_is_one_barrage(
    fake_tg: FakeTelegram, database: str, tmp_path: Path
) -> None:
    async with ForkServer() as forks:
        a, b = (node(tmp_path, name, fake_tg, database, forks, mode="webhook") for name in ("a", "b"))
        try:
            await a.start()
            await b.start()
            await fake_tg.wait_for("setWebhook", count=2)
            update = message_update(fake_tg.next_update_id(), ANN, "delivered twice")
            async with aiohttp.ClientSession() as http:
                async def deliver(server: ServerProcess) -> int:
                    async with http.post(f"{server.url}/telegram/webhook", json=update, headers=HOOK) as resp:
                        return resp.status

                assert await asyncio.gather(deliver(a), deliver(b)) == [200, 200]
                await one_card(fake_tg, "delivered twice")
                later = message_update(fake_tg.next_update_id(), ANN, "later", message_id=2)
                async with http.post(f"{a.url}/telegram/webhook", json=later, headers=HOOK) as resp:
                    assert resp.status == 200
            await one_card(fake_tg, "later")  # the positive signal: everything before is done
            assert [b["text"] for b in await barrages(a)].count("delivered twice") == 1
            assert len(cards_showing(fake_tg, "delivered twice")) == 1
            assert len(replies_to_ann(fake_tg)) == 2  # one receipt per message, not per delivery
        finally:
            await a.kill()
            await b.kill()
