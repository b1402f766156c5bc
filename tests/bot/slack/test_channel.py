"""The real slack-bolt app, signed requests over HTTP and Socket Mode, against the fake Slack."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from bot.messages import BARRAGE_GONE, BUTTON_GONE
from tests.bot.slack.conftest import (
    ANN,
    MOD,
    MOD2,
    MOD_CHANNEL,
    STRANGER,
    command_answer,
    command_body,
    event_body,
    post_command,
    post_event,
    post_press,
    press_payload,
    signed,
)
from tests.conftest import AUTH
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.sse import next_block, next_event


async def pending(client: TestClient) -> list[dict]:
    return (await (await client.get("/api/barrages?status=pending", headers=AUTH)).json())["items"]


async def card_for(fake: FakeSlack, text: str) -> tuple[str, dict]:
    for _ in range(500):
        for (channel, ts), message in sorted(fake.messages.items()):
            if channel == MOD_CHANNEL and message.get("blocks") and f"“{text}”" in json.dumps(
                    message["blocks"], ensure_ascii=False):
                return ts, message
        await asyncio.sleep(0.02)
    raise AssertionError(f"no card for {text!r}: {fake.messages}")


def buttons(card: dict) -> list[dict]:
    return next(b for b in card["blocks"] if b["type"] == "actions")["elements"]


async def test_full_flow_command_card_press_stream_sender(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    stream = await client.get("/stream")
    await next_block(stream)

    reply = await command_answer(client, fake_slack, command_body("Hello from Slack"))
    assert "waiting for a moderator" in reply
    ts, card = await card_for(fake_slack, "Hello from Slack")
    assert "from Ann Lee" in json.dumps(card["blocks"]), card["blocks"][1]
    approve, reject = buttons(card)
    assert "Approve" in approve["text"]["text"] and approve["style"] == "primary"
    assert "Reject" in reject["text"]["text"] and reject["style"] == "danger"
    [item] = await pending(client)
    assert approve["value"] == str(item["id"])

    press = press_payload(MOD, approve["action_id"], approve["value"], fake_slack.response_url(), ts)
    assert await post_press(client, press) == 200
    event = await next_event(stream)
    assert event.data["source"] == "slack" and event.data["author"] == "Ann Lee"
    update = (await fake_slack.wait_for("chat.update"))[0].params
    assert update["ts"] == ts and update["channel"] == MOD_CHANNEL
    assert "Approved by Mod One" in json.dumps(update["blocks"], ensure_ascii=False)
    [remove] = buttons(update)  # only "Remove from screen" is left
    assert remove["text"]["text"] == "🗑 Remove from screen" and remove["value"] == approve["value"]
    dm = (await fake_slack.wait_for("chat.postMessage", channel=ANN))[0].params
    assert "on the screen now" in dm["text"]
    stream.close()


async def test_remove_from_screen_after_approval(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    stream = await client.get("/stream")
    await post_command(client, command_body("regret this"))
    ts, _ = await card_for(fake_slack, "regret this")
    [item] = await pending(client)
    await client.post(f"/api/barrages/{item['id']}/approve", json={"moderator": "Wendy"}, headers=AUTH)
    [remove] = buttons((await fake_slack.wait_for("chat.update", ts=ts))[0].params)
    for who in (STRANGER, MOD2):  # the stranger is refused; the moderator's press is the signal
        press = press_payload(who, remove["action_id"], remove["value"], fake_slack.response_url(), ts)
        assert await post_press(client, press) == 200
    assert (await next_event(stream)).event == "barrage"
    gone = await next_event(stream)
    assert (gone.event, gone.data) == ("retract", {"id": item["id"]})
    [refused] = await fake_slack.wait_for_response()
    assert refused["text"] == "Only moderators can decide."
    removed = (await fake_slack.wait_for("chat.update", count=2, ts=ts))[1].params
    assert "🗑 Removed by Mod Two" in json.dumps(removed["blocks"], ensure_ascii=False)
    assert all(b["type"] != "actions" for b in removed["blocks"])
    stream.close()


async def test_dm_and_mention_are_barrages(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client(moderation__mode="off")
    dm = {"type": "message", "channel": "DANN", "user": ANN, "text": "#pink via DM: Q&A <soon> &amp;",
          "ts": "100.000001", "channel_type": "im", "event_ts": "100.000001"}
    mention = {"type": "app_mention", "channel": "CGENERAL", "user": ANN,
               "text": "via mention & co", "ts": "100.000002", "event_ts": "100.000002"}
    assert await post_event(client, event_body(dm, "Ev1")) == 200
    assert await post_event(client, event_body(mention, "Ev2", markup=f"<@{BOT_USER_ID}> ")) == 200
    # Approved, but no screen is open: the sender is told so (presence).
    reply = (await fake_slack.wait_for("chat.postMessage", channel="DANN"))[0].params
    assert "saved; no screen is showing right now" in reply["text"]
    eph = (await fake_slack.wait_for("chat.postEphemeral", channel="CGENERAL"))[0].params
    assert eph["user"] == ANN and "saved; no screen is showing right now" in eph["text"]
    items = (await (await client.get("/api/barrages?status=approved", headers=AUTH)).json())["items"]
    assert sorted((i["text"], i["color"], i["source"]) for i in items) == [
        ("via DM: Q&A <soon> &amp;", "#ff77c8", "slack"), ("via mention & co", "#ffffff", "slack")]


async def test_slacks_markup_in_a_dm_reaches_the_wall_as_it_reads(
    slack_client, fake_slack: FakeSlack
) -> None:
    client = await slack_client(moderation__mode="off")
    dm = {"type": "message", "channel": "DANN", "user": ANN, "text": " & co, see you <there>",
          "ts": "110.000001", "channel_type": "im", "event_ts": "110.000001"}
    markup = "<@U2|bob> <!here> <https://x.org/?a=1&amp;b=2|x.org> <#C1|general>"
    assert await post_event(client, event_body(dm, "EvMarkup", markup=markup)) == 200
    await fake_slack.wait_for("chat.postMessage", channel="DANN")
    [item] = (await (await client.get("/api/barrages?status=approved", headers=AUTH)).json())["items"]
    assert item["text"] == "@bob @here x.org #general & co, see you <there>"


async def test_non_moderator_press_changes_nothing(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    await post_command(client, command_body("pick me"))
    ts, card = await card_for(fake_slack, "pick me")
    approve = buttons(card)[0]
    press = press_payload(STRANGER, approve["action_id"], approve["value"], fake_slack.response_url(), ts)
    assert await post_press(client, press) == 200
    [response] = await fake_slack.wait_for_response()
    assert response["text"] == "Only moderators can decide." and response["response_type"] == "ephemeral"
    assert len(await pending(client)) == 1 and fake_slack.called("chat.update") == []


async def test_forged_button_value_is_refused(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    await post_command(client, command_body("target"))
    await card_for(fake_slack, "target")
    for value in ("999", "DROP TABLE", "-1"):
        press = press_payload(MOD, "barrage_approve", value, fake_slack.response_url())
        assert await post_press(client, press) == 200
    responses = await fake_slack.wait_for_response(3)
    assert {r["text"] for r in responses} == {BARRAGE_GONE, BUTTON_GONE}
    assert len(await pending(client)) == 1


async def test_bad_and_stale_signatures_are_401(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    raw = urlencode(command_body("sneaky"))
    form = "application/x-www-form-urlencoded"
    for headers in (signed(raw, form, secret="wrong"), signed(raw, form, age=600), {"Content-Type": form}):
        resp = await client.post("/slack/events", data=raw, headers=headers)
        assert resp.status == 401
    assert await pending(client) == []


async def test_url_verification_challenge(slack_client) -> None:
    client = await slack_client()
    raw = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"})
    resp = await client.post("/slack/events", data=raw, headers=signed(raw, "application/json"))
    assert resp.status == 200 and "abc123" in await resp.text()


async def test_a_retried_event_makes_one_barrage(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    dm = {"type": "message", "channel": "DANN", "user": ANN, "text": "once please",
          "ts": "200.000001", "channel_type": "im", "event_ts": "200.000001"}
    assert await post_event(client, event_body(dm, "EvR")) == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert await post_event(client, event_body(dm, "EvR"), **retry) == 200
    await card_for(fake_slack, "once please")
    # A later DM, fully handled (reply and card), instead of a pause: cards are posted in id
    # order, so a card or reply for the retry would have come first.
    later = {"type": "message", "channel": "DEVE", "user": STRANGER, "text": "a later one",
             "ts": "200.000002", "channel_type": "im", "event_ts": "200.000002"}
    assert await post_event(client, event_body(later, "EvLater")) == 200
    await fake_slack.wait_for("chat.postMessage", channel="DEVE")
    await card_for(fake_slack, "a later one")
    assert [i["text"] for i in await pending(client)] == ["once please", "a later one"]
    assert len(fake_slack.called("chat.postMessage", channel="DANN")) == 1
    assert len(fake_slack.called("chat.postMessage", channel=MOD_CHANNEL)) == 2


async def test_a_double_submitted_command_makes_one_barrage(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    body = command_body("double enter", trigger="same-trigger")
    replies = await asyncio.gather(command_answer(client, fake_slack, body),
                                   command_answer(client, fake_slack, body))
    assert all("waiting for a moderator" in reply for reply in replies)  # both answered, once stored
    assert len(await pending(client)) == 1


async def test_429_on_card_is_retried(slack_client, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limited["chat.postMessage"] = 1
    client = await slack_client()
    await post_command(client, command_body("limited"))
    await card_for(fake_slack, "limited")
    assert len(fake_slack.called("chat.postMessage", channel=MOD_CHANNEL)) == 2  # 429, then the card
    assert len([m for (c, _), m in fake_slack.messages.items() if c == MOD_CHANNEL]) == 1


async def test_bad_input_gets_an_ephemeral_and_stores_nothing(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    status, reply = await post_command(client, command_body(""))
    assert status == 200 and "Add your message" in reply["text"]  # no slow call: in the ack
    for text in ("x" * 101, "#00ff00 \u202e\u2066", "\u200b\u3164"):
        answer = await command_answer(client, fake_slack, command_body(text, trigger=f"t{len(text)}"))
        assert "Not sent" in answer
    assert await pending(client) == []


async def test_admin_command(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    await post_command(client, command_body("waiting one"))
    await card_for(fake_slack, "waiting one")
    def admin(text: str, user: str = MOD) -> dict[str, str]:
        return command_body(text, user=user, command="/barrage-admin", trigger=f"t-{text}-{user}")

    assert "for moderators" in await command_answer(client, fake_slack, admin("mode off", STRANGER))
    assert "Pending: 1" in await command_answer(client, fake_slack, admin("stats"))
    assert "Re-posting 1" in await command_answer(client, fake_slack, admin("pending"))
    await fake_slack.wait_for("chat.postMessage", count=2, channel=MOD_CHANNEL)
    assert "now off" in await command_answer(client, fake_slack, admin("mode off"))
    assert (await (await client.get("/api/mode", headers=AUTH)).json())["mode"] == "off"


async def test_channel_members_decide_when_no_list_is_set(slack_client, fake_slack: FakeSlack) -> None:
    fake_slack.channel_members = [MOD2]
    client = await slack_client(slack__moderators=[])
    await post_command(client, command_body("members only"))
    ts, card = await card_for(fake_slack, "members only")
    approve = buttons(card)[0]
    for who in (MOD, MOD2):
        press = press_payload(who, approve["action_id"], approve["value"], fake_slack.response_url(), ts)
        assert await post_press(client, press) == 200
    [refusal] = await fake_slack.wait_for_response()
    assert refusal["text"] == "Only moderators can decide."
    await fake_slack.wait_for("chat.update")
    assert len(fake_slack.called("conversations.members")) == 1  # cached


async def test_socket_mode_end_to_end_with_a_forced_reconnect(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client(mode="socket", slack__signing_secret="")
    assert (await client.post("/slack/events", data="{}")).status in (404, 405)
    await fake_slack.wait_for_socket()
    for _ in range(200):
        if (await (await client.get("/healthz")).json()).get("slack_socket_connected"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("socket never reported connected")
    stream = await client.get("/stream")
    await next_block(stream)

    body = command_body("over the socket", response_url=fake_slack.response_url("sock"))
    ack = await fake_slack.envelope("slash_commands", body, "env-1")
    assert ack["payload"]["text"] == "⏳ Sending…"
    assert "waiting for a moderator" in (await fake_slack.answer_at("sock"))["text"]
    ts, card = await card_for(fake_slack, "over the socket")

    await fake_slack.ask_to_reconnect()
    await fake_slack.wait_for_socket(count=2)
    assert fake_slack.socket_opens == 2

    approve = buttons(card)[0]
    press = press_payload(MOD, approve["action_id"], approve["value"], fake_slack.response_url(), ts)
    await fake_slack.envelope("interactive", press, "env-2")
    assert (await next_event(stream)).data["text"] == "over the socket"
    dm = {"type": "message", "channel": "DANN", "user": ANN, "text": "socket DM",
          "ts": "300.000001", "channel_type": "im", "event_ts": "300.000001"}
    await fake_slack.envelope("events_api", event_body(dm, "Ev3"), "env-3")
    await fake_slack.wait_for("chat.postMessage", channel="DANN")
    assert {a["envelope_id"] for a in fake_slack.acks} >= {"env-1", "env-2", "env-3"}
    stream.close()



async def test_two_presses_at_once_make_one_decision(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    await post_command(client, command_body("race"))
    ts, card = await card_for(fake_slack, "race")
    approve = buttons(card)[0]
    presses = [press_payload(who, approve["action_id"], approve["value"], fake_slack.response_url(), ts)
               for who in (MOD, MOD2)]
    assert await asyncio.gather(*(post_press(client, p) for p in presses)) == [200, 200]
    [response] = await fake_slack.wait_for_response()
    assert response["text"].startswith("Already approved by Mod")
    decided = (await (await client.get("/api/barrages?status=approved", headers=AUTH)).json())["items"]
    assert len(decided) == 1
    await fake_slack.wait_for("chat.update")


async def test_garbage_bodies_are_4xx_never_500(slack_client) -> None:
    client = await slack_client()
    for raw, kind in ((b"[" * 60_000, "application/json"), (b"{not json", "application/json"),
                      (b"payload=" + b"%5B" * 20_000, "application/x-www-form-urlencoded")):
        resp = await client.post("/slack/events", data=raw, headers={"Content-Type": kind})
        assert 400 <= resp.status < 500, (raw[:20], resp.status)
    assert (await client.get("/healthz")).status == 200


async def test_an_undo_puts_the_buttons_back_on_the_slack_card(slack_client, fake_slack: FakeSlack) -> None:
    client = await slack_client()
    status, _ = await post_command(client, command_body("undo me"))
    assert status == 200
    ts, card = await card_for(fake_slack, "undo me")
    [item] = await pending(client)
    await client.post(f"/api/barrages/{item['id']}/reject", json={"moderator": "Wendy"}, headers=AUTH)
    closed = (await fake_slack.wait_for("chat.update", ts=ts))[0].params
    assert all(b["type"] != "actions" for b in closed["blocks"])
    assert (await client.post(f"/api/barrages/{item['id']}/undo", headers=AUTH)).status == 200
    reopened = (await fake_slack.wait_for("chat.update", count=2, ts=ts))[1].params
    assert [b["value"] for b in buttons(reopened)] == [b["value"] for b in buttons(card)]
    assert "Rejected" not in json.dumps(reopened["blocks"], ensure_ascii=False)


MALFORMED_SIGNED = [
    (b"null", "application/json"),
    (b"5", "application/json"),
    (b"1e999", "application/json"),
    (b'"text"', "application/json"),
    (b"[1, 2]", "application/json"),
    (b"[]", "application/json"),
    (b"true", "application/json"),
    (b"payload=null", "application/x-www-form-urlencoded"),
    (b"payload=5", "application/x-www-form-urlencoded"),
    (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
    (b"payload=%22x%22", "application/x-www-form-urlencoded"),
    (b"payload=%7B%22type%22%3A5%7D", "application/x-www-form-urlencoded"),
    (b"payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A5%7D",
     "application/x-www-form-urlencoded"),
    (b'{"type": "event_callback", "event": 5}', "application/json"),
    (b'{"type": "event_callback", "event": {"type": 5}}', "application/json"),
    (b"command=5&text=x", "application/x-www-form-urlencoded"),
]


async def test_malformed_signed_bodies_are_4xx_without_a_traceback(
    slack_client, fake_slack: FakeSlack, caplog
) -> None:
    """Correctly signed but not a Slack payload: a 4xx (or a harmless 200), never a 500."""
    client = await slack_client()
    for raw, kind in MALFORMED_SIGNED:
        resp = await client.post("/slack/events", data=raw, headers=signed(raw.decode(), kind))
        assert resp.status < 500, (raw, resp.status, await resp.text())
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize("headers", [
    {"X-Slack-Request-Timestamp": "abc"},
    {"X-Slack-Request-Timestamp": "9" * 400},
    {"X-Slack-Request-Timestamp": "-1"},
    {"X-Slack-Request-Timestamp": "1e9"},
    {"X-Slack-Request-Timestamp": "١٢٣"},
    {"X-Slack-Signature": "v0=é"},
    {"X-Slack-Signature": "v0=\u2603" * 10},
    {"X-Slack-Signature": ""},
])
async def test_hostile_signature_headers_are_401(slack_client, caplog, headers: dict[str, str]) -> None:
    client = await slack_client()
    raw = urlencode(command_body("sneaky"))
    sent = {**signed(raw, "application/x-www-form-urlencoded"), **headers}
    resp = await client.post("/slack/events", data=raw.encode(),
                             headers={k: v.encode("utf-8").decode("latin-1") for k, v in sent.items()})
    assert resp.status in (400, 401), await resp.text()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert await pending(client) == []


async def test_an_encoded_body_is_415(slack_client, caplog) -> None:
    client = await slack_client()
    raw = urlencode(command_body("squeezed"))
    headers = {**signed(raw, "application/x-www-form-urlencoded"), "Content-Encoding": "gzip"}
    assert (await client.post("/slack/events", data=raw, headers=headers)).status == 415
    assert not [r for r in caplog.records if r.exc_info] and await pending(client) == []


async def test_a_slow_web_api_never_delays_the_ack(slack_client, fake_slack: FakeSlack) -> None:
    """users.info and conversations.members take 5 s: the ack still comes back while they are
    held, and the real answer follows at the response_url."""
    fake_slack.delays = {"users.info": 5.0, "conversations.members": 5.0}
    fake_slack.channel_members = [MOD]
    client = await slack_client(slack__moderators=[])
    body = command_body("patience please", user=STRANGER, response_url=fake_slack.response_url("c1"))
    status, ack = await post_command(client, body)
    assert status == 200 and "Sending" in ack["text"] and ack["response_type"] == "ephemeral"
    await fake_slack.wait_for("users.info")
    assert fake_slack.held["users.info"] == 1  # still holding the slow call: the ack came first
    [answer] = await fake_slack.wait_for_response()
    assert "waiting for a moderator" in answer["text"] and answer["response_type"] == "ephemeral"

    body = command_body("stats", user=MOD, command="/barrage-admin", trigger="t-admin",
                        response_url=fake_slack.response_url("c2"))
    status, ack = await post_command(client, body)
    assert status == 200 and "Working" in ack["text"]
    assert fake_slack.held["conversations.members"] == 1
    fake_slack.release()
    answers = await fake_slack.wait_for_response(2)
    assert "Pending: 1" in answers[1]["text"]


async def test_the_sender_is_team_and_user(slack_client, fake_slack: FakeSlack) -> None:
    """Slack user ids are unique per workspace: the rate limit counts slack:<team>:<user>."""
    client = await slack_client(moderation__max_per_minute=1)

    async def dm(n: int, team: str) -> str:
        channel = f"D{n}"
        event = {"type": "message", "channel": channel, "user": ANN, "text": f"hello {n}",
                 "ts": f"50{n}.000001", "channel_type": "im", "event_ts": f"50{n}.000001"}
        assert await post_event(client, dict(event_body(event, f"EvT{n}"), team_id=team)) == 200
        return (await fake_slack.wait_for("chat.postMessage", channel=channel))[0].params["text"]

    assert "waiting" in await dm(1, "T0001")
    assert "waiting" in await dm(2, "T0OTHER")  # the same user id in another workspace
    assert "slow down" in await dm(3, "T0001")
    command = dict(command_body("cmd", trigger="a3"), team_id="T0OTHER")
    assert "slow down" in await command_answer(client, fake_slack, command)


async def test_socket_mode_on_two_nodes_a_retry_delivered_to_the_other_is_one_barrage(
    slack_client, fake_slack: FakeSlack
) -> None:
    """Every node holds a Socket Mode connection (Slack hands each envelope to one of them);
    two nodes here share one database file, as two processes would. Their buses do not
    meet: the card lease's holder finds the other node's work by its sweep."""
    nodes = [await slack_client(mode="socket", slack__signing_secret="", slack__card_sweep_seconds=0.2)
             for _ in range(2)]
    await fake_slack.wait_for_socket(count=2)
    first, second = [ws for ws in fake_slack.sockets if not ws.closed]
    dm = {"type": "message", "channel": "DANN", "user": ANN, "text": "sent once, delivered twice",
          "ts": "400.000001", "channel_type": "im", "event_ts": "400.000001"}
    await fake_slack.envelope("events_api", event_body(dm, "Ev4"), "env-4", ws=first)
    # Slack saw no ack in time (say) and retries, and the retry reaches the other node.
    await fake_slack.envelope("events_api", event_body(dm, "Ev4"), "env-5", ws=second, retry_attempt=1)
    later = dict(dm, text="later", ts="401.000001", event_ts="401.000001")
    await fake_slack.envelope("events_api", event_body(later, "Ev6"), "env-6", ws=second)
    await card_for(fake_slack, "later")  # the positive signal: everything before it is done
    await fake_slack.wait_for("chat.postMessage", count=2, channel="DANN")
    items = (await (await nodes[0].get("/api/barrages", headers=AUTH)).json())["items"]
    assert sorted(b["text"] for b in items) == ["later", "sent once, delivered twice"]
    cards = [c for c in fake_slack.called("chat.postMessage", channel=MOD_CHANNEL)
             if "sent once, delivered twice" in str(c.params.get("text"))]
    assert len(cards) == 1
    assert len(fake_slack.called("chat.postMessage", channel="DANN")) == 2  # one receipt per message
