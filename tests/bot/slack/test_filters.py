"""Each mode over Slack (signed requests into the real Bolt app, the fake Web API): what the
sender is told, what the card shows (the filter's flags), what reaches the screen stream;
`/barrage-admin mode auto`."""

from __future__ import annotations

import json

import pytest

from tests.bot.filter_cases import TEXTS, TOLD
from tests.bot.slack.conftest import MOD, MOD_CHANNEL, command_answer, command_body
from tests.bot.slack.test_channel import card_for
from tests.conftest import AUTH
from tests.fakes.slack_api import FakeSlack
from tests.sse import next_block, next_event


@pytest.mark.parametrize("mode", list(TOLD))
async def test_each_mode_over_slack(mode: str, slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client(moderation__mode=mode)
    for rule in ({"pattern": "cunt"}, {"pattern": "spam", "action": "review"}):
        assert (await client.post("/api/filters", json=rule, headers=AUTH)).status == 201
    stream = await client.get("/stream")
    await next_block(stream)
    for n, text in enumerate(TEXTS):
        told = await command_answer(client, fake_slack, command_body(text, trigger=f"t{n}"))
        assert told.startswith(TOLD[mode][n]), (text, told)
        assert "cunt" not in told.lower()
    if mode != "off":  # cards for what waits, with what the filter saw
        spam_card = (await card_for(fake_slack, "buy spam"))[1]
        assert "⚠ rule 2" in json.dumps(spam_card["blocks"], ensure_ascii=False)
        link_card = (await card_for(fake_slack, "see www.example.com"))[1]
        assert "⚠ link" in json.dumps(link_card["blocks"], ensure_ascii=False)
    await command_answer(client, fake_slack, command_body("the end", trigger="t-end"))
    listed = await (await client.get("/api/barrages", headers=AUTH)).json()
    end = next(item for item in listed["items"] if item["text"] == "the end")
    if end["status"] == "pending":
        await client.post(f"/api/barrages/{end['id']}/approve", headers=AUTH)
    flying = {"off": TEXTS[1:], "auto": ["hello"], "manual": []}[mode]
    assert [(await next_event(stream)).data["text"] for _ in range(len(flying) + 1)] == [*flying, "the end"]
    cards = [json.dumps(m, ensure_ascii=False) for (channel, _), m in fake_slack.messages.items()
             if channel == MOD_CHANNEL]
    assert not any("C.U.N.T" in card for card in cards)  # a blocked one has no card
    stream.close()


async def test_mode_auto_from_barrage_admin(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    body = command_body("mode auto", user=MOD, command="/barrage-admin", trigger="t-mode")
    assert "now auto: the filter decides" in await command_answer(client, fake_slack, body)
    assert (await (await client.get("/api/mode", headers=AUTH)).json())["mode"] == "auto"
