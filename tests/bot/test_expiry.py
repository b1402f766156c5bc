"""An expired barrage on the chat platforms (the real bots against the fake APIs): its card is
edited to "⌛ Expired" with no buttons, its sender is told, and a press on the old card gets the
usual "already decided" answer. The cap (max_pending = 1) expires the first barrage the moment a
second one waits: a positive signal, with no clock to wait for."""

from __future__ import annotations

import json

from tests.bot.slack.conftest import ANN as SLACK_ANN
from tests.bot.slack.conftest import MOD as SLACK_MOD
from tests.bot.slack.conftest import command_body, post_command, post_press, press_payload, slack_client
from tests.bot.slack.test_channel import buttons as slack_buttons
from tests.bot.slack.test_channel import card_for as slack_card
from tests.bot.telegram.conftest import MOD_CHAT, tg_client
from tests.bot.telegram.test_channel import ANN, MOD, buttons, card_for, deliver, send_text
from tests.conftest import AUTH
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram, press_update

__all__ = ["slack_client", "tg_client"]  # the platforms' app fixtures, used here by name

CAP = {"moderation__max_pending": 1}


async def test_telegram_card_shows_expired_and_the_sender_is_told(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(**CAP)
    await send_text(client, fake_tg, "first in line", message_id=1)
    card = await card_for(fake_tg, "first in line")
    await send_text(client, fake_tg, "pushes it out", message_id=2)
    [edit] = await fake_tg.wait_for("editMessageText", message_id=str(card["message_id"]))
    assert edit.params["text"].endswith("⌛ Expired") and "“first in line”" in edit.params["text"]
    assert "reply_markup" not in edit.params  # no buttons left to press
    told = await fake_tg.wait_for("sendMessage", count=3, chat_id=ANN["id"])  # 2 receipts, 1 notice
    notices = [c.params["text"] for c in told if "expired" in c.params["text"]]
    assert notices == ["⌛ Your message expired before a moderator could look at it: “first in line”"]
    # A moderator pressing the old card's Approve: the usual answer, nothing decided.
    approve = buttons(card)[0]
    await deliver(client, press_update(fake_tg.next_update_id(), MOD, approve["callback_data"],
                                       chat_id=MOD_CHAT, message_id=card["message_id"]))
    [answer] = await fake_tg.wait_for("answerCallbackQuery")
    assert answer.params["text"] == "Already expired"
    expired = (await (await client.get("/api/barrages?status=expired", headers=AUTH)).json())["items"]
    assert [item["text"] for item in expired] == ["first in line"]


async def test_slack_card_shows_expired_and_the_sender_is_told(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client(**CAP)
    await post_command(client, command_body("first in line", trigger="t-1"))
    ts, card = await slack_card(fake_slack, "first in line")
    await post_command(client, command_body("pushes it out", trigger="t-2"))
    [update] = await fake_slack.wait_for("chat.update", ts=ts)
    blocks = json.dumps(update.params["blocks"], ensure_ascii=False)
    assert "⌛ Expired" in blocks and "“first in line”" in blocks
    assert all(block["type"] != "actions" for block in update.params["blocks"])
    assert "⌛ Expired" in update.params["text"]  # the notification's fallback text too
    [dm] = await fake_slack.wait_for("chat.postMessage", channel=SLACK_ANN)
    assert dm.params["text"] == "⌛ Your message expired before a moderator could look at it: “first in line”"
    approve = slack_buttons(card)[0]
    press = press_payload(SLACK_MOD, approve["action_id"], approve["value"], fake_slack.response_url(), ts)
    assert await post_press(client, press) == 200
    [response] = await fake_slack.wait_for_response()
    assert response["text"] == "Already expired"
