"""Replies in the participant's Slack locale (users.info with include_locale), cards in the configured
language: signed requests into the real Bolt app, the fake Web API answering users.info."""

from __future__ import annotations

import json

from tests.bot.slack.conftest import (
    ANN,
    MOD,
    command_answer,
    command_body,
    event_body,
    post_event,
    post_press,
)
from tests.bot.slack.conftest import press_payload as press
from tests.bot.slack.test_channel import buttons, card_for
from tests.conftest import AUTH
from tests.fakes.slack_api import FakeSlack, slack_user

LI = "ULI"


def chinese(fake: FakeSlack, *users: str) -> None:
    for user in users:
        fake.users[user] = {**fake.users.get(user, slack_user(user, "Li Lei")), "locale": "zh-CN"}


async def test_a_chinese_locale_gets_chinese_replies_and_notices_and_others_the_config(
    slack_client, fake_slack: FakeSlack
) -> None:
    chinese(fake_slack, LI)
    client = await slack_client()  # ui.language = "auto"
    assert "等待审核" in await command_answer(client, fake_slack, command_body("新年快乐", user=LI))
    # ANN's users.info has no locale: the configured language, English under "auto".
    assert "waiting for a moderator" in await command_answer(
        client, fake_slack, command_body("Happy new year", trigger="trig-2"))
    [lookup] = fake_slack.called("users.info", user=LI)  # once: the locale is cached with the name
    assert lookup.params.get("include_locale") in ("1", "true")

    ts, card = await card_for(fake_slack, "新年快乐")
    approve = buttons(card)[0]
    assert approve["text"]["text"] == "Approve" and "from Li Lei" in json.dumps(card["blocks"])
    assert await post_press(client, press(MOD, approve["action_id"], approve["value"],
                                          fake_slack.response_url(), ts)) == 200
    dm = (await fake_slack.wait_for("chat.postMessage", channel=LI))[0].params
    assert dm["text"] == "✅ 你的弹幕已上墙：“新年快乐”"

    dm_event = {"type": "message", "channel": "DLI", "user": LI, "text": "", "ts": "5.000001",
                "channel_type": "im", "event_ts": "5.000001", "subtype": "file_share"}
    assert await post_event(client, event_body(dm_event, "EvFile")) == 200
    file_reply = (await fake_slack.wait_for("chat.postMessage", channel="DLI"))[0].params
    assert file_reply["text"] == "⚠️ 目前只能发送文字上墙（不支持表情贴纸、图片和文件）。"


async def test_a_zh_cn_wall_shows_chinese_cards_whose_buttons_still_decide(
    slack_client, fake_slack: FakeSlack
) -> None:
    client = await slack_client(ui__language="zh-CN")
    assert "等待审核" in await command_answer(client, fake_slack, command_body("年会加油"))
    ts, card = await card_for(fake_slack, "年会加油")
    approve, reject = buttons(card)
    assert (approve["text"]["text"], reject["text"]["text"]) == ("✅ 通过", "❌ 拒绝")
    assert (approve["action_id"], reject["action_id"]) == ("barrage_approve", "barrage_reject")
    assert "来自 Ann Lee" in json.dumps(card["blocks"], ensure_ascii=False)
    assert await post_press(client, press(MOD, approve["action_id"], approve["value"],
                                          fake_slack.response_url(), ts)) == 200
    update = (await fake_slack.wait_for("chat.update", ts=ts))[0].params
    assert "✅ Mod One 已通过" in json.dumps(update["blocks"], ensure_ascii=False)
    [item] = (await (await client.get("/api/barrages?status=approved", headers=AUTH)).json())["items"]
    assert item["text"] == "年会加油" and item["decided_by"] == "Mod One"
    dm = (await fake_slack.wait_for("chat.postMessage", channel=ANN))[0].params
    assert dm["text"] == "✅ 你的弹幕已上墙：“年会加油”"


async def test_moderators_commands_answer_in_their_locale(slack_client, fake_slack: FakeSlack) -> None:
    chinese(fake_slack, MOD)
    client = await slack_client()
    admin = "/barrage-admin"
    answer = await command_answer(client, fake_slack, command_body("pause", user=MOD, command=admin))
    assert answer == "⏸ main 已暂停：不再有新弹幕飞出，已通过的弹幕会排队等待。"
    usage = await command_answer(client, fake_slack, command_body("", user=MOD, command="/barrage-admin",
                                                                  trigger="trig-2"))
    assert usage.startswith("用法：`/barrage-admin mode off|auto|manual`")
    refused = await command_answer(client, fake_slack, command_body("stats", command="/barrage-admin",
                                                                    trigger="trig-3"))
    assert refused == "`/barrage-admin` is for moderators."  # ANN: no locale, the config's
