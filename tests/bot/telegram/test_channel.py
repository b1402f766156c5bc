"""The real python-telegram-bot against the fake Bot API, inside the real app."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient

from server.app import CARDS, TELEGRAM
from server.web.keys import CONFIG
from tests.bot.telegram.conftest import MOD_CHAT, MODERATOR, SECRET, TOKEN
from tests.conftest import AUTH
from tests.fakes.telegram_api import FakeTelegram, admin, message_update, press_update, user
from tests.sse import next_block, next_event
from tests.web.test_stream import wait_for_screens

ANN = user(1001, "Ann", "Lee", username="ann")
MOD = user(MODERATOR, "Mod", "One")
MOD2 = user(43, "Mod", "Two")
STRANGER = user(666, "Mallory")
HOOK = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


async def deliver(client: TestClient, update: dict, headers: dict | None = None) -> int:
    """Hand an update to the bot the way the client's mode receives it."""
    if client.app[CONFIG].telegram.mode == "polling":
        await client.fake_tg.push_update(update)  # type: ignore[attr-defined]
        return 200
    resp = await client.post("/telegram/webhook", json=update, headers=HOOK if headers is None else headers)
    return resp.status


BOTH_MODES = pytest.mark.parametrize("mode", ["webhook", "polling"])


async def send_text(
    client: TestClient, fake: FakeTelegram, text: str, sender: dict = ANN, message_id: int = 1, **kw: object
) -> dict:
    update = message_update(fake.next_update_id(), sender, text, message_id=message_id, **kw)
    assert await deliver(client, update) == 200
    return update


