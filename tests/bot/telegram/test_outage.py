"""Telegram while the PostgreSQL server is stopped (a scratch server of the test's own) and after:
the webhook never answers 500 and the sender is told to try again; once the server is back,
a new message gets its card in the moderators' chat (the card loop and its lease recover)
and a moderator's button decides it, without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from tests.bot.telegram.conftest import MOD_CHAT
from tests.bot.telegram.test_channel import ANN, MOD, buttons, card_for, deliver, send_text
from tests.bot.telegram.test_nodes import cards_recorded
from tests.fakes.telegram_api import FakeTelegram, press_update
from tests.scratch_postgres import ScratchPostgres

BACK_SECONDS = 60.0  # a bound on a hang, not a timing claim


async def reply_to_ann(fake: FakeTelegram, containing: str) -> None:
    async with asyncio.timeout(BACK_SECONDS):
        while True:
            if any(containing in c.params["text"] for c in fake.called("sendMessage", chat_id=ANN["id"])):
                return
            await asyncio.sleep(0.02)


async def card_after(fake: FakeTelegram) -> None:
    while True:
        if any("“after”" in c.params["text"] for c in fake.called("sendMessage", chat_id=MOD_CHAT)):
            return
        await asyncio.sleep(0.02)


async def approve(client: TestClient, fake: FakeTelegram, card: dict[str, Any]) -> None:
    press = press_update(fake.next_update_id(), MOD, buttons(card)[0]["callback_data"],
                         chat_id=MOD_CHAT, message_id=card["message_id"])
    assert await deliver(client, press) == 200


async def test_the_webhook_never_500s_while_the_database_is_down_and_cards_come_back(
    scratch_postgres: ScratchPostgres, fake_tg: FakeTelegram,
    tg_client: Callable[..., Awaitable[TestClient]],
) -> None:
    client = await tg_client(database__url=scratch_postgres.url, moderation__mode="manual",
                             telegram__card_sweep_seconds=0.3)
    await send_text(client, fake_tg, "before")
    card = await card_for(fake_tg, "before")
    await cards_recorded(scratch_postgres.url, 1)  # posted and recorded: its edit is due later

    await scratch_postgres.stop()
    await send_text(client, fake_tg, "while down", message_id=2)  # the webhook answers 200
    await reply_to_ann(fake_tg, "try again")
    await approve(client, fake_tg, card)  # refused politely, not a 500

    await scratch_postgres.start()
    async with asyncio.timeout(BACK_SECONDS):
        while True:
            if (await client.get("/readyz")).status == 200:
                break
            await asyncio.sleep(0.05)
    await approve(client, fake_tg, card)
    edits = await fake_tg.wait_for("editMessageText", timeout=BACK_SECONDS)
    assert any("Approved by" in edit.params["text"] for edit in edits)
    await send_text(client, fake_tg, "after", message_id=3)
    async with asyncio.timeout(BACK_SECONDS):  # the card loop (and its lease) works again
        await card_after(fake_tg)
