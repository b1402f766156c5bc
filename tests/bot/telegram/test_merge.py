"""×N merging over Telegram (the fake Bot API): a crowd repeating itself is one card."""

from __future__ import annotations

import asyncio

from server.app import STORE
from server.core.model import EventKind, Status
from tests.bot.telegram.conftest import MOD_CHAT, MODERATOR
from tests.bot.telegram.test_channel import buttons, deliver, pending, send_text
from tests.conftest import AUTH
from tests.fakes.telegram_api import FakeTelegram, press_update, user

CROWD = 200
MOD = user(MODERATOR, "Mod", "One")


def card_text(fake: FakeTelegram) -> list[str]:
    return [m["text"] for (chat, _), m in sorted(fake.messages.items()) if chat == MOD_CHAT]


async def wait_for_card_saying(fake: FakeTelegram, words: str) -> dict:
    for _ in range(3000):  # a bound on a hang (the machine may be busy), not a timing claim
        cards = [m for (chat, _), m in sorted(fake.messages.items()) if chat == MOD_CHAT]
        if cards and words in cards[-1]["text"]:
            return cards[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no card saying {words!r}: {card_text(fake)}")


async def test_200_senders_of_one_text_make_one_card_x200_and_all_hear_the_verdict(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client()
    senders = [user(5000 + i, f"Guest{i}") for i in range(CROWD)]
    # Case, spacing and punctuation differ: the normalised text is the same.
    texts = ["Happy New Year!", "happy new year", "HAPPY  NEW  YEAR!!!", "Happy New-Year"]
    await asyncio.gather(*(send_text(client, fake_tg, texts[i % len(texts)], sender=s, message_id=i + 1)
                           for i, s in enumerate(senders)))
    card = await wait_for_card_saying(fake_tg, f"×{CROWD} senders")
    assert len(fake_tg.called("sendMessage", chat_id=MOD_CHAT)) == 1  # one card, edited as it grew
    [item] = await pending(client)
    assert item["count"] == CROWD and item["merged_into"] is None

    approve = buttons(card)[0]["callback_data"]
    message_id = card["message_id"]
    press = press_update(fake_tg.next_update_id(), MOD, approve, chat_id=MOD_CHAT, message_id=message_id)
    assert await deliver(client, press) == 200
    for s in senders:  # each sender: the receipt, then the verdict
        told = [c.params["text"] for c in await fake_tg.wait_for("sendMessage", count=2, chat_id=s["id"])]
        assert "waiting for a moderator" in told[0] and "on the screen now" in told[1]
    approved = (await (await client.get("/api/barrages?status=approved", headers=AUTH)).json())["items"]
    assert len(approved) == CROWD
    flown = await client.app[STORE].events_after(0, (EventKind.BARRAGE,), 1000)
    assert [e.payload["id"] for e in flown] == [item["id"]]  # approval flies it once
    assert flown[0].payload["count"] == CROWD
    assert await client.app[STORE].count(Status.PENDING) == 0
