"""Each mode over Telegram (the fake Bot API): what the sender is told, what the card shows
(the filter's flags), what reaches the screen stream; /mode auto from the moderators' chat."""

from __future__ import annotations

import pytest

from tests.bot.filter_cases import TEXTS, TOLD
from tests.bot.telegram.conftest import MOD_CHAT
from tests.bot.telegram.test_channel import ANN, card_for, replies_to, send_text
from tests.bot.telegram.test_controls import answer
from tests.conftest import AUTH
from tests.fakes.telegram_api import FakeTelegram
from tests.sse import next_block, next_event


@pytest.mark.parametrize("mode", list(TOLD))
async def test_each_mode_over_telegram(mode: str, tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(moderation__mode=mode)
    for rule in ({"pattern": "cunt"}, {"pattern": "spam", "action": "review"}):
        assert (await client.post("/api/filters", json=rule, headers=AUTH)).status == 201
    stream = await client.get("/stream")
    await next_block(stream)
    for n, text in enumerate(TEXTS, 1):
        await send_text(client, fake_tg, text, message_id=n)
        told = (await replies_to(fake_tg, ANN["id"], n))[-1]
        assert told.startswith(TOLD[mode][n - 1]), (text, told)
        assert "cunt" not in told.lower()
    if mode != "off":  # cards for what waits, with what the filter saw
        assert "⚠ rule 2" in (await card_for(fake_tg, "buy spam"))["text"]
        assert "⚠ link" in (await card_for(fake_tg, "see www.example.com"))["text"]
    await send_text(client, fake_tg, "the end", message_id=9)
    listed = await (await client.get("/api/barrages", headers=AUTH)).json()
    end = next(item for item in listed["items"] if item["text"] == "the end")
    if end["status"] == "pending":
        await client.post(f"/api/barrages/{end['id']}/approve", headers=AUTH)
    flying = {"off": TEXTS[1:], "auto": ["hello"], "manual": []}[mode]
    assert [(await next_event(stream)).data["text"] for _ in range(len(flying) + 1)] == [*flying, "the end"]
    cards = [card["text"] for (chat, _), card in fake_tg.messages.items() if chat == MOD_CHAT]
    assert not any("C.U.N.T" in card for card in cards)  # a blocked one has no card
    stream.close()


async def test_mode_auto_from_the_moderators_chat(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    said = await answer(client, fake_tg, "/mode auto", 1)
    assert said.startswith("Moderation mode is now auto: the filter decides")
    assert (await (await client.get("/api/mode", headers=AUTH)).json())["mode"] == "auto"
    assert "/mode auto" in await answer(client, fake_tg, "/mode", 2)
