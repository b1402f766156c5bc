"""Bolt listeners: parse → one action (bot/actions.py) → render. Bolt injects ack/body/respond; the
rest is handed in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.actions import AIMED, WORD_COMMANDS, Actions, ChatMessage, ChatUser
from bot.messages import t
from bot.replyto import ReplyTo
from bot.rooms import ALL_ROOMS, ChatRooms
from bot.slack.names import Names
from bot.slack.render import (
    ACTION_IDS,
    MUTE_ACTION_ID,
    RETRACT_ACTION_ID,
    escape,
    help_text,
    parse_button_value,
    plain,
    strip_mentions,
)

logger = logging.getLogger(__name__)  # rate-limited by the composition root: strangers reach it

Post = Callable[[str, str], None]  # (channel, text)
Ephemeral = Callable[[str, str, str], None]  # (channel, user, text)
HOWS = {"mode": "slack.mode_how", "lottery": "slack.lottery_how", "block": "slack.block_how",
        "unblock": "slack.block_how"}  # the catalogue's usage line of each command


def register(app: AsyncApp, h: Handlers) -> None:
    app.command("/barrage")(h.barrage_command)
    app.command("/barrage-admin")(h.admin_command)
    app.event("message")(h.direct_message)
    app.event("app_mention")(h.mention)
    for action_id in ACTION_IDS.values():
        app.action(action_id)(h.press)
    app.action(RETRACT_ACTION_ID)(h.retract)
    app.action(MUTE_ACTION_ID)(h.mute)
    app.error(h.error)


class Handlers:
    def __init__(self, actions: Actions, names: Names, post: Post, ephemeral: Ephemeral,
                 join: Callable[[str], str], rooms: ChatRooms | None = None) -> None:
        self.actions = actions
        self.names = names
        self.post = post
        self.ephemeral = ephemeral
        self.join = join  # a language → how to join the wall
        self.rooms = rooms or ChatRooms()

    async def barrage_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        text = plain(body.get("text") or "").strip()
        user = body.get("user_id", "")
        if not text or text.lower() == "help":
            # The ack is the answer: its language is worth one users.info (bounded well under 3 s).
            language = self.actions.language(await self.names.locale(user, body.get("user_name")))
            await _say(ack, self._help(language) if text else t(language, "slack.empty_command"))
            return
        if (wanted := room_request(text)) is not None:
            await _say(ack, t(self._known_language(user), "slack.working"))
            await _answer(respond, body, await self._room(body, wanted or None))
            return
        # Slack wants the ack within 3 s; users.info and the commit may take longer.
        # Ack now, answer through the response_url (valid 30 min) when done.
        await _say(ack, t(self._known_language(user), "slack.sending"))
        user, where = body.get("user_id", ""), body.get("channel_id", "")
        trigger = body.get("trigger_id")
        # Same trigger twice is the same command delivered twice: one barrage.
        dedupe = f"slack:cmd:{trigger}" if trigger else None
        message = await self._message(_team(body), user, where, text, dedupe, body.get("user_name"),
                                      _is_dm(body))
        await _answer(respond, body, (await self.actions.submit_from_chat(message)).text)

    async def _room(self, body: dict[str, Any], wanted: str | None) -> str:
        user, where = body.get("user_id", ""), body.get("channel_id", "")
        message = await self._message(_team(body), user, where, "", None, body.get("user_name"), _is_dm(body))
        how = t(self.actions.language(message.locale), "slack.room_how")
        return await self.actions.room(message, wanted, how)

    async def direct_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id"):
            return
        if event.get("subtype") == "file_share":
            locale = await self.names.locale(event["user"]) if event.get("user") else None
            self.post(event["channel"], t(self.actions.language(locale), "reply.unsupported"))
            return
        if event.get("subtype") or not event.get("user"):
            return  # edits, deletions, joins: not new messages
        await self._from_message(event, body, lambda text: self.post(event["channel"], text))

    async def mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        user, where = event.get("user"), event.get("channel", "")
        if not user:
            return
        event = dict(event, text=strip_mentions(event.get("text") or ""))
        if not event["text"]:
            self.ephemeral(where, user, self._help(self.actions.language(await self.names.locale(user))))
            return
        await self._from_message(event, body, lambda text: self.ephemeral(where, user, text))

    async def _from_message(self, event: dict[str, Any], body: dict[str, Any],
                            answer: Callable[[str], None]) -> None:
        # channel + ts names a message uniquely: retries and a DM mention arriving twice are one
        dedupe = f"slack:{event.get('channel')}:{event.get('ts')}"
        team = event.get("team") or _team(body)
        where = event.get("channel", "")
        private = event.get("channel_type") == "im" or where.startswith("D")
        message = await self._message(team, event["user"], where, plain(event["text"] or ""), dedupe, None,
                                      private)
        reply = await self.actions.submit_from_chat(message)
        if reply.send:
            answer(reply.text)

    async def _message(self, team: str, user: str, where: str, text: str, dedupe: str | None,
                       fallback_name: str | None, private: bool) -> ChatMessage:
        author = await self.names.get(user, fallback_name)  # users.info: it tells the locale too
        return ChatMessage(
            chat=where, private=private, locale=self.names.cached_locale(user),
            text=text, author=author, author_ref=user,
            reply_to=ReplyTo(where, user=user), dedupe_key=dedupe,
            # Slack user ids are unique per workspace only: the team keeps two apart.
            sender_key=f"slack:{team}:{user}",
        )

    async def press(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        barrage_id = parse_button_value(action.get("value"))
        if barrage_id is None:
            await _ephemeral(respond, t(self._known_language(_presser(body)), "button_gone"))
            return
        verdict = next(v for v, action_id in ACTION_IDS.items() if action_id == action.get("action_id"))
        outcome = await self.actions.press(self._user(_presser(body)),
                                           verdict, barrage_id)
        if not outcome.decided:  # the card itself shows a decision
            await _ephemeral(respond, outcome.text)

    async def retract(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        barrage_id = parse_button_value(action.get("value"))
        if barrage_id is None:
            await _ephemeral(respond, t(self._known_language(_presser(body)), "button_gone"))
            return
        outcome = await self.actions.retract(self._user(_presser(body)), barrage_id)
        if not outcome.decided:  # the card itself shows who removed it
            await _ephemeral(respond, outcome.text)

    async def mute(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        barrage_id = parse_button_value(action.get("value"))
        if barrage_id is None:
            await _ephemeral(respond, t(self._known_language(_presser(body)), "button_gone"))
            return
        outcome = await self.actions.mute(self._user(_presser(body)), barrage_id)
        if not outcome.decided:  # the card itself shows who muted
            await _ephemeral(respond, outcome.text)

    async def admin_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        # Ack first: checking a moderator may page conversations.members, which has no
        # time limit of ours; the answer follows through the response_url.
        await _say(ack, t(self._known_language(body.get("user_id", "")), "slack.working"))
        await _answer(respond, body, await self._admin_answer(body))

    async def _admin_answer(self, body: dict[str, Any]) -> str:
        # In a room's moderation channel the commands act on that room; anywhere else, as before.
        room = self.rooms.operator_room(body.get("channel_id", "")) or ALL_ROOMS
        user = self._user(body.get("user_id", ""), body.get("user_name"))
        operator = await self.actions.operator(user, room)
        if operator is None:
            return t(self._known_language(body.get("user_id", "")), "slack.not_for_you")
        command, rest = [*plain(body.get("text") or "").split(maxsplit=1), "", ""][:2]
        command = command.lower()
        # Answers may quote what senders or moderators wrote (the digest, an announcement, a
        # word that is no room): escaped, since answers are mrkdwn.
        how = t(operator.language, HOWS[command]) if command in HOWS else ""
        if command in AIMED:
            return escape(await operator.command(command, rest, how))
        if command in WORD_COMMANDS:
            return escape(await operator.words(command, rest, how))
        if command in ("stats", "pending") and not rest.strip():
            return escape(await getattr(operator, command)())
        return escape(t(operator.language, "slack.admin_usage"))

    async def error(self, error: Exception, body: dict[str, Any]) -> None:
        # By kind and id only: the body holds the sender's text and names.
        logger.error("slack listener failed on %s", describe(body), exc_info=error)

    def _user(self, user: str, fallback_name: str | None = None) -> ChatUser:
        return ChatUser(user, lambda: self.names.get(user, fallback_name),
                        lambda: self.names.locale(user, fallback_name))

    def _known_language(self, user: str) -> str:
        """`user`'s language if users.info told it already, else the config's: no call, for an
        answer that cannot wait (an ack) or a stranger (whose users.info it would cost)."""
        return self.actions.language(self.names.cached_locale(user))

    def _help(self, language: str) -> str:
        return help_text(self.join(language), language)


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


def room_request(text: str) -> str | None:
    """`room` or `room <slug>` after /barrage: the slug ("" for none); None for a message."""
    words = text.split()
    if not words or words[0].lower() != "room" or len(words) > 2:
        return None
    return words[1] if len(words) == 2 else ""


def _is_dm(body: dict[str, Any]) -> bool:
    """A slash command typed in a direct message (Slack's DM ids start with D)."""
    return str(body.get("channel_id", "")).startswith("D") or body.get("channel_name") == "directmessage"


def _presser(body: dict[str, Any]) -> str:
    return (body.get("user") or {}).get("id", "")


def _team(body: dict[str, Any]) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id") or "?"
    return str(team)


async def _ephemeral(respond: Any, text: str) -> None:
    await respond(text=text, response_type="ephemeral", replace_original=False)
