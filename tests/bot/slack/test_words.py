"""`/barrage-admin block` and `unblock` (signed slash commands into the real Bolt app): the rule they
add or remove, what a sender of the word is told, refusals and bad input."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.bot.slack.conftest import STRANGER, command_answer, command_body
from tests.bot.slack.test_controls import admin
from tests.conftest import AUTH
from tests.fakes.slack_api import FakeSlack


async def rules(client: TestClient) -> list[tuple[str, str, str]]:
    listed = (await (await client.get("/api/filters", headers=AUTH)).json())["rules"]
    return [(rule["pattern"], rule["kind"], rule["action"]) for rule in listed]


async def test_block_then_unblock_a_phrase(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client(moderation__mode="off")

    async def run(text: str) -> str:
        return await command_answer(client, fake_slack, admin(text))

    said = await run("block  Bad <Word> ")
    assert said == "🚫 “Bad &lt;Word&gt;” is blocked now, in every room and mode (rule 1)."
    assert await rules(client) == [("Bad <Word>", "word", "block")]
    assert "already blocked (rule 1)" in await run("BLOCK b.a.d w0rd")
    told = await command_answer(client, fake_slack, command_body("such a BAD-WORD here", trigger="s1"))
    assert told == "❌ Not approved: blocked word."

    assert await run("unblock badword") == "✅ “badword” is no longer blocked: removed 1 rule (1)."
    assert await rules(client) == []
    told = await command_answer(client, fake_slack, command_body("such a BAD-WORD again", trigger="s2"))
    assert told.startswith("✅")
    assert await run("unblock badword") == "No block rule for “badword” found; nothing removed."


async def test_bad_input_is_answered(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()

    async def run(text: str) -> str:
        return await command_answer(client, fake_slack, admin(text))

    how = ("`/barrage-admin block &lt;word or phrase&gt;` refuses it in every room; "
           "`/barrage-admin unblock &lt;word&gt;` lifts that.")
    assert await run("block") == await run("unblock  ") == f"⚠️ Which word? {how}"
    assert (await run("block " + "x" * 201)).startswith("⚠️ Pattern and note must be at most 200")
    assert (await run("block -- !!")).startswith("⚠️ Pattern has no letter or digit to match")
    assert (await run("unblock ?")).startswith("⚠️ Pattern has no letter or digit to match")
    assert await rules(client) == []


async def test_non_moderators_are_refused(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    assert (await client.post("/api/filters", json={"pattern": "bad"}, headers=AUTH)).status == 201
    for text in ("block worse", "unblock bad"):
        said = await command_answer(client, fake_slack, admin(text, user=STRANGER))
        assert said == "`/barrage-admin` is for moderators."
    assert await rules(client) == [("bad", "word", "block")]


async def test_the_usage_names_block_and_unblock(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    usage = await command_answer(client, fake_slack, admin("help"))
    assert "`block &lt;word&gt;`, `unblock &lt;word&gt;`" in usage
