"""/block and /unblock from the moderators' chat (the fake Bot API): the rule they add or remove,
what a sender of the word is told, refusals and bad input."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.bot.telegram.test_channel import ANN, STRANGER, replies_to, send_text
from tests.bot.telegram.test_controls import answer
from tests.conftest import AUTH
from tests.fakes.telegram_api import FakeTelegram


async def rules(client: TestClient) -> list[tuple[str, str, str]]:
    listed = (await (await client.get("/api/filters", headers=AUTH)).json())["rules"]
    return [(rule["pattern"], rule["kind"], rule["action"]) for rule in listed]


async def test_block_then_unblock_a_phrase(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client(moderation__mode="off")
    said = await answer(client, fake_tg, "/block   Bad Word  ", 1)
    assert said == "🚫 “Bad Word” is blocked now, in every room and mode (rule 1)."
    assert await rules(client) == [("Bad Word", "word", "block")]
    # The same word, written otherwise, is the same rule: not added twice.
    assert "already blocked (rule 1)" in await answer(client, fake_tg, "/block b.a.d W0RD", 2)
    assert await rules(client) == [("Bad Word", "word", "block")]

    await send_text(client, fake_tg, "such a BAD-WORD here", message_id=1)
    assert (await replies_to(fake_tg, ANN["id"], 1))[-1] == "❌ Not approved: blocked word."

    said = await answer(client, fake_tg, "/unblock badword", 3)
    assert said == "✅ “badword” is no longer blocked: removed 1 rule (1)."
    assert await rules(client) == []
    await send_text(client, fake_tg, "such a BAD-WORD again", message_id=2)
    assert (await replies_to(fake_tg, ANN["id"], 2))[-1].startswith("✅")
    assert await answer(client, fake_tg, "/unblock badword", 4) == (
        "No block rule for “badword” found; nothing removed.")


async def test_unblock_removes_every_block_rule_of_the_word_and_nothing_else(
    tg_client, fake_tg: FakeTelegram
) -> None:
    client = await tg_client()
    for rule in ({"pattern": "spam"}, {"pattern": "S P A M"}, {"pattern": "spam", "action": "review"},
                 {"pattern": "spa[m]", "kind": "regex"}, {"pattern": "spammer"}):
        assert (await client.post("/api/filters", json=rule, headers=AUTH)).status == 201
    said = await answer(client, fake_tg, "/unblock Spam", 1)
    assert said == "✅ “Spam” is no longer blocked: removed 2 rules (1, 2)."
    assert await rules(client) == [("spam", "word", "review"), ("spa[m]", "regex", "block"),
                                   ("spammer", "word", "block")]


async def test_bad_input_is_answered(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    texts = ["/block", "/unblock   ", "/block " + "x" * 201, "/block ...!!", "/unblock ~~~",
             "/block a\u200bb"]
    said = {text: await answer(client, fake_tg, text, n) for n, text in enumerate(texts, 1)}
    assert said["/block"] == said["/unblock   "] == (
        "⚠️ Which word? /block <word or phrase> refuses it in every room; /unblock <word> lifts that.")
    assert said["/block " + "x" * 201].startswith("⚠️ Pattern and note must be at most 200 characters.")
    assert said["/block ...!!"].startswith("⚠️ Pattern has no letter or digit to match")
    assert said["/unblock ~~~"].startswith("⚠️ Pattern has no letter or digit to match")
    assert said["/block a\u200bb"].startswith("⚠️ Pattern must be printable")
    assert await rules(client) == []


async def test_non_moderators_are_refused(tg_client, fake_tg: FakeTelegram) -> None:
    client = await tg_client()
    assert (await client.post("/api/filters", json={"pattern": "bad"}, headers=AUTH)).status == 201
    assert "for moderators" in await answer(client, fake_tg, "/block worse", 1, sender=STRANGER)
    assert "for moderators" in await answer(client, fake_tg, "/unblock bad", 2, sender=STRANGER)
    in_private = {"chat_id": ANN["id"], "chat_type": "private"}
    assert "for moderators" in await answer(client, fake_tg, "/block worse", 1, sender=ANN, where=in_private)
    assert await rules(client) == [("bad", "word", "block")]
