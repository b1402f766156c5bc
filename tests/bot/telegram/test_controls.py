"""The live controls from Telegram's moderators' chats (/pause, /resume, /clear, /announce, /lottery,
/digest), and lottery winners told in the chat they sent from."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tests.bot.telegram.conftest import MOD_CHAT
from tests.bot.telegram.test_channel import ANN, MOD, STRANGER, send_text
from tests.bot.telegram.test_rooms import HALL_B_GROUP, HALL_B_MODS, ROOMS
from tests.conftest import AUTH, ClientFactory
from tests.fakes.telegram_api import FakeTelegram

IN_MODS = {"chat_id": MOD_CHAT, "chat_type": "supergroup"}
WON = "You won the lottery"


async def room(client: TestClient, slug: str = "main") -> dict:
    return await (await client.get(f"/api/rooms/{slug}", headers=AUTH)).json()


async def answer(client: TestClient, fake: FakeTelegram, text: str, n: int, sender: dict = MOD,
                 where: dict = IN_MODS) -> str:
    """Send a command as the `n`-th message in `where` and return the `n`-th answer there."""
    await send_text(client, fake, text, sender=sender, message_id=100 + n, **where)
    calls = await fake.wait_for("sendMessage", count=n, chat_id=where["chat_id"])
    [reply] = [c.params["text"] for c in calls
               if (c.params.get("reply_parameters") or {}).get("message_id") == 100 + n]
    return reply


async def test_each_control_acts_on_main_in_the_global_moderators_chat(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(moderation__mode="off")
    await send_text(client, fake_tg, "hello wall", message_id=1)
    await send_text(client, fake_tg, "hello wall", message_id=2)

    assert "main is paused" in await answer(client, fake_tg, "/pause", 1)
    assert (await room(client))["paused"] is True
    assert "already paused" in await answer(client, fake_tg, "/pause", 2)
    assert "main is running" in await answer(client, fake_tg, "/resume", 3)
    assert (await room(client))["paused"] is False
    assert "main's screens are cleared" in await answer(client, fake_tg, "/clear", 4)
    pinned = await answer(client, fake_tg, "/announce   Q&A after the talk  ", 5)
    assert pinned == "📌 Pinned on main: “Q&A after the talk”"
    assert (await room(client))["announcement"] == "Q&A after the talk"
    assert "removed from main" in await answer(client, fake_tg, "/announce", 6)
    assert (await room(client))["announcement"] is None

    drawn = await answer(client, fake_tg, "/lottery 1", 7)
    assert "Lottery in main: 1 of 1 senders won" in drawn and "1. Ann Lee (telegram)" in drawn
    assert "only 1 senders" in await answer(client, fake_tg, "/lottery 2", 8)
    assert "How many winners?" in await answer(client, fake_tg, "/lottery", 9)

    digest = await answer(client, fake_tg, "/digest", 10)
    assert "Digest of main: 2 messages" in digest and "By status: approved 2" in digest
    assert "By source: telegram 2" in digest and "Top senders: Ann Lee (2)" in digest
    assert "Most repeated: “hello wall” (2×)" in digest and "Busiest minute: " in digest


async def test_already_paused_is_the_databases_word_not_this_process_copy(
    tg_client, fake_tg: FakeTelegram, make_client: ClientFactory
) -> None:
    """Another node (a second app on the same database, with a bus of its own) pauses main; this
    node has not heard of it, and must not say it paused main itself."""
    client = await tg_client()
    other = await make_client()
    assert (await other.post("/api/rooms/main/pause", headers=AUTH)).status == 200
    assert "main is already paused" in await answer(client, fake_tg, "/pause", 1)
    assert (await other.post("/api/rooms/main/resume", headers=AUTH)).status == 200
    assert "main is already running" in await answer(client, fake_tg, "/resume", 2)
    assert "main is paused" in await answer(client, fake_tg, "/pause", 3)  # this one did change it
    assert (await room(client))["paused"] is True


async def test_controls_are_refused_to_non_moderators_and_outside_moderators_chats(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(moderation__mode="off")
    await send_text(client, fake_tg, "hello", message_id=1)
    commands = ["/pause", "/resume", "/clear", "/announce hi", "/announce", "/lottery 1", "/digest"]
    for n, command in enumerate(commands, 1):
        assert "for moderators" in await answer(client, fake_tg, command, n, sender=STRANGER)
    in_private = {"chat_id": MOD["id"], "chat_type": "private"}  # a moderator, but not in their chat
    assert "for moderators" in await answer(client, fake_tg, "/pause", 1, where=in_private)
    state = await room(client)
    assert (state["paused"], state["announcement"]) == (False, None)
    assert not [c for c in fake_tg.called("sendMessage") if WON in c.params["text"]]


async def test_a_rooms_moderators_chat_controls_that_room_only(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(rooms=ROOMS, moderation__mode="off")
    in_b = {"chat_id": HALL_B_MODS, "chat_type": "supergroup"}
    await send_text(client, fake_tg, "/b in hall b", chat_id=HALL_B_GROUP, chat_type="group")

    assert "Hall B (hall-b) is paused" in await answer(client, fake_tg, "/pause", 1, where=in_b)
    assert "Pinned on Hall B (hall-b)" in await answer(client, fake_tg, "/announce Break", 2, where=in_b)
    assert "Lottery in Hall B (hall-b)" in await answer(client, fake_tg, "/lottery 1", 3, where=in_b)
    assert "Digest of Hall B (hall-b): 1 messages" in await answer(client, fake_tg, "/digest", 4, where=in_b)
    assert ((await room(client, "hall-b"))["paused"], (await room(client, "hall-b"))["announcement"]) == (
        True, "Break")
    assert ((await room(client))["paused"], (await room(client))["announcement"]) == (False, None)


async def test_the_global_chat_controls_the_room_named_first(tg_client, fake_tg: FakeTelegram) -> None:
    """hall-c has no moderators' chat of its own: the global one is the only place to control it."""
    client = await tg_client(rooms=ROOMS, moderation__mode="off")
    sent = await client.post("/api/barrages", json={"text": "in hall c", "author": "Wen", "room": "hall-c"})
    assert sent.status == 201

    async def state(slug: str) -> tuple:
        found = await room(client, slug)
        return found["paused"], found["announcement"], found["mode"]

    assert "Hall C (hall-c) is paused" in await answer(client, fake_tg, "/pause hall-c", 1)
    assert (await state("hall-c"), await state("main")) == ((True, None, "off"), (False, None, "off"))
    assert "Hall C (hall-c) is running" in await answer(client, fake_tg, "/resume HALL-C", 2)
    assert "Hall C (hall-c)'s screens are cleared" in await answer(client, fake_tg, "/clear hall-c", 3)
    pinned = await answer(client, fake_tg, "/announce hall-c  Q&A after the talk", 4)
    assert pinned == "📌 Pinned on Hall C (hall-c): “Q&A after the talk”"
    # The first word names a room, so text that starts with one names the room first.
    pinned = await answer(client, fake_tg, "/announce main hall-c opens at 3", 5)
    assert pinned == "📌 Pinned on main: “hall-c opens at 3”"
    assert (await state("hall-c"), await state("main")) == (
        (False, "Q&A after the talk", "off"), (False, "hall-c opens at 3", "off"))
    assert "removed from Hall C (hall-c)" in await answer(client, fake_tg, "/announce hall-c", 6)
    assert (await room(client, "hall-c"))["announcement"] is None
    assert "now manual" in await answer(client, fake_tg, "/mode hall-c manual", 7)
    assert (await state("hall-c"))[2] == "manual" and (await state("main"))[2] == "off"
    shown = await answer(client, fake_tg, "/mode hall-c", 8)
    assert shown.startswith("Room: Hall C (hall-c)\nModeration mode is manual")
    drawn = await answer(client, fake_tg, "/lottery hall-c 1", 9)
    assert "Lottery in Hall C (hall-c): 1 of 1 senders won" in drawn and "1. Wen (web)" in drawn
    assert "Digest of Hall C (hall-c): 1 messages" in await answer(client, fake_tg, "/digest hall-c", 10)
    assert "main is paused" in await answer(client, fake_tg, "/pause", 11)  # no room: main, as before
    assert (await room(client, "hall-c"))["paused"] is False


