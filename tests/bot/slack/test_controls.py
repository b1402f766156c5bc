"""The live controls through `/barrage-admin <command>` (signed requests into the real Bolt app), and
lottery winners told by DM."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tests.bot.slack.conftest import ANN, MOD, MOD_CHANNEL, STRANGER, command_answer, command_body
from tests.bot.slack.test_rooms import HALL_B, HALL_B_MODS, ROOMS
from tests.conftest import AUTH
from tests.fakes.slack_api import FakeSlack

WON = "You won the lottery"


def admin(text: str, user: str = MOD, channel: str = MOD_CHANNEL) -> dict[str, str]:
    return command_body(text, user=user, command="/barrage-admin", trigger=f"t-{text}-{user}-{channel}",
                        channel=channel)


async def room(client: TestClient, slug: str = "main") -> dict:
    return await (await client.get(f"/api/rooms/{slug}", headers=AUTH)).json()


async def won(fake: FakeSlack, user: str, count: int) -> list[str]:
    """The winner DMs to `user`, once there are `count`."""
    for _ in range(1500):  # ends a test that would hang; nothing is timed
        found = [c.params["text"] for c in fake.called("chat.postMessage", channel=user)
                 if WON in c.params["text"]]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} winner notices expected for {user}, got {len(found)}")


async def test_each_control_acts_on_main_from_the_moderation_channel(
    slack_client, fake_slack: FakeSlack
) -> None:
    client = await slack_client(moderation__mode="off")
    for n in (1, 2):
        await command_answer(client, fake_slack, command_body("<b>Hi</b> & bye", trigger=f"m{n}"))

    async def run(text: str) -> str:
        return await command_answer(client, fake_slack, admin(text))

    assert "main is paused" in await run("pause")
    assert (await room(client))["paused"] is True
    assert "main is running" in await run("Resume")
    assert "main's screens are cleared" in await run("clear")
    assert await run("announce Q&A <after> the Talk") == "📌 Pinned on main: “Q&amp;A &lt;after&gt; the Talk”"
    assert (await room(client))["announcement"] == "Q&A <after> the Talk"  # as typed; escaped in mrkdwn only
    assert "removed from main" in await run("announce")
    assert (await room(client))["announcement"] is None
    drawn = await run("lottery 1")
    assert "Lottery in main: 1 of 1 senders won" in drawn and "1. Ann Lee (slack)" in drawn
    digest = await run("digest")
    assert "Digest of main: 2 messages" in digest and "By source: slack 2" in digest
    assert "Most repeated: “&lt;b&gt;Hi&lt;/b&gt; &amp; bye” (2×)" in digest  # never mrkdwn
    assert "Usage:" in await run("lottery 1 2")
    [notice] = await won(fake_slack, ANN, 1)
    assert notice.startswith("🎉 You won the lottery in main!")


async def test_controls_are_refused_to_non_moderators(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client(moderation__mode="off")
    await command_answer(client, fake_slack, command_body("hello"))
    for text in ("pause", "resume", "clear", "announce hi", "announce", "lottery 1", "digest"):
        assert "for moderators" in await command_answer(client, fake_slack, admin(text, STRANGER))
    state = await room(client)
    assert (state["paused"], state["announcement"]) == (False, None)
    await command_answer(client, fake_slack, admin("lottery 1"))  # a moderator's draw is told
    await won(fake_slack, ANN, 1)
    assert len([c for c in fake_slack.called("chat.postMessage") if WON in c.params["text"]]) == 1


async def test_a_rooms_channel_controls_that_room_and_its_winners_are_told_once(
    slack_client, fake_slack: FakeSlack
) -> None:
    client = await slack_client(rooms=ROOMS, moderation__mode="off")
    await command_answer(client, fake_slack, command_body("in hall b", channel=HALL_B, trigger="b1"))

    async def run(text: str) -> str:
        return await command_answer(client, fake_slack, admin(text, channel=HALL_B_MODS))

    assert "Hall B (hall-b) is paused" in await run("pause")
    assert "Pinned on Hall B (hall-b)" in await run("announce Break")
    assert "Lottery in Hall B (hall-b): 1 of 1" in await run("lottery 1")
    assert "Digest of Hall B (hall-b): 1 messages" in await run("digest")
    assert ((await room(client, "hall-b"))["paused"], (await room(client))["paused"]) == (True, False)
    await won(fake_slack, ANN, 1)
    await command_answer(client, fake_slack, admin("lottery 1", channel=HALL_B_MODS))
    await won(fake_slack, ANN, 2)  # the second draw's DM: the first draw is done with
    assert len(await won(fake_slack, ANN, 2)) == 2


async def test_the_global_channel_controls_the_room_named_first(slack_client, fake_slack: FakeSlack) -> None:
    """hall-c has no moderation channel of its own: `/barrage-admin <control> hall-c` reaches it."""
    client = await slack_client(rooms=ROOMS, moderation__mode="off")
    sent = await client.post("/api/barrages", json={"text": "in hall c", "author": "Wen", "room": "hall-c"})
    assert sent.status == 201

    async def run(text: str) -> str:
        return await command_answer(client, fake_slack, admin(text))

    assert "Hall C (hall-c) is paused" in await run("pause hall-c")
    assert ((await room(client, "hall-c"))["paused"], (await room(client))["paused"]) == (True, False)
    assert "Hall C (hall-c) is running" in await run("resume hall-c")
    assert "Hall C (hall-c)'s screens are cleared" in await run("clear hall-c")
    pinned = await run("announce hall-c Q&A <after> the talk")
    assert pinned == "📌 Pinned on Hall C (hall-c): “Q&amp;A &lt;after&gt; the talk”"
    assert "Pinned on main: “hall-c opens at 3”" in await run("announce main hall-c opens at 3")
    assert (await room(client, "hall-c"))["announcement"] == "Q&A <after> the talk"
    assert (await room(client))["announcement"] == "hall-c opens at 3"
    assert "removed from Hall C (hall-c)" in await run("announce hall-c")
    assert "now manual" in await run("mode hall-c manual")
    assert ((await room(client, "hall-c"))["mode"], (await room(client))["mode"]) == ("manual", "off")
    assert "Moderation mode is manual" in await run("mode hall-c")
    assert "Lottery in Hall C (hall-c): 1 of 1 senders won" in await run("lottery hall-c 1")
    assert "Digest of Hall C (hall-c): 1 messages" in await run("digest hall-c")
    said = await run("pause hall-x")
    assert said.startswith("⚠️ No room “hall-x”") and "Rooms: main, Hall B (hall-b), Hall C (hall-c)." in said
    said = await run("lottery <@U1> " + "y" * 100)
    assert said.startswith("⚠️ No room “&lt;@U1&gt;”") and "y" * 10 not in said  # quoted, never a mention
    assert (await room(client, "hall-c"))["paused"] is False and (await room(client))["paused"] is False


async def test_a_rooms_channel_refuses_another_room(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client(rooms=ROOMS, moderation__mode="off")

    async def run(text: str) -> str:
        return await command_answer(client, fake_slack, admin(text, channel=HALL_B_MODS))

    assert "This chat controls Hall B (hall-b) only" in await run("pause main")
    assert "Hall B (hall-b) is paused" in await run("pause hall-b")
    assert ((await room(client, "hall-b"))["paused"], (await room(client))["paused"]) == (True, False)
    await run("announce hall-c hello")  # the text, whole: a room's channel announces there only
    assert (await room(client, "hall-c"))["announcement"] is None
    assert (await room(client, "hall-b"))["announcement"] == "hall-c hello"

