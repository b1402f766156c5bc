"""The card's "🔇 Mute 1h": signed block_actions into the real Bolt app, against the fake Slack."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient

from tests.bot.slack.conftest import (
    ANN,
    MOD,
    STRANGER,
    command_answer,
    command_body,
    post_command,
    post_press,
    press_payload,
)
from tests.bot.slack.test_channel import buttons, card_for
from tests.conftest import AUTH
from tests.fakes.slack_api import TEAM_ID, FakeSlack


def mute_button(card: dict) -> dict:
    [block] = [b for b in card["blocks"] if b.get("block_id") == "barrage_mute"]
    [button] = block["elements"]
    return button


async def mutes(client: TestClient) -> list[dict]:
    return (await (await client.get("/api/mutes", headers=AUTH)).json())["mutes"]


async def test_a_moderator_mutes_the_sender_from_the_card(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    await post_command(client, command_body("spam spam spam"))
    ts, card = await card_for(fake_slack, "spam spam spam")
    button = mute_button(card)
    assert button["text"]["text"] == "🔇 Mute 1h"
    assert [b["text"]["text"] for b in buttons(card)] == ["Approve", "Reject"]  # still the first actions

    press = press_payload(MOD, button["action_id"], button["value"], fake_slack.response_url(), ts)
    assert await post_press(client, press) == 200
    update = (await fake_slack.wait_for("chat.update", ts=ts))[0].params
    assert "🔇 Sender muted by Mod One (message rejected)" in json.dumps(update["blocks"], ensure_ascii=False)
    assert all(b["type"] != "actions" for b in update["blocks"])
    [mute] = await mutes(client)
    assert mute["sender"] == f"slack:{TEAM_ID}:{ANN}"
    dm = (await fake_slack.wait_for("chat.postMessage", channel=ANN))[0].params
    assert "not approved" in dm["text"]

    answer = await command_answer(client, fake_slack, command_body("let me in", trigger="trig-2"))
    assert answer.startswith("⚠️ Not sent: you are muted until ") and mute["until"][11:16] in answer


async def test_a_strangers_mute_press_changes_nothing(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    await post_command(client, command_body("innocent"))
    ts, card = await card_for(fake_slack, "innocent")
    button = mute_button(card)
    press = press_payload(STRANGER, button["action_id"], button["value"], fake_slack.response_url(), ts)
    assert await post_press(client, press) == 200
    [response] = await fake_slack.wait_for_response()
    assert response["text"] == "Only moderators can decide." and response["response_type"] == "ephemeral"
    assert await mutes(client) == [] and fake_slack.called("chat.update") == []


async def test_a_forged_mute_value_is_refused(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    await post_command(client, command_body("target"))
    await card_for(fake_slack, "target")
    for value in ("999", f"slack:{TEAM_ID}:{ANN}", "-1"):
        press = press_payload(MOD, "barrage_mute", value, fake_slack.response_url())
        assert await post_press(client, press) == 200
    responses = await fake_slack.wait_for_response(3)
    gone, forged = "This barrage no longer exists.", "This button no longer works."
    assert sorted(r["text"] for r in responses) == [gone, forged, forged]
    assert await mutes(client) == []