async def test_a_word_that_is_no_room_gets_the_rooms_not_an_echo(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(rooms=ROOMS, moderation__mode="off")
    rooms = "Rooms: main, Hall B (hall-b), Hall C (hall-c)."
    for n, command in enumerate(["/pause hall-x", "/resume hall-x", "/clear hall-x", "/digest hall-x",
                                 "/mode hall-x", "/mode hall-x off", "/lottery hall-x 3", "/lottery hall-x",
                                 "/pause hall-b now"], 1):
        said = await answer(client, fake_tg, command, n)
        assert said.startswith("⚠️ No room “") and rooms in said, (command, said)
    garbage = "x" * 300
    said = await answer(client, fake_tg, f"/pause {garbage}", 10)
    assert "x" * 32 in said and "x" * 33 not in said and len(said) < 200
    assert "Usage: /mode" in await answer(client, fake_tg, "/mode fast", 11)
    for slug in ("main", "hall-b", "hall-c"):
        found = await room(client, slug)
        assert (found["paused"], found["mode"]) == (False, "off")


async def test_a_rooms_chat_refuses_another_room(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(rooms=ROOMS, moderation__mode="off")
    in_b = {"chat_id": HALL_B_MODS, "chat_type": "supergroup"}
    only = "This chat controls Hall B (hall-b) only"
    for n, command in enumerate(["/pause main", "/mode hall-c manual", "/lottery hall-c 1",
                                 "/digest main"], 1):
        assert only in await answer(client, fake_tg, command, n, where=in_b), command
    assert "Hall B (hall-b) is paused" in await answer(client, fake_tg, "/pause hall-b", 5, where=in_b)
    # An announcement here is this room's, its text taken whole, even one that starts with a room.
    pinned = await answer(client, fake_tg, "/announce main stage opens", 6, where=in_b)
    assert pinned == "📌 Pinned on Hall B (hall-b): “main stage opens”"
    found = [await room(client, slug) for slug in ("main", "hall-b", "hall-c")]
    assert [(r["paused"], r["announcement"], r["mode"]) for r in found] == [
        (False, None, "off"), (True, "main stage opens", "off"), (False, None, "off")]
    pinned = await answer(client, fake_tg, "/announce hall-b doors close", 7, where=in_b)  # its own slug
    assert pinned == "📌 Pinned on Hall B (hall-b): “doors close”"


async def won(fake: FakeTelegram, chat: int, count: int) -> list[dict]:
    """The winner notices in `chat`, once there are `count`."""
    for _ in range(1500):  # ends a test that would hang; nothing is timed
        found = [c.params for c in fake.called("sendMessage", chat_id=chat) if WON in c.params["text"]]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} winner notices expected in {chat}, got {len(found)}")


async def test_each_winner_is_told_once_in_the_chat_they_sent_from_even_after_a_restart(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(rooms=ROOMS, moderation__mode="off")
    group = {"chat_id": HALL_B_GROUP, "chat_type": "group"}
    await send_text(client, fake_tg, "/b from the group", message_id=7, **group)
    await send_text(client, fake_tg, "/b again", message_id=8, **group)
    web = await client.post("/api/barrages", json={"text": "from the web", "author": "Wen", "room": "hall-b"})
    assert web.status == 201
    in_b = {"chat_id": HALL_B_MODS, "chat_type": "supergroup"}

    assert "2 of 2 senders won" in await answer(client, fake_tg, "/lottery 2", 1, where=in_b)
    [notice] = await won(fake_tg, HALL_B_GROUP, 1)
    assert notice["text"].startswith("🎉 You won the lottery in Hall B!")
    assert notice["reply_parameters"]["message_id"] == 8  # an answer to their latest message
    await answer(client, fake_tg, "/lottery 2", 2, where=in_b)
    await won(fake_tg, HALL_B_GROUP, 2)  # the second draw's notice: the first draw is done with
    await client.close()

    again = await tg_client(rooms=ROOMS, moderation__mode="off")  # the card loops start over
    await answer(again, fake_tg, "/lottery 2", 3, where=in_b)
    await won(fake_tg, HALL_B_GROUP, 3)  # read after every earlier draw: none told twice
    assert len([c for c in fake_tg.called("sendMessage") if WON in c.params["text"]]) == 3
    assert not fake_tg.called("sendMessage", chat_id=ANN["id"])  # Ann wrote in the group only
