"""Replies in the participant's language (Telegram's language_code), cards in the configured one:
the real python-telegram-bot against the fake Bot API, inside the real app."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.bot.telegram.conftest import MOD_CHAT, MODERATOR
from tests.bot.telegram.test_channel import buttons, card_for, deliver, replies_to, send_text
from tests.conftest import AUTH
from tests.fakes.telegram_api import FakeTelegram, press_update, user


def speaking(user_id: int, first: str, language_code: str | None) -> dict:
    sender = user(user_id, first)
    return sender | ({"language_code": language_code} if language_code else {})


ZHAO = speaking(2001, "Zhao", "zh-hans")
EMMA = speaking(2002, "Emma", "en")
NOBODY = speaking(2003, "Nobody", None)
MOD_ZH = speaking(MODERATOR, "Mod", "zh-CN")


async def approve(client: TestClient, fake: FakeTelegram, text: str, presser: dict = MOD_ZH) -> dict:
    card = await card_for(fake, text)
    await deliver(client, press_update(fake.next_update_id(), presser, buttons(card)[0]["callback_data"],
                                       chat_id=MOD_CHAT, message_id=card["message_id"]))
    return card


async def test_each_participant_is_answered_and_told_in_their_own_language(tg_client, fake_tg) -> None:
    client = await tg_client()  # ui.language = "auto"
    for sender, text in ((ZHAO, "大家新年快乐"), (EMMA, "Happy new year"), (NOBODY, "Cheers")):
        await send_text(client, fake_tg, text, sender=sender)
    assert "等待审核" in (await replies_to(fake_tg, ZHAO["id"]))[0]
    assert "waiting for a moderator" in (await replies_to(fake_tg, EMMA["id"]))[0]
    assert "waiting for a moderator" in (await replies_to(fake_tg, NOBODY["id"]))[0]  # none: the config's

    card = await approve(client, fake_tg, "大家新年快乐")
    # A card is the whole moderators' chat's: under "auto", English, whoever wrote the message.
    assert [b["text"] for b in buttons(card)] == ["✅ Approve", "❌ Reject"]
    assert "From Zhao" in card["text"]
    # The moderator's own answer is in their language; the notice, later, in the sender's.
    [answer] = await fake_tg.wait_for("answerCallbackQuery")
    assert answer.params["text"] == "✅ 已通过"
    assert (await replies_to(fake_tg, ZHAO["id"], 2))[1] == "✅ 你的弹幕已上墙：“大家新年快乐”"
    await approve(client, fake_tg, "Happy new year")
    notice = (await replies_to(fake_tg, EMMA["id"], 2))[1]
    assert notice == "✅ Your message is on the screen now: “Happy new year”"


async def test_a_zh_cn_wall_shows_chinese_cards_whose_buttons_still_decide(tg_client, fake_tg) -> None:
    client = await tg_client(ui__language="zh-CN")
    await send_text(client, fake_tg, "年会加油", sender=NOBODY)
    [reply] = await replies_to(fake_tg, NOBODY["id"])
    assert reply == "⏳ 收到！你的弹幕正在等待审核（已保存；目前没有屏幕在播放）。"  # no screen open
    card = await card_for(fake_tg, "年会加油")
    approve_button, reject_button = buttons(card)
    assert (approve_button["text"], reject_button["text"]) == ("✅ 通过", "❌ 拒绝")
    assert card["reply_markup"]["inline_keyboard"][1][0]["text"] == "🔇 禁言 1 小时"
    assert "来自 Nobody" in card["text"]
    # The data is the same in every language: a press is known by it alone.
    [item] = (await (await client.get("/api/barrages?status=pending", headers=AUTH)).json())["items"]
    assert approve_button["callback_data"] == f"v1:a:{item['id']}"

    await deliver(client, press_update(fake_tg.next_update_id(), user(MODERATOR, "Mod", "One"),
                                       approve_button["callback_data"], chat_id=MOD_CHAT,
                                       message_id=card["message_id"]))
    [edit] = await fake_tg.wait_for("editMessageText")
    assert "✅ Mod One 已通过" in edit.params["text"]
    assert edit.params["reply_markup"]["inline_keyboard"] == [[
        {"text": "🗑 从屏幕撤下", "callback_data": f"v1:x:{item['id']}"}]]
    [approved] = (await (await client.get("/api/barrages?status=approved", headers=AUTH)).json())["items"]
    assert approved["id"] == item["id"] and approved["decided_by"] == "Mod One"
    assert (await replies_to(fake_tg, NOBODY["id"], 2))[1] == "✅ 你的弹幕已上墙：“年会加油”"


async def test_a_fixed_language_wins_over_the_senders(tg_client, fake_tg) -> None:
    client = await tg_client(ui__language="en")
    await send_text(client, fake_tg, "你好", sender=ZHAO)
    assert "waiting for a moderator" in (await replies_to(fake_tg, ZHAO["id"]))[0]


async def test_refusals_help_and_operator_commands_in_the_readers_language(tg_client, fake_tg) -> None:
    client = await tg_client(moderation__max_text_length=10)
    await send_text(client, fake_tg, "这条弹幕实在是太长太长了", sender=ZHAO)
    assert (await replies_to(fake_tg, ZHAO["id"]))[0] == "⚠️ 未发送：内容太长了（最多 10 个字）。"
    await send_text(client, fake_tg, "/help", sender=ZHAO, message_id=2)
    help_text = (await replies_to(fake_tg, ZHAO["id"], 2))[1]
    assert "发送到弹幕墙（也可以打开网页发送：http" in help_text and "Join" not in help_text
    await send_text(client, fake_tg, "/pause", sender=MOD_ZH, chat_id=MOD_CHAT, chat_type="supergroup")
    await send_text(client, fake_tg, "/whoami", sender=EMMA, chat_id=MOD_CHAT, chat_type="supergroup",
                    message_id=2)
    paused, whoami = await replies_to(fake_tg, MOD_CHAT, 2)
    assert paused == "⏸ main 已暂停：不再有新弹幕飞出，已通过的弹幕会排队等待。"
    assert whoami == f"Chat id: {MOD_CHAT}\nYour user id: {EMMA['id']}"
