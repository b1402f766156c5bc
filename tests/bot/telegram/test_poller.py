"""The poller under the bot's lease (bot/telegram/poller.py), with two apps on one SQLite
file as two nodes: one polls; a 409 Conflict makes it step down and the other take over."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from telegram import Bot, Update

from bot.telegram.poller import Poller
from server.store.lease import PgLeases
from tests.bot.telegram.conftest import MOD_CHAT, MODERATOR, TOKEN
from tests.bot.telegram.test_channel import card_for, send_text
from tests.bot.telegram.test_nodes import next_call
from tests.fakes.telegram_api import FakeTelegram, message_update, press_update, user
from tests.store.test_lease import end_sessions_of


async def test_a_409_conflict_makes_the_polling_node_step_down(tg_client, fake_tg: FakeTelegram) -> None:
    nodes = {name: await tg_client("polling", telegram__api_base_url=fake_tg.client_url(name),
                                   telegram__card_sweep_seconds=0.2)
             for name in ("a", "b")}
    first = await next_call(fake_tg, "getUpdates", 0)
    other = "b" if first.client == "a" else "a"
    conflict = time.monotonic()
    fake_tg.fail("getUpdates", code=409, description="Conflict: terminated by other getUpdates request")
    takeover = await next_call(fake_tg, "getUpdates", conflict, client=other)
    await send_text(nodes[other], fake_tg, "polled by the other node")
    await card_for(fake_tg, "polled by the other node")
    late = [c for c in fake_tg.called("getUpdates") if c.started > takeover.started]
    assert {c.client for c in late} == {other}  # the one that met the 409 rests meanwhile
    assert fake_tg.overlapping() == []


async def test_slow_handlers_hold_polling_back_at_the_limit(tg_client, fake_tg: FakeTelegram) -> None:
    """Handlers stuck on a slow Bot API call: no more than the limit are handed to them, and
    nothing more is fetched meanwhile (Telegram keeps the rest), so memory stays bounded."""
    await tg_client("polling", telegram__max_updates_in_flight=3)
    await next_call(fake_tg, "getUpdates", 0)
    fake_tg.hold("answerCallbackQuery")  # a press on a stale button is answered, nothing else
    presser = user(MODERATOR, "Mo")
    pressed = [fake_tg.next_update_id() for _ in range(10)]
    for update_id in pressed:
        await fake_tg.push_update(press_update(update_id, presser, "stale", chat_id=MOD_CHAT, message_id=1))
    await fake_tg.wait_for("answerCallbackQuery", 3)
    released = time.monotonic()
    fake_tg.release("answerCallbackQuery")
    await fake_tg.wait_for("answerCallbackQuery", 10)
    [after, *_] = await fake_tg.wait_for("getUpdates", offset=pressed[-1] + 1)
    assert fake_tg.most_open("answerCallbackQuery") == 3
    assert after.started > released  # the batch was fetched, then held back until handlers finished


async def test_a_lease_check_failing_while_confirming_does_not_hide_why_polling_stopped(
    fake_tg: FakeTelegram, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancelled mid long poll (a shutdown) while the lease's database session is gone: the
    check before confirming fails too, and the cancellation must still be what ends it."""
    leases = PgLeases(postgres_url)
    lease = leases("telegram-poll:confirm-test")
    delivered: list[int] = []

    async def deliver(update: Update) -> None:
        delivered.append(update.update_id)

    try:
        assert await lease.acquire()
        async with Bot(TOKEN, base_url=fake_tg.base_url) as bot:
            polling = asyncio.create_task(Poller(bot, lease, deliver, timeout_seconds=30).run())
            update_id = fake_tg.next_update_id()
            await fake_tg.push_update(message_update(update_id, user(7, "Ann"), "hello"))
            await fake_tg.wait_for("getUpdates", offset=update_id + 1)  # in the long poll after it
            await end_sessions_of(leases, postgres_url)
            with caplog.at_level(logging.WARNING, logger="bot.telegram.poller"):
                polling.cancel()
                await asyncio.wait([polling])
    finally:
        await leases.close()
    assert delivered == [update_id]
    assert polling.cancelled()
    assert "confirming the last updates failed too" in caplog.text
