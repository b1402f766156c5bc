from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from slack_sdk.signature import SignatureVerifier

from server.app import SLACK
from tests.conftest import ClientFactory
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlack, slack_escaped, slack_user

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "signing-secret-for-tests"
APP_TOKEN = "xapp-1-test"
MOD_CHANNEL = "CMODS"
ANN, MOD, MOD2, STRANGER = "UANN", "UMOD", "UMOD2", "UEVE"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    fake.users = {ANN: slack_user(ANN, "Ann Lee", "Ann Lee-Smith"), MOD: slack_user(MOD, "Mod One"),
                  MOD2: slack_user(MOD2, "Mod Two"), STRANGER: slack_user(STRANGER, "eve")}
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def slack_client(fake_slack: FakeSlack, make_client: ClientFactory):  # fake first: it outlives the app
    async def factory(mode: str = "http", **overrides: Any) -> TestClient:
        settings = {
            "slack__enabled": True, "slack__bot_token": BOT_TOKEN, "slack__signing_secret": SIGNING_SECRET,
            "slack__mode": mode, "slack__app_token": APP_TOKEN, "slack__api_base_url": fake_slack.api_url,
            "slack__moderation_channel": MOD_CHANNEL, "slack__moderators": [MOD, MOD2],
            "slack__socket_ping_seconds": 1, **overrides,
        }
        client = await make_client(**settings)
        client.app[SLACK].cards.notice_hold = 0  # no undo in these tests: tell senders at once
        return client

    return factory


def signed(body: str, content_type: str, secret: str = SIGNING_SECRET, age: int = 0,
           **headers: str) -> dict[str, str]:
    timestamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
            "Content-Type": content_type, **headers}


def command_body(text: str, user: str = ANN, command: str = "/barrage", trigger: str = "trig-1",
                 response_url: str = "", channel: str = "CGENERAL", markup: str = "") -> dict[str, str]:
    """`text` as typed (sent escaped, as Slack does), after `markup`: Slack's own, sent as is."""
    return {"token": "x", "team_id": TEAM_ID, "team_domain": "fake", "channel_id": channel,
            "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": command,
            "text": markup + slack_escaped(text), "api_app_id": "A0001", "response_url": response_url,
            "trigger_id": trigger}


def event_body(event: dict[str, Any], event_id: str, markup: str = "") -> dict[str, Any]:
    """The event's `text` as typed (sent escaped, as Slack does), after `markup` (sent as is)."""
    if "text" in event:
        event = dict(event, text=markup + slack_escaped(event["text"]))
    return {"token": "x", "team_id": TEAM_ID, "api_app_id": "A0001", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}]}


def press_payload(user: str, action_id: str, value: str, response_url: str,
                  ts: str = "1.000001") -> dict[str, Any]:
    return {
        "type": "block_actions", "token": "x", "api_app_id": "A0001", "trigger_id": "t-press",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "team": {"id": TEAM_ID, "domain": "fake"}, "channel": {"id": MOD_CHANNEL, "name": "mods"},
        "container": {"type": "message", "message_ts": ts, "channel_id": MOD_CHANNEL, "is_ephemeral": False},
        "message": {"ts": ts, "type": "message", "text": "card"}, "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "barrage_decide", "value": value,
                     "type": "button", "action_ts": "1"}],
    }


async def post_command(client: TestClient, body: dict[str, str]) -> tuple[int, Any]:
    raw = urlencode(body)
    resp = await client.post("/slack/events", data=raw,
                             headers=signed(raw, "application/x-www-form-urlencoded"))
    return resp.status, (await resp.json() if resp.content_type == "application/json" else await resp.text())


async def command_answer(client: TestClient, fake: FakeSlack, body: dict[str, str]) -> str:
    """Send a slash command; its ack is immediate ("⏳ …"), the answer comes at its response_url."""
    name = f"cmd-{secrets.token_hex(6)}"
    status, ack = await post_command(client, dict(body, response_url=fake.response_url(name)))
    assert status == 200 and ack["text"].startswith("⏳"), ack
    answer = await fake.answer_at(name)
    assert answer["response_type"] == "ephemeral"
    return answer["text"]


async def post_event(client: TestClient, body: dict[str, Any], **headers: str) -> int:
    raw = json.dumps(body)
    resp = await client.post("/slack/events", data=raw, headers=signed(raw, "application/json", **headers))
    return resp.status


async def post_press(client: TestClient, payload: dict[str, Any]) -> int:
    raw = urlencode({"payload": json.dumps(payload)})
    resp = await client.post("/slack/events", data=raw,
                             headers=signed(raw, "application/x-www-form-urlencoded"))
    return resp.status
