"""No secret and no participant's text in the log, at DEBUG, across the whole Telegram flow."""

from __future__ import annotations

import pytest
from telegram import Update

from bot.telegram.handlers import describe
from server.logs import secrets_of
from server.web.keys import CONFIG
from tests.bot.telegram.conftest import MOD_CHAT, SECRET, TOKEN
from tests.bot.telegram.test_channel import ANN, MOD, buttons, card_for, deliver, replies_to, send_text
from tests.conftest import ADMIN_TOKEN, AUTH, CapturedLog
from tests.fakes.telegram_api import FakeTelegram, message_update, press_update

PRIVATE = "Zebra-sentinel confidential words"
PRIVATE_NAME = "Quagga"


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_full_flow_at_debug_logs_no_secret_and_no_text(
    mode: str, debug_log: CapturedLog, tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(mode)
    assert debug_log.redactor is not None
    debug_log.redactor.add(secrets_of(client.app[CONFIG]))
    sender = dict(ANN, first_name=PRIVATE_NAME)
    await send_text(client, fake_tg, PRIVATE, sender=sender)
    card = await card_for(fake_tg, PRIVATE)
    # A handler that fails: its update must be logged by id and kind, not by content.
    fake_tg.fail("answerCallbackQuery", code=400, description="Bad Request: query is too old")
    press = press_update(fake_tg.next_update_id(), MOD, buttons(card)[0]["callback_data"],
                         chat_id=MOD_CHAT, message_id=card["message_id"])
    assert await deliver(client, press) == 200
    await fake_tg.wait_for("editMessageText")
    await replies_to(fake_tg, ANN["id"], 2)  # "waiting", then "on the screen now"
    assert (await client.get("/api/barrages", headers=AUTH)).status == 200
    assert (await client.get("/api/barrages", headers={"Authorization": "Bearer wrong"})).status == 401
    await client.close()

    text = debug_log.text()
    assert "telegram handler failed on update" in text and "callback_query" in text
    assert "Processing update" not in text  # python-telegram-bot's DEBUG dump is quieted
    for secret in (TOKEN, SECRET, ADMIN_TOKEN, TOKEN.split(":")[1]):
        assert secret not in text, secret
    assert PRIVATE not in text and "Zebra" not in text
    assert PRIVATE_NAME not in text
    assert "[redacted]" not in text  # nothing leaked as far as the second line of defence


def test_updates_are_described_by_id_and_kind() -> None:
    update = Update.de_json(message_update(7, ANN, PRIVATE), None)
    assert describe(update) == "update 7 (message)"
    assert describe(None) == "NoneType"
