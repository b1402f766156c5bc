"""/metrics with Slack on: the real slack-bolt app, signed requests, the fake Web API."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.bot.slack.conftest import MOD, command_body, post_command, post_press, press_payload
from tests.bot.slack.test_channel import buttons, card_for
from tests.fakes.slack_api import FakeSlack
from tests.metrics_scrape import Scrape


async def scrape(client: TestClient) -> Scrape:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return Scrape.parse(await resp.text())


async def test_a_slack_submission_decision_and_retry(slack_client, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limited["chat.postMessage"] = 1
    client = await slack_client(metrics__enabled=True)
    assert (await scrape(client)).value("barrage_outbound_queue", platform="slack") == 0
    assert (await post_command(client, command_body("counted")))[0] == 200
    ts, card = await card_for(fake_slack, "counted")  # posted after one 429
    approve = buttons(card)[0]
    assert await post_press(client, press_payload(MOD, approve["action_id"], approve["value"],
                                                  fake_slack.response_url(), ts)) == 200
    await fake_slack.wait_for("chat.update")
    found = await scrape(client)
    assert found.value("barrage_submissions_total", source="slack", outcome="accepted") == 1
    assert found.value("barrage_decisions_total", verdict="approve", via="slack") == 1
    assert found.value("barrage_platform_retries_total", platform="slack") == 1
    assert found.value("barrage_platform_retries_total", platform="telegram") is None  # not enabled