async def card_for(fake: FakeTelegram, text: str) -> dict:
    """The latest card in the moderators' chat showing `text`, waiting for it to appear."""
    for _ in range(500):
        cards = [
            m
            for (chat, _), m in sorted(fake.messages.items())
            if chat == MOD_CHAT and f"“{text}”" in m["text"]
        ]
        if cards:
            return cards[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no card for {text!r}")


def buttons(card: dict) -> list[dict]:
    return card["reply_markup"]["inline_keyboard"][0]


async def replies_to(fake: FakeTelegram, chat_id: int, count: int = 1) -> list[str]:
    calls = await fake.wait_for("sendMessage", count=count, chat_id=chat_id)
    return [c.params["text"] for c in calls]


async def pending(client: TestClient) -> list[dict]:
    return (await (await client.get("/api/barrages?status=pending", headers=AUTH)).json())["items"]


@BOTH_MODES
async def test_full_flow_message_card_press_stream_sender(
    mode: str, tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(mode)
    if mode == "webhook":
        hook = fake_tg.called("setWebhook")[0].params
        assert hook["url"] == "https://wall.example.org/telegram/webhook" and hook["secret_token"] == SECRET
    else:
        assert fake_tg.called("deleteWebhook") and not fake_tg.called("setWebhook")
    stream = await client.get("/stream")
    await next_block(stream)

    await send_text(client, fake_tg, "Hello from Telegram")
    assert "waiting for a moderator" in (await replies_to(fake_tg, ANN["id"]))[0]
    card = await card_for(fake_tg, "Hello from Telegram")
    assert "Ann Lee (@ann)" in card["text"] and "telegram" in card["text"]
    approve, reject = buttons(card)
    assert "Approve" in approve["text"] and "Reject" in reject["text"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in (approve, reject))

    pressed = time.perf_counter()
    press = press_update(
        fake_tg.next_update_id(),
        MOD,
        approve["callback_data"],
        chat_id=MOD_CHAT,
        message_id=card["message_id"],
    )
    assert await deliver(client, press) == 200
    event = await next_event(stream)
    print(f"\npress -> SSE receipt: {(time.perf_counter() - pressed) * 1000:.1f} ms")
    assert event.data["source"] == "telegram" and event.data["author"] == "Ann Lee"
    assert event.data["text"] == "Hello from Telegram"

    answer = await fake_tg.wait_for("answerCallbackQuery")
    assert "Approved" in answer[0].params["text"]
    edit = (await fake_tg.wait_for("editMessageText"))[0].params
    assert edit["message_id"] == str(card["message_id"]) and "Approved by Mod One" in edit["text"]
    [[remove]] = edit["reply_markup"]["inline_keyboard"]  # only "Remove from screen" left
    assert remove["text"] == "🗑 Remove from screen"
    assert "on the screen now" in (await replies_to(fake_tg, ANN["id"], 2))[1]
    stream.close()


async def test_remove_from_screen_after_approval(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(telegram__moderators=[MODERATOR, MOD2["id"]])
    stream = await client.get("/stream")
    await send_text(client, fake_tg, "regret this")
    card = await card_for(fake_tg, "regret this")
    await deliver(client, press_update(fake_tg.next_update_id(), MOD, buttons(card)[0]["callback_data"],
                                       chat_id=MOD_CHAT, message_id=card["message_id"]))
    flown = await next_event(stream)
    [edit] = await fake_tg.wait_for("editMessageText")
    [[remove]] = edit.params["reply_markup"]["inline_keyboard"]
    for who in (STRANGER, MOD2):  # the stranger is refused; the moderator's press is the signal
        await deliver(client, press_update(fake_tg.next_update_id(), who, remove["callback_data"],
                                           chat_id=MOD_CHAT, message_id=card["message_id"]))
    gone = await next_event(stream)
    assert (gone.event, gone.data) == ("retract", {"id": flown.data["id"]})
    answers = sorted(c.params["text"] for c in (await fake_tg.wait_for("answerCallbackQuery", count=3))[1:])
    assert answers == ["Only moderators can decide.", "🗑 Removed from every screen"]
    edits = await fake_tg.wait_for("editMessageText", count=2)
    assert "🗑 Removed by Mod Two" in edits[1].params["text"] and "reply_markup" not in edits[1].params
    resp = await client.get("/api/barrages?status=retracted", headers=AUTH)
    [item] = (await resp.json())["items"]
    assert item["retracted_by"] == "Mod Two"
    stream.close()


@BOTH_MODES
async def test_a_non_moderator_press_changes_nothing(mode: str, tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(mode)
    await send_text(client, fake_tg, "pick me")
    card = await card_for(fake_tg, "pick me")
    press = press_update(
        fake_tg.next_update_id(),
        STRANGER,
        buttons(card)[0]["callback_data"],
        chat_id=MOD_CHAT,
        message_id=card["message_id"],
    )
    assert await deliver(client, press) == 200
    answer = (await fake_tg.wait_for("answerCallbackQuery"))[0].params
    assert "Only moderators" in answer["text"] and answer["show_alert"] == "true"
    assert len(await pending(client)) == 1
    # A positive signal instead of a pause: a moderator's press now decides, and its card
    # edit is the only one (had the stranger's press counted, it would say "by Mallory").
    press = press_update(fake_tg.next_update_id(), MOD, buttons(card)[0]["callback_data"],
                         chat_id=MOD_CHAT, message_id=card["message_id"])
    assert await deliver(client, press) == 200
    [edit] = await fake_tg.wait_for("editMessageText")
    assert "Approved by Mod One" in edit.params["text"]


async def test_forged_callback_data_is_refused(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "target")
    await card_for(fake_tg, "target")
    for data in ("v1:a:99999", "v1:z:1", "drop table"):
        press = press_update(fake_tg.next_update_id(), MOD, data, chat_id=MOD_CHAT, message_id=1)
        assert await deliver(client, press) == 200
    await fake_tg.wait_for("answerCallbackQuery", count=3)
    assert len(await pending(client)) == 1


@BOTH_MODES
async def test_duplicate_update_is_one_barrage_one_card_one_reply(
    mode: str, tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(mode)
    update = await send_text(client, fake_tg, "only once", message_id=77)
    assert await deliver(client, update) == 200  # a webhook retry
    assert await deliver(client, dict(update, update_id=fake_tg.next_update_id())) == 200
    await card_for(fake_tg, "only once")
    # A later message, fully handled (its card and its reply), instead of a pause: cards are
    # posted in id order, so a card or reply for the duplicates would have come first.
    await send_text(client, fake_tg, "a later one", sender=STRANGER, message_id=78)
    await card_for(fake_tg, "a later one")
    await replies_to(fake_tg, STRANGER["id"])
    assert [item["text"] for item in await pending(client)] == ["only once", "a later one"]
    assert len(fake_tg.called("sendMessage", chat_id=MOD_CHAT)) == 2
    assert len(fake_tg.called("sendMessage", chat_id=ANN["id"])) == 1


async def test_secret_token_is_checked(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    update = message_update(fake_tg.next_update_id(), ANN, "sneaky")
    assert await deliver(client, update, headers={}) == 401
    assert await deliver(client, update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) == 403
    assert await pending(client) == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"update_id": "x", "message": 5}'])
async def test_garbage_updates_are_400(tg_client, fake_tg: FakeTelegram, body: bytes) -> None:
    client = await tg_client()
    resp = await client.post("/telegram/webhook", data=body, headers=HOOK)
    assert resp.status == 400
    assert (await client.get("/healthz")).status == 200


@BOTH_MODES
async def test_a_card_from_before_a_restart_still_works(
    mode: str, tg_client, fake_tg: FakeTelegram, make_config
) -> None:
    client = await tg_client(mode)
    await send_text(client, fake_tg, "before restart")
    card = await card_for(fake_tg, "before restart")
    cards = client.app[CARDS]
    for _ in range(100):  # the card reference is stored right after Telegram answers
        if await cards.cards_of(1, "telegram"):
            break
        await asyncio.sleep(0.02)
    await client.close()

    again = await tg_client(mode)
    # The catch-up pass posts cards in id order: once a newer barrage has its card, the
    # old one would have had a second card already, if it were going to get one.
    await send_text(again, fake_tg, "after restart", sender=STRANGER, message_id=2)
    await card_for(fake_tg, "after restart")
    assert len(fake_tg.called("sendMessage", chat_id=MOD_CHAT)) == 2  # no second card for the first
    press = press_update(
        fake_tg.next_update_id(),
        MOD,
        buttons(card)[1]["callback_data"],
        chat_id=MOD_CHAT,
        message_id=card["message_id"],
    )
    assert await deliver(again, press) == 200
    edit = (await fake_tg.wait_for("editMessageText"))[0].params
    assert "Rejected by Mod One" in edit["text"]
    assert "not approved" in (await replies_to(fake_tg, ANN["id"], 2))[1]


@BOTH_MODES
async def test_429_on_card_is_retried_without_duplicates(mode: str, tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(mode)
    fake_tg.fail(
        "sendMessage",
        times=1,
        code=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        chat_id=MOD_CHAT,
    )
    await send_text(client, fake_tg, "flood")
    await fake_tg.wait_for("sendMessage", count=2, chat_id=MOD_CHAT)  # refused, then retried
    # The next barrage's card, not a pause: the card pass is sequential, so any second try
    # at "flood" would have come before it.
    await send_text(client, fake_tg, "after the flood", sender=STRANGER, message_id=2)
    await card_for(fake_tg, "after the flood")
    await replies_to(fake_tg, STRANGER["id"])
    cards = [m["text"] for (c, _), m in sorted(fake_tg.messages.items()) if c == MOD_CHAT]
    assert len(cards) == 2 and "flood" in cards[0] and "after the flood" in cards[1]
    assert len(fake_tg.called("sendMessage", chat_id=ANN["id"])) == 1


@BOTH_MODES
async def test_concurrent_double_press_makes_one_decision(
    mode: str, tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client(mode, telegram__moderators=[MODERATOR, MOD2["id"]])
    stream = await client.get("/stream")
    await next_block(stream)
    await send_text(client, fake_tg, "race")
    card = await card_for(fake_tg, "race")
    data = buttons(card)[0]["callback_data"]
    presses = [
        press_update(fake_tg.next_update_id(), who, data, chat_id=MOD_CHAT, message_id=card["message_id"])
        for who in (MOD, MOD2)
    ]
    assert await asyncio.gather(*(deliver(client, p) for p in presses)) == [200, 200]
    answers = [c.params["text"] for c in await fake_tg.wait_for("answerCallbackQuery", count=2)]
    assert sum("Already approved by Mod" in a for a in answers) == 1
    assert (await next_event(stream)).data["text"] == "race"
    # The next event on the stream is a later barrage's, not a second "race".
    await send_text(client, fake_tg, "after the race", message_id=2)
    await card_for(fake_tg, "after the race")
    [later] = await pending(client)
    assert (await client.post(f"/api/barrages/{later['id']}/approve", headers=AUTH)).status == 200
    assert (await next_event(stream)).data["text"] == "after the race"
    stream.close()


async def test_the_same_moderator_pressing_twice_is_not_told_off(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "press press")
    card = await card_for(fake_tg, "press press")
    data = buttons(card)[0]["callback_data"]
    for _ in range(2):
        press = press_update(fake_tg.next_update_id(), MOD, data, chat_id=MOD_CHAT,
                             message_id=card["message_id"])
        assert await deliver(client, press) == 200
    answers = [c.params["text"] for c in await fake_tg.wait_for("answerCallbackQuery", count=2)]
    assert answers == ["✅ Approved", "✅ Approved"]


async def test_an_undo_gives_the_card_its_buttons_back_and_the_sender_hears_the_final_word(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client()
    client.app[TELEGRAM].cards.notice_hold = 5.0  # the real hold is 11 s; long enough for these steps
    await send_text(client, fake_tg, "approve, undo, reject")
    card = await card_for(fake_tg, "approve, undo, reject")
    key = (MOD_CHAT, card["message_id"])
    approve, reject = (b["callback_data"] for b in buttons(card))
    press = press_update(fake_tg.next_update_id(), MOD, approve, chat_id=MOD_CHAT, message_id=key[1])
    assert await deliver(client, press) == 200
    closed = (await fake_tg.wait_for("editMessageText"))[0].params
    assert "Approved by Mod One" in closed["text"] and "Approve" not in str(closed["reply_markup"])
    [item] = (await (await client.get("/api/barrages?status=approved", headers=AUTH)).json())["items"]

    resp = await client.post(f"/api/barrages/{item['id']}/undo", json={"moderator": "Wendy"}, headers=AUTH)
    assert resp.status == 200
    reopened = (await fake_tg.wait_for("editMessageText", count=2))[1].params
    assert reopened["message_id"] == str(key[1]) and "Approved" not in reopened["text"]
    assert [b["callback_data"] for b in buttons(fake_tg.messages[key])] == [approve, reject]

    press = press_update(fake_tg.next_update_id(), MOD, reject, chat_id=MOD_CHAT, message_id=key[1])
    assert await deliver(client, press) == 200  # the same card decides again
    answers = [c.params["text"] for c in await fake_tg.wait_for("answerCallbackQuery", count=2)]
    assert answers == ["✅ Approved", "❌ Rejected"]
    final = (await fake_tg.wait_for("editMessageText", count=3))[2].params
    assert "Rejected by Mod One" in final["text"] and "reply_markup" not in fake_tg.messages[key]
    told = await replies_to(fake_tg, ANN["id"], 2)  # the receipt, then one outcome: the final one
    assert "waiting for a moderator" in told[0] and "not approved" in told[1]
    assert len(fake_tg.called("sendMessage", chat_id=MOD_CHAT)) == 1  # the card came back, not a new one


@BOTH_MODES
async def test_a_web_decision_edits_the_telegram_card(mode: str, tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(mode)
    await send_text(client, fake_tg, "decide on the web")
    card = await card_for(fake_tg, "decide on the web")
    [item] = await pending(client)
    resp = await client.post(
        f"/api/barrages/{item['id']}/approve", json={"moderator": "Web Wendy"}, headers=AUTH
    )
    assert resp.status == 200
    edit = (await fake_tg.wait_for("editMessageText"))[0].params
    assert edit["message_id"] == str(card["message_id"]) and "Approved by Web Wendy" in edit["text"]


async def test_not_modified_counts_as_done(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    fake_tg.fail("editMessageText", code=400, description="Bad Request: message is not modified")
    await send_text(client, fake_tg, "same")
    await card_for(fake_tg, "same")
    [item] = await pending(client)
    await client.post(f"/api/barrages/{item['id']}/reject", headers=AUTH)
    [first] = await fake_tg.wait_for("editMessageText")
    # Another card closed, not a pause: cards close in id order, so a retry of the first
    # edit would have come before the second's.
    await send_text(client, fake_tg, "other", message_id=2)
    await card_for(fake_tg, "other")
    [other] = [i for i in await pending(client) if i["text"] == "other"]
    await client.post(f"/api/barrages/{other['id']}/reject", headers=AUTH)
    edits = await fake_tg.wait_for("editMessageText", count=2)
    assert [e.params["message_id"] for e in edits].count(first.params["message_id"]) == 1  # not retried


async def test_mode_off_posts_no_card_and_says_on_screen(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(moderation__mode="off")
    stream = await client.get("/stream")
    await next_block(stream)
    await send_text(client, fake_tg, "pink straight up")
    event = await next_event(stream)
    assert event.data["text"] == "straight up" and event.data["color"] == "#ff77c8"
    assert "on the screen now" in (await replies_to(fake_tg, ANN["id"]))[0]
    # A later barrage, moderated, carded and decided, instead of a pause: cards and notices
    # go out in id order, so a card or a second notice for the first would have come first.
    assert (await client.put("/api/mode", json={"mode": "manual"}, headers=AUTH)).status == 200
    await send_text(client, fake_tg, "moderated now", sender=STRANGER, message_id=2)
    card = await card_for(fake_tg, "moderated now")
    [later] = await pending(client)
    assert (await client.post(f"/api/barrages/{later['id']}/approve", headers=AUTH)).status == 200
    assert "on the screen now" in (await replies_to(fake_tg, STRANGER["id"], 2))[1]
    assert [c.params["text"] for c in fake_tg.called("sendMessage", chat_id=MOD_CHAT)] == [card["text"]]
    assert len(fake_tg.called("sendMessage", chat_id=ANN["id"])) == 1  # no second notice
    stream.close()


async def test_commands_are_never_barrages(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "/start")
    await send_text(client, fake_tg, "/unknown thing", message_id=2)
    texts = await replies_to(fake_tg, ANN["id"], 2)
    assert all("goes up on the wall" in t for t in texts)
    assert "Join the wall" in texts[0]
    assert await pending(client) == []


async def test_bad_input_gets_a_reply_and_stores_nothing(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "x" * 101)
    await send_text(client, fake_tg, "/b", message_id=2)
    sticker = message_update(
        fake_tg.next_update_id(),
        ANN,
        None,
        message_id=3,
        sticker={
            "file_id": "f",
            "file_unique_id": "u",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        },
    )
    assert await deliver(client, sticker) == 200
    texts = await replies_to(fake_tg, ANN["id"], 3)
    assert any("too long" in t for t in texts)
    assert any("Add your message" in t for t in texts)
    assert any("Only text" in t for t in texts)
    assert await pending(client) == []


async def test_group_command_with_bot_mention(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    group = -5000
    await send_text(
        client, fake_tg, "/barrage@wall_bot #00f from the group", chat_id=group, chat_type="group"
    )
    await send_text(client, fake_tg, "plain group chatter", chat_id=group, chat_type="group", message_id=2)
    card = await card_for(fake_tg, "from the group")
    assert card
    [item] = await pending(client)
    assert item["color"] == "#0000ff" and item["text"] == "from the group"
    assert "waiting" in (await replies_to(fake_tg, group))[0]


async def test_operator_commands(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "waiting one")
    await card_for(fake_tg, "waiting one")
    in_mod_chat = {"chat_id": MOD_CHAT, "chat_type": "supergroup"}

    await send_text(client, fake_tg, "/stats", sender=MOD, message_id=10, **in_mod_chat)
    await send_text(client, fake_tg, "/pending", sender=MOD, message_id=11, **in_mod_chat)
    await send_text(client, fake_tg, "/mode off", sender=STRANGER, message_id=12, **in_mod_chat)
    await send_text(client, fake_tg, "/mode off", sender=MOD, message_id=13, chat_id=MOD["id"])
    await fake_tg.wait_for("sendMessage", chat_id=MOD["id"])  # refused before the next one runs
    await send_text(client, fake_tg, "/mode off", sender=MOD, message_id=14, **in_mod_chat)
    await send_text(client, fake_tg, "/whoami", sender=STRANGER, message_id=15, chat_id=STRANGER["id"])

    mod_texts = await replies_to(fake_tg, MOD_CHAT, 6)
    assert any("Pending: 1" in t and "Mode: manual" in t for t in mod_texts)
    assert any("Re-posting 1 waiting" in t for t in mod_texts)
    assert sum("for moderators" in t for t in mod_texts) == 1
    assert any("now off" in t for t in mod_texts)
    assert len([t for t in mod_texts if "waiting one" in t]) == 2  # the card, re-posted
    assert "for moderators" in (await replies_to(fake_tg, MOD["id"]))[0]
    assert (await (await client.get("/api/mode", headers=AUTH)).json())["mode"] == "off"
    whoami = (await replies_to(fake_tg, STRANGER["id"]))[0]
    assert f"Chat id: {STRANGER['id']}" in whoami and f"user id: {STRANGER['id']}" in whoami


async def test_chat_admins_decide_when_no_list_is_set(tg_client, fake_tg: FakeTelegram) -> None:
    fake_tg.admins = [admin(MOD2, owner=True), admin(MOD)]
    client = await tg_client(telegram__moderators=[])
    await send_text(client, fake_tg, "admins only")
    card = await card_for(fake_tg, "admins only")
    for who in (STRANGER, MOD2):
        press = press_update(
            fake_tg.next_update_id(),
            who,
            buttons(card)[0]["callback_data"],
            chat_id=MOD_CHAT,
            message_id=card["message_id"],
        )
        assert await deliver(client, press) == 200
    answers = [c.params["text"] for c in await fake_tg.wait_for("answerCallbackQuery", count=2)]
    assert "Only moderators" in answers[0] and "Approved" in answers[1]
    assert len(fake_tg.called("getChatAdministrators")) == 1  # cached


async def test_polling_mode_full_flow(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(mode="polling")
    assert fake_tg.called("deleteWebhook")
    assert (await client.post("/telegram/webhook", json={}, headers=HOOK)).status in (404, 405)
    stream = await client.get("/stream")
    await next_block(stream)
    await fake_tg.push_update(message_update(fake_tg.next_update_id(), ANN, "polled hello"))
    card = await card_for(fake_tg, "polled hello")
    await fake_tg.push_update(
        press_update(
            fake_tg.next_update_id(),
            MOD,
            buttons(card)[0]["callback_data"],
            chat_id=MOD_CHAT,
            message_id=card["message_id"],
        )
    )
    pressed = time.perf_counter()
    event = await next_event(stream)
    print(f"\npolling: press -> SSE receipt: {(time.perf_counter() - pressed) * 1000:.1f} ms")
    assert event.data["source"] == "telegram" and event.data["text"] == "polled hello"
    await fake_tg.wait_for("editMessageText")
    stream.close()


async def test_telegram_outage_never_blocks_the_web(fake_tg: FakeTelegram, make_client) -> None:
    fake_tg.fail("getMe", times=2, code=502, description="Bad Gateway")
    client = await make_client(
        telegram__enabled=True,
        telegram__token=TOKEN,
        telegram__mode="webhook",
        telegram__webhook_secret=SECRET,
        telegram__api_base_url=fake_tg.base_url,
        telegram__moderator_chat_id=MOD_CHAT,
        telegram__moderators=[MODERATOR],
        server__public_url="https://wall.example.org",
    )
    assert not client.app[TELEGRAM].ready.is_set()
    for i in range(7):
        resp = await client.post("/api/barrages", json={"text": f"web still works {i}"})
        assert resp.status == 201
    assert await deliver(client, message_update(fake_tg.next_update_id(), ANN, "early")) == 503
    await asyncio.wait_for(client.app[TELEGRAM].ready.wait(), 15)
    # the backlog gets its cards once connected, and the first says how far behind they are
    first = await card_for(fake_tg, "web still works 0")
    assert "6 more waiting — use /moderate" in first["text"]
    await card_for(fake_tg, "web still works 6")


async def test_a_long_profile_name_is_shortened_not_refused(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    longname = user(2002, "Bartholomew-Alexander", "Fitzgerald-Montgomery-Smythe")
    await send_text(client, fake_tg, "hello from a long name", sender=longname)
    await card_for(fake_tg, "hello from a long name")
    [item] = await pending(client)
    assert item["author"] == "Bartholomew-Alexander Fitzgerald"[:32]


async def test_an_encoded_update_is_415(tg_client, fake_tg: FakeTelegram, caplog) -> None:
    client = await tg_client()
    update = message_update(fake_tg.next_update_id(), ANN, "squeezed")
    headers = {**HOOK, "Content-Encoding": "deflate"}
    resp = await client.post("/telegram/webhook", json=update, headers=headers)
    assert resp.status == 415
    assert not [r for r in caplog.records if r.exc_info] and await pending(client) == []


async def telegram_connected(client: TestClient, expected: bool) -> None:
    """Until /healthz says `telegram_connected: expected`."""
    for _ in range(1000):
        if (await (await client.get("/healthz")).json())["telegram_connected"] is expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"telegram_connected never became {expected}")


async def test_health_follows_the_bot_api_going_away_and_coming_back(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client("polling")
    await telegram_connected(client, True)
    fake_tg.fail("getUpdates", times=2, code=502, description="Bad Gateway")
    await telegram_connected(client, False)  # polling fails: the health says so
    await telegram_connected(client, True)  # and comes back with the next good answer
    await send_text(client, fake_tg, "after the outage")  # polling delivers again
    await card_for(fake_tg, "after the outage")


async def test_a_sender_hears_whether_a_screen_shows_their_room(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    await send_text(client, fake_tg, "anyone there?")
    [alone] = await replies_to(fake_tg, ANN["id"])
    assert "waiting for a moderator" in alone and "saved; no screen is showing right now" in alone
    stream = await client.get("/stream")
    await wait_for_screens(client, 1)
    await send_text(client, fake_tg, "now with a screen", message_id=2)
    watched = (await replies_to(fake_tg, ANN["id"], 2))[1]
    assert "waiting for a moderator" in watched and "no screen" not in watched
    await client.post("/api/rooms", json={"slug": "hall-b"}, headers=AUTH)
    in_mod_chat = {"chat_id": MOD_CHAT, "chat_type": "supergroup"}
    await send_text(client, fake_tg, "/stats", sender=MOD, message_id=10, **in_mod_chat)
    [stats] = [t for t in await replies_to(fake_tg, MOD_CHAT, 3) if "Mode:" in t]  # after "Room: all rooms"
    assert "Screens: 1 (main 1, hall-b 0)" in stats
    stream.close()
