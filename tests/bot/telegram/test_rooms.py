"""Chats map to rooms on Telegram: groups, private picks (kept in the database), room moderators' chats."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tests.bot.telegram.conftest import MOD_CHAT
from tests.bot.telegram.test_channel import ANN, MOD, STRANGER, replies_to, send_text
from tests.conftest import AUTH
from tests.fakes.telegram_api import FakeTelegram

HALL_B_GROUP = -5001
HALL_B_MODS = -100888
ROOMS = [
    {"slug": "hall-b", "title": "Hall B", "telegram_chats": [HALL_B_GROUP],
     "telegram_moderator_chat_id": HALL_B_MODS},
    {"slug": "hall-c", "title": "Hall C"},  # no chat of its own: its cards go to the global one
]


async def card_in(fake: FakeTelegram, chat: int, text: str) -> dict:
    """The card showing `text` in `chat`, waiting for it to appear."""
    for _ in range(500):
        cards = [m for (where, _), m in sorted(fake.messages.items())
                 if where == chat and f"“{text}”" in m["text"] and m.get("reply_markup")]
        if cards:
            return cards[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no card for {text!r} in {chat}")


async def items(client: TestClient, status: str = "pending") -> list[dict]:
    return (await (await client.get(f"/api/barrages?status={status}", headers=AUTH)).json())["items"]


async def test_a_group_sends_to_its_room_and_the_card_goes_to_the_rooms_moderators(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(rooms=ROOMS)
    await send_text(client, fake_tg, "/barrage hello hall b", chat_id=HALL_B_GROUP, chat_type="group")
    await send_text(client, fake_tg, "/barrage hello main", chat_id=-5000, chat_type="group", message_id=2)

    card = await card_in(fake_tg, HALL_B_MODS, "hello hall b")
    assert "Room: Hall B" in card["text"]
    main_card = await card_in(fake_tg, MOD_CHAT, "hello main")  # an unmapped group: main
    assert "Room: main" in main_card["text"]
    assert sorted((i["text"], i["room"]) for i in await items(client)) == [
        ("hello hall b", "hall-b"), ("hello main", "main")]
    assert not [m for (chat, _), m in fake_tg.messages.items() if chat == MOD_CHAT and "hall b" in m["text"]]


async def test_room_in_a_private_chat_switches_and_is_remembered_by_the_database(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(rooms=ROOMS)
    await send_text(client, fake_tg, "/room", message_id=1)
    [listing] = await replies_to(fake_tg, ANN["id"])
    assert "go to main" in listing and "Hall B (hall-b)" in listing and "Hall C (hall-c)" in listing
    await send_text(client, fake_tg, "/room nowhere", message_id=2)
    assert "No room nowhere" in (await replies_to(fake_tg, ANN["id"], 2))[1]
    await send_text(client, fake_tg, "/room hall-c", message_id=3)
    assert "now go to Hall C (hall-c)" in (await replies_to(fake_tg, ANN["id"], 3))[2]
    await send_text(client, fake_tg, "to hall c", message_id=4)
    card = await card_in(fake_tg, MOD_CHAT, "to hall c")  # hall-c has no moderators' chat of its own
    assert "Room: Hall C" in card["text"]
    await send_text(client, fake_tg, "from someone else", sender=STRANGER, message_id=5)
    await card_in(fake_tg, MOD_CHAT, "from someone else")
    await client.close()

    again = await tg_client(rooms=ROOMS)  # a new process on the same database
    await send_text(again, fake_tg, "still hall c", message_id=6)
    await card_in(fake_tg, MOD_CHAT, "still hall c")
    rooms = {i["text"]: i["room"] for i in await items(again)}
    assert rooms == {"to hall c": "hall-c", "from someone else": "main", "still hall c": "hall-c"}


async def test_room_in_a_group_says_where_the_group_sends(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(rooms=ROOMS)
    await send_text(client, fake_tg, "/room hall-c", chat_id=HALL_B_GROUP, chat_type="group")
    [answer] = await replies_to(fake_tg, HALL_B_GROUP)
    assert "this chat go to Hall B (hall-b)" in answer
    await send_text(client, fake_tg, "/barrage mine", chat_id=HALL_B_GROUP, chat_type="group", message_id=2)
    await card_in(fake_tg, HALL_B_MODS, "mine")  # the group's room, whatever was asked


async def test_operator_commands_in_a_rooms_moderators_chat_act_on_that_room(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(rooms=ROOMS)
    in_b = {"chat_id": HALL_B_MODS, "chat_type": "supergroup"}
    await send_text(client, fake_tg, "/barrage waiting in b", chat_id=HALL_B_GROUP, chat_type="group")
    await card_in(fake_tg, HALL_B_MODS, "waiting in b")

    await send_text(client, fake_tg, "/mode off", sender=STRANGER, message_id=10, **in_b)
    await send_text(client, fake_tg, "/stats", sender=MOD, message_id=11, **in_b)
    await send_text(client, fake_tg, "/mode off", sender=MOD, message_id=12, **in_b)
    answers = (await replies_to(fake_tg, HALL_B_MODS, 4))[1:]  # after the card, three answers
    assert sum("for moderators" in text for text in answers) == 1
    assert any("Room: Hall B (hall-b)" in text and "Pending: 1" in text for text in answers)
    assert any("Room: Hall B (hall-b)" in text and "now off" in text for text in answers)

    room = await (await client.get("/api/rooms/hall-b", headers=AUTH)).json()
    assert room["mode"] == "off"
    assert (await (await client.get("/api/mode", headers=AUTH)).json())["mode"] == "manual"
    assert (await (await client.get("/api/rooms/hall-c", headers=AUTH)).json())["mode"] == "manual"
