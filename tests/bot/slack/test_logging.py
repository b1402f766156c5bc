"""No secret and no participant's text in the log, at DEBUG, across the whole Slack flow."""

from __future__ import annotations

import asyncio

from bot.slack.handlers import describe
from server.logs import secrets_of
from server.web.keys import CONFIG
from tests.bot.slack.conftest import (
    ANN,
    APP_TOKEN,
    BOT_TOKEN,
    MOD,
    SIGNING_SECRET,
    command_answer,
    command_body,
    event_body,
    post_event,
    post_press,
    press_payload,
)
from tests.bot.slack.test_channel import buttons, card_for
from tests.conftest import ADMIN_TOKEN, AUTH, CapturedLog
from tests.fakes.slack_api import FakeSlack

PRIVATE = "Okapi-sentinel confidential words"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, ADMIN_TOKEN)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret
    assert "Okapi" not in text and "Ann Lee" not in text
    assert "[redacted]" not in text  # nothing leaked as far as the second line of defence


async def test_http_flow_at_debug_logs_no_secret_and_no_text(
    debug_log: CapturedLog, slack_client, fake_slack: FakeSlack
) -> None:
    client = await slack_client()
    assert debug_log.redactor is not None
    debug_log.redactor.add(secrets_of(client.app[CONFIG]))
    assert "waiting" in await command_answer(client, fake_slack, command_body(PRIVATE))
    ts, card = await card_for(fake_slack, PRIVATE)
    approve = buttons(card)[0]
    press = press_payload(MOD, approve["action_id"], approve["value"], fake_slack.response_url(), ts)
    assert await post_press(client, press) == 200
    await fake_slack.wait_for("chat.postMessage", channel=ANN)  # the sender's DM quotes the text
    dm = {"type": "message", "channel": "DANN", "user": ANN, "text": PRIVATE + " again",
          "ts": "400.000001", "channel_type": "im", "event_ts": "400.000001"}
    assert await post_event(client, event_body(dm, "EvLog")) == 200
    await fake_slack.wait_for("chat.postMessage", channel="DANN")
    assert (await client.post("/slack/events", data="token=x", headers={
        "Content-Type": "application/x-www-form-urlencoded"})).status == 401
    assert (await client.get("/api/barrages", headers=AUTH)).status == 200
    await client.close()
    assert_clean(debug_log.text())


async def test_socket_mode_flow_at_debug_logs_no_secret_and_no_text(
    debug_log: CapturedLog, slack_client, fake_slack: FakeSlack
) -> None:
    client = await slack_client(mode="socket", slack__signing_secret="")
    assert debug_log.redactor is not None
    debug_log.redactor.add(secrets_of(client.app[CONFIG]))
    await fake_slack.wait_for_socket()
    body = command_body(PRIVATE, response_url=fake_slack.response_url("log"))
    await fake_slack.envelope("slash_commands", body, "env-log-1")
    assert "waiting" in (await fake_slack.answer_at("log"))["text"]
    ts, card = await card_for(fake_slack, PRIVATE)
    approve = buttons(card)[0]
    press = press_payload(MOD, approve["action_id"], approve["value"], fake_slack.response_url(), ts)
    await fake_slack.envelope("interactive", press, "env-log-2")
    await fake_slack.wait_for("chat.postMessage", channel=ANN)
    await fake_slack.ask_to_reconnect()
    await fake_slack.wait_for_socket(count=2)
    await asyncio.sleep(0)  # let the reconnect's own log lines out
    await client.close()
    assert_clean(debug_log.text())


def test_bodies_are_described_by_kind_and_id() -> None:
    dm = {"type": "message", "text": PRIVATE, "user": ANN}
    assert describe(event_body(dm, "Ev9")) == "event_callback message Ev9"
    assert describe(command_body(PRIVATE)) == "/barrage trig-1"
    assert describe(None) == "NoneType"
