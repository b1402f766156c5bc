"""The card's "🔇 Mute 1h" with the real python-telegram-bot against the fake Bot API."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.bot.telegram.test_channel import (
    ANN,
    MOD,
    MOD_CHAT,
    STRANGER,
    card_for,
    deliver,
    replies_to,
    send_text,
)
from tests.conftest import AUTH
from tests.fakes.telegram_api import FakeTelegram, press_update


def mute_button(card: dict) -> dict:
    [[button]] = card["reply_markup"]["inline_keyboard"][1:]
    return button


async def press(client: TestClient, fake: FakeTelegram, who: dict, card: dict, data: str) -> None:
    update = press_update(fake.next_update_id(), who, data, chat_id=MOD_CHAT, message_id=card["message_id"])
    assert await deliver(client, update) == 200


async def mutes(client: TestClient) -> list[dict]:
    return (await (await client.get("/api/mutes", headers=AUTH)).json())["mutes"]


async def test_a_moderator_mutes_the_sender_from_the_card(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "buy cheap watches")
    card = await card_for(fake_tg, "buy cheap watches")
    button = mute_button(card)
    assert button["text"] == "🔇 Mute 1h" and len(button["callback_data"].encode()) <= 64

    await press(client, fake_tg, MOD, card, button["callback_data"])
    answer = (await fake_tg.wait_for("answerCallbackQuery"))[0].params
    assert answer["text"] == "🔇 Sender muted for 1 h; message rejected"
    edit = (await fake_tg.wait_for("editMessageText"))[0].params
    assert "🔇 Sender muted by Mod One (message rejected)" in edit["text"] and "reply_markup" not in edit
    [mute] = await mutes(client)
    assert mute["sender"] == f"telegram:{ANN['id']}" and mute["reason"] == "muted from message #1"
    [item] = (await (await client.get("/api/barrages?status=rejected", headers=AUTH)).json())["items"]
    assert (item["decided_by"], item["reason"]) == ("Mod One", "muted")

    # The sender is told the message was not approved (the notice loop, in its own time: waited
    # for first, so the two replies cannot cross), then that they are muted, until when.
    assert "not approved" in (await replies_to(fake_tg, ANN["id"], 2))[1]
    await send_text(client, fake_tg, "am I still here?", message_id=2)
    told = await replies_to(fake_tg, ANN["id"], 3)
    assert told[2].startswith("⚠️ Not sent: you are muted until ") and mute["until"][11:16] in told[2]


async def test_a_strangers_press_on_mute_changes_nothing(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "harmless")
    card = await card_for(fake_tg, "harmless")
    await press(client, fake_tg, STRANGER, card, mute_button(card)["callback_data"])
    answer = (await fake_tg.wait_for("answerCallbackQuery"))[0].params
    assert answer["text"] == "Only moderators can decide." and answer["show_alert"] == "true"
    assert await mutes(client) == []
    # The positive signal: the moderator's approval is the card's only edit.
    await press(client, fake_tg, MOD, card, card["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    [edit] = await fake_tg.wait_for("editMessageText")
    assert "Approved by Mod One" in edit.params["text"]
    assert await mutes(client) == []


async def test_a_forged_mute_press_names_a_barrage_only(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "target")
    card = await card_for(fake_tg, "target")
    for data in ("v1:m:99999", "v1:m:telegram:1", "v1:m:-1", "v1:m:1:extra"):
        await press(client, fake_tg, MOD, card, data)
    answers = [c.params["text"] for c in await fake_tg.wait_for("answerCallbackQuery", count=4)]
    assert answers == ["This barrage no longer exists.", "This button no longer works.",
                       "This button no longer works.", "This button no longer works."]
    assert await mutes(client) == []


async def test_muting_a_decided_barrage_still_mutes_and_says_who_decided(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "approved already")
    card = await card_for(fake_tg, "approved already")
    approved = await client.post("/api/barrages/1/approve", json={"moderator": "Wendy"}, headers=AUTH)
    assert approved.status == 200
    await press(client, fake_tg, MOD, card, mute_button(card)["callback_data"])
    answer = (await fake_tg.wait_for("answerCallbackQuery"))[0].params
    assert answer["text"] == "🔇 Sender muted for 1 h; the message was already approved by Wendy"
    assert [m["sender"] for m in await mutes(client)] == [f"telegram:{ANN['id']}"]
