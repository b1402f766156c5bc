"""Chats map to rooms on Slack: channels, `/barrage room` picks for DMs, room moderation channels."""

from __future__ import annotations

import asyncio
import json

from aiohttp.test_utils import TestClient

from tests.bot.slack.conftest import (
    ANN,
    MOD,
    MOD_CHANNEL,
    STRANGER,
    command_answer,
    command_body,
    event_body,
    post_command,
    post_event,
)
from tests.conftest import AUTH
from tests.fakes.slack_api import FakeSlack

HALL_B = "CHALLB"
HALL_B_MODS = "CMODSB"
ROOMS = [
    {"slug": "hall-b", "title": "Hall B", "slack_channels": [HALL_B],
     "slack_moderation_channel": HALL_B_MODS},
    {"slug": "hall-c", "title": "Hall C"},
]


async def card_in(fake: FakeSlack, channel: str, text: str) -> dict:
    for _ in range(500):
        for (where, _ts), message in sorted(fake.messages.items()):
            blocks = json.dumps(message.get("blocks") or [], ensure_ascii=False)
            if where == channel and f"“{text}”" in blocks:
                return message
        await asyncio.sleep(0.02)
    raise AssertionError(f"no card for {text!r} in {channel}: {fake.messages}")


async def items(client: TestClient) -> dict[str, str]:
    found = (await (await client.get("/api/barrages?status=pending", headers=AUTH)).json())["items"]
    return {item["text"]: item["room"] for item in found}


def dm_event(text: str, n: int) -> dict:
    return event_body({"type": "message", "channel": "DANN", "user": ANN, "text": text, "ts": f"7{n}.000001",
                       "channel_type": "im", "event_ts": f"7{n}.000001"}, f"EvR{n}")


async def test_a_channel_sends_to_its_room_and_the_card_goes_to_the_rooms_channel(
    slack_client, fake_slack: FakeSlack
) -> None:
    client = await slack_client(rooms=ROOMS)
    await post_command(client, command_body("hello hall b", channel=HALL_B, trigger="t1"))
    await post_command(client, command_body("hello main", trigger="t2"))  # an unmapped channel: main

    card = await card_in(fake_slack, HALL_B_MODS, "hello hall b")
    assert "Room: Hall B" in json.dumps(card["blocks"])
    assert "Room: main" in json.dumps((await card_in(fake_slack, MOD_CHANNEL, "hello main"))["blocks"])
    assert await items(client) == {"hello hall b": "hall-b", "hello main": "main"}


async def test_barrage_room_in_a_dm_switches_the_senders_room(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client(rooms=ROOMS)

    def room(text: str, trigger: str) -> dict[str, str]:
        return dict(command_body(text, channel="DANN", trigger=trigger), channel_name="directmessage")

    listing = await command_answer(client, fake_slack, room("room", "r1"))
    assert "go to main" in listing and "Hall B (hall-b)" in listing
    assert "No room nowhere" in await command_answer(client, fake_slack, room("room nowhere", "r2"))
    assert "now go to Hall B" in await command_answer(client, fake_slack, room("Room hall-b", "r3"))
    here = await command_answer(client, fake_slack, command_body("room hall-c", trigger="r4"))
    assert "this chat go to main" in here  # a channel's room is the channel's, not picked

    assert await post_event(client, dm_event("by dm", 1)) == 200
    await card_in(fake_slack, HALL_B_MODS, "by dm")
    assert "waiting" in await command_answer(client, fake_slack, room("by command in the dm", "r5"))
    assert "waiting" in await command_answer(client, fake_slack, command_body("in general", trigger="r6"))
    assert await items(client) == {"by dm": "hall-b", "by command in the dm": "hall-b", "in general": "main"}


async def test_admin_commands_in_a_rooms_channel_act_on_that_room(
    slack_client, fake_slack: FakeSlack
) -> None:
    client = await slack_client(rooms=ROOMS)

    def admin(text: str, user: str = MOD) -> dict[str, str]:
        return command_body(text, user=user, command="/barrage-admin", trigger=f"t-{text}-{user}",
                            channel=HALL_B_MODS)

    assert "for moderators" in await command_answer(client, fake_slack, admin("mode off", STRANGER))
    stats = await command_answer(client, fake_slack, admin("stats"))
    assert "Room: Hall B (hall-b)" in stats and "Mode: manual" in stats
    assert "now off" in await command_answer(client, fake_slack, admin("mode off"))
    assert (await (await client.get("/api/rooms/hall-b", headers=AUTH)).json())["mode"] == "off"
    assert (await (await client.get("/api/mode", headers=AUTH)).json())["mode"] == "manual"
