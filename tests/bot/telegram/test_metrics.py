"""/metrics with Telegram on: the real python-telegram-bot against the fake Bot API."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.bot.telegram.conftest import MOD_CHAT
from tests.bot.telegram.test_channel import ANN, MOD, buttons, card_for, deliver, replies_to, send_text
from tests.fakes.telegram_api import FakeTelegram, press_update
from tests.metrics_scrape import Scrape


async def scrape(client: TestClient) -> Scrape:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return Scrape.parse(await resp.text())


async def test_a_telegram_submission_decision_and_retry(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(metrics__enabled=True)
    found = await scrape(client)
    assert found.value("barrage_outbound_queue", platform="telegram") == 0
    assert found.value("barrage_platform_retries_total", platform="telegram") == 0
    assert found.value("barrage_platform_retries_total", platform="slack") is None  # not enabled
    fake_tg.fail("sendMessage", times=1, code=429, description="Too Many Requests: retry after 1",
                 retry_after=1, chat_id=MOD_CHAT)
    await send_text(client, fake_tg, "counted")
    card = await card_for(fake_tg, "counted")  # posted on the second try
    press = press_update(fake_tg.next_update_id(), MOD, buttons(card)[0]["callback_data"],
                         chat_id=MOD_CHAT, message_id=card["message_id"])
    assert await deliver(client, press) == 200
    await replies_to(fake_tg, ANN["id"], 2)  # "waiting", then "on the screen"
    found = await scrape(client)
    assert found.value("barrage_submissions_total", source="telegram", outcome="accepted") == 1
    assert found.value("barrage_decisions_total", verdict="approve", via="telegram") == 1
    assert found.value("barrage_decisions_total", verdict="approve", via="web") == 0
    assert found.value("barrage_decision_seconds_count") == 1
    assert found.value("barrage_platform_retries_total", platform="telegram") == 1
    assert found.value("barrage_outbound_dropped_total", platform="telegram") == 0
    assert found.value("barrage_platform_connected", platform="telegram") == 1
