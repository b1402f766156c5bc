"""Bolt listeners: parse → one core call → render. Listeners take injected ack/body/respond."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp

from bot.messages import (
    BARRAGE_GONE,
    BUTTON_GONE,
    NOT_A_MODERATOR,
    REPLY_UNSUPPORTED,
    mode_text,
    receipt_text,
    refusal_text,
    sentence,
    split_color,
    stats_text,
)
from bot.replyto import ReplyTo
from bot.slack.render import (
    ACTION_IDS,
    ADMIN_USAGE,
    EMPTY_COMMAND,
    HELP,
    parse_button_value,
    strip_mentions,
)
from server.core.errors import AlreadyDecided, InvalidInput, NotFound, RateLimited, Unavailable
from server.core.model import Source
from server.core.service import Submission
from server.logs import limit_repeats

if TYPE_CHECKING:
    from bot.slack.channel import SlackChannel

logger = limit_repeats(logging.getLogger(__name__))

NOT_FOR_YOU = "`/barrage-admin` is for moderators."
SENDING = "⏳ Sending…"
WORKING = "⏳ Working…"


def register(app: AsyncApp, channel: SlackChannel) -> None:
    h = Handlers(channel)
    app.command("/barrage")(h.barrage_command)
    app.command("/barrage-admin")(h.admin_command)
    app.event("message")(h.direct_message)
    app.event("app_mention")(h.mention)
    for action_id in ACTION_IDS.values():
        app.action(action_id)(h.press)
    app.error(h.error)


class Handlers:
    def __init__(self, channel: SlackChannel) -> None:
        self.channel = channel
        self.service = channel.service

    async def barrage_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        text = (body.get("text") or "").strip()
        if not text or text.lower() == "help":
            await _say(ack, self._help() if text else EMPTY_COMMAND)
            return
        # Slack wants the ack within 3 s; users.info and the commit may take longer.
        # Ack now, answer through the response_url (valid 30 min) when done.
        await _say(ack, SENDING)
        user, where = body.get("user_id", ""), body.get("channel_id", "")
        trigger = body.get("trigger_id")
        # Same trigger twice is the same command delivered twice: one barrage.
        dedupe = f"slack:cmd:{trigger}" if trigger else None
        reply = await self._submit(_team(body), user, where, text, dedupe, body.get("user_name"))
        await _answer(respond, body, reply[0])

    async def direct_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id"):
            return
        if event.get("subtype") == "file_share":
            self.channel.post(event["channel"], REPLY_UNSUPPORTED)
            return
        if event.get("subtype") or not event.get("user"):
            return  # edits, deletions, joins: not new messages
        await self._from_message(event, body, lambda text: self.channel.post(event["channel"], text))

    async def mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        user, where = event.get("user"), event.get("channel", "")
        if not user:
            return
        event = dict(event, text=strip_mentions(event.get("text") or ""))
        if not event["text"]:
            self.channel.ephemeral(where, user, self._help())
            return
        await self._from_message(event, body, lambda text: self.channel.ephemeral(where, user, text))

    async def _from_message(self, event: dict[str, Any], body: dict[str, Any], answer: Any) -> None:
        # channel + ts names a message uniquely: retries and a DM mention arriving twice are one
        dedupe = f"slack:{event.get('channel')}:{event.get('ts')}"
        team = event.get("team") or _team(body)
        text, worth_saying = await self._submit(team, event["user"], event.get("channel", ""),
                                                event["text"] or "", dedupe, None)
        if worth_saying:
            answer(text)

    async def _submit(self, team: str, user: str, where: str, text: str, dedupe: str | None,
                      fallback_name: str | None) -> tuple[str, bool]:
        """The reply for the sender, and whether to send it (a redelivery was answered already)."""
        color, body = split_color(text)
        submission = Submission(
            text=body, color=color, source=Source.SLACK, author_ref=user,
            author=await self.channel.names.get(user, fallback_name),
            reply_to=ReplyTo(where, user=user).dump(), dedupe_key=dedupe,
            # Slack user ids are unique per workspace only: the team keeps two apart.
            sender_key=f"slack:{team}:{user}",
        )
        try:
            receipt = await self.service.submit(submission)
        except (InvalidInput, RateLimited, Unavailable) as exc:
            return refusal_text(exc), True
        return receipt_text(receipt.barrage.status), receipt.created

    async def press(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        user = (body.get("user") or {}).get("id", "")
        barrage_id = parse_button_value(action.get("value"))
        if barrage_id is None:
            await _ephemeral(respond, BUTTON_GONE)
            return
        if not await self.channel.moderators.allows(user):
            await _ephemeral(respond, NOT_A_MODERATOR)
            return
        verdict = next(v for v, action_id in ACTION_IDS.items() if action_id == action.get("action_id"))
        try:
            await self.service.decide(barrage_id, verdict, await self.channel.names.get(user))
        except AlreadyDecided as exc:
            await _ephemeral(respond, sentence(str(exc)))
            self.channel.cards.wake("close")  # make sure this card shows the verdict too
        except NotFound:
            await _ephemeral(respond, BARRAGE_GONE)
        except Unavailable as exc:
            await _ephemeral(respond, sentence(str(exc)))

    async def admin_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        # Ack first: checking a moderator may page conversations.members, which has no
        # time limit of ours; the answer follows through the response_url.
        await _say(ack, WORKING)
        await _answer(respond, body, await self._admin_answer(body))

    async def _admin_answer(self, body: dict[str, Any]) -> str:
        if not await self.channel.moderators.allows(body.get("user_id", "")):
            return NOT_FOR_YOU
        words = (body.get("text") or "").lower().split()
        if words[:1] == ["mode"]:
            return await self._mode(words[1:], body)
        if words == ["stats"]:
            return stats_text(await self.service.stats(self.channel.screens()))
        if words == ["pending"]:
            return await self.channel.cards.repost_pending()
        return ADMIN_USAGE

    async def _mode(self, args: list[str], body: dict[str, Any]) -> str:
        if not args:
            return mode_text(self.service.mode.value, False, "`/barrage-admin mode off|manual`")
        name = await self.channel.names.get(body.get("user_id", ""), body.get("user_name"))
        try:
            return mode_text((await self.service.set_mode(args[0], by=name)).value, True, "")
        except InvalidInput as exc:
            return refusal_text(exc)

    async def error(self, error: Exception, body: dict[str, Any]) -> None:
        # By kind and id only: the body holds the sender's text and names.
        logger.error("slack listener failed on %s", describe(body), exc_info=error)

    def _help(self) -> str:
        join = f" ({self.channel.join_text})" if self.channel.join_text else ""
        return HELP.format(join=join)


def describe(body: object) -> str:
    """"event_callback message Ev123": enough to find it, nothing a participant wrote."""
    if not isinstance(body, dict):
        return type(body).__name__
    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    parts = (body.get("type") or body.get("command"), event.get("type"),
             body.get("event_id") or body.get("trigger_id"))
    return " ".join(str(p)[:40] for p in parts if p) or "unknown"


async def _say(ack: Any, text: str) -> None:
    """Ack a slash command with a message only its sender sees."""
    await ack(text=text, response_type="ephemeral")


async def _answer(respond: Any, body: dict[str, Any], text: str) -> None:
    """The real answer to a slash command acked earlier: to its response_url, privately."""
    if body.get("response_url"):
        await respond(text=text, response_type="ephemeral")
    else:
        logger.info("slash command %s has no response_url; answer dropped", describe(body))


def _team(body: dict[str, Any]) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id") or "?"
    return str(team)


async def _ephemeral(respond: Any, text: str) -> None:
    await respond(text=text, response_type="ephemeral", replace_original=False)
