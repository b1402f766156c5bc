"""Cards on Telegram and Slack stay in sync: a decision on either edits both."""

from __future__ import annotations

import json

from server.app import TELEGRAM
from tests.bot.slack import test_channel as slack
from tests.bot.slack.conftest import APP_TOKEN, BOT_TOKEN, MOD, SIGNING_SECRET, post_press, press_payload
from tests.bot.telegram import test_channel as tg
from tests.bot.telegram.conftest import MOD_CHAT, MODERATOR, SECRET, TOKEN
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram, press_update, user


async def both(make_client, fake_tg: FakeTelegram, fake_slack: FakeSlack):
    client = await make_client(
        telegram__enabled=True, telegram__token=TOKEN, telegram__mode="webhook",
        telegram__webhook_secret=SECRET, telegram__api_base_url=fake_tg.base_url,
        telegram__moderator_chat_id=MOD_CHAT, telegram__moderators=[MODERATOR],
        slack__enabled=True, slack__bot_token=BOT_TOKEN, slack__signing_secret=SIGNING_SECRET,
        slack__app_token=APP_TOKEN, slack__api_base_url=fake_slack.api_url,
        slack__moderation_channel=slack.MOD_CHANNEL, slack__moderators=[MOD],
        server__public_url="https://wall.example.org",
    )
    await client.app[TELEGRAM].ready.wait()
    return client


async def test_a_telegram_press_updates_the_slack_card(
    fake_tg: FakeTelegram, fake_slack: FakeSlack, make_client
) -> None:
    client = await both(make_client, fake_tg, fake_slack)
    assert (await client.post("/api/barrages", json={"text": "seen everywhere"})).status == 201
    tg_card = await tg.card_for(fake_tg, "seen everywhere")
    slack_ts, _ = await slack.card_for(fake_slack, "seen everywhere")
    press = press_update(fake_tg.next_update_id(), user(MODERATOR, "Mod", "One"),
                         tg.buttons(tg_card)[0]["callback_data"], chat_id=MOD_CHAT,
                         message_id=tg_card["message_id"])
    assert await tg.deliver(client, press) == 200
    update = (await fake_slack.wait_for("chat.update", ts=slack_ts))[0].params
    assert "Approved by Mod One" in json.dumps(update["blocks"], ensure_ascii=False)


async def test_a_slack_press_updates_the_telegram_card(
    fake_tg: FakeTelegram, fake_slack: FakeSlack, make_client
) -> None:
    client = await both(make_client, fake_tg, fake_slack)
    assert (await client.post("/api/barrages", json={"text": "decide in slack"})).status == 201
    tg_card = await tg.card_for(fake_tg, "decide in slack")
    slack_ts, slack_card = await slack.card_for(fake_slack, "decide in slack")
    reject = slack.buttons(slack_card)[1]
    assert await post_press(client, press_payload(MOD, reject["action_id"], reject["value"],
                                                  fake_slack.response_url(), slack_ts)) == 200
    edit = (await fake_tg.wait_for("editMessageText"))[0].params
    assert edit["message_id"] == str(tg_card["message_id"]) and "Rejected by Mod One" in edit["text"]
