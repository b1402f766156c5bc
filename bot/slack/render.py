"""Pure parsing and rendering for Slack: Block Kit cards, mentions, button values."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bot.messages import age, backlog_line, flags_line, senders_line, t, verdict_line
from server.core.i18n import DEFAULT
from server.core.model import Barrage, Status, Verdict
from server.core.policy import parse_id

ACTION_IDS = {Verdict.APPROVE: "barrage_approve", Verdict.REJECT: "barrage_reject"}
BLOCK_ID = "barrage_decide"
RETRACT_ACTION_ID = "barrage_retract"  # "Remove from screen", on an approved card
MUTE_ACTION_ID = "barrage_mute"  # "Mute 1h", on a pending card
MUTE_BLOCK_ID = "barrage_mute"
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
# Slack's markup in the text it sends: <@U1|name>, <#C1|name>, <!here>, <!subteam^S1|@team>, and
# links <https://x.org|label>. A literal < or > arrives escaped, so any bracket left is markup.
_MARKUP = re.compile(r"<(?:(?P<sigil>[@#!])(?P<id>[^<>|\s]+)|(?P<url>[a-zA-Z][\w+.-]*:[^<>|\s]*))"
                     r"(?:\|(?P<label>[^<>]*))?>")
_BROADCASTS = ("here", "channel", "everyone")
_ENTITY = re.compile(r"&(lt|gt|amp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}

def escape(text: str) -> str:
    """Slack's mrkdwn escaping: user text can never become a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str) -> str:
    """Slack's formatted text as a person wrote it: mentions and links as they read, then `&lt;`,
    `&gt;` and `&amp;` unescaped, in one pass (`&amp;lt;` was typed as `&lt;`)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m[1]], _MARKUP.sub(_as_read, text))


def _as_read(markup: re.Match[str]) -> str:
    sigil, label = markup["sigil"], markup["label"]
    if sigil is None:  # a link: its label, else the address (a mail one without `mailto:`)
        return label or markup["url"].removeprefix("mailto:")
    if sigil == "!":  # <!here>; <!subteam^S1|@team> and <!date^…|Feb 18> read as their label
        special = markup["id"]
        return "@" + special if special in _BROADCASTS else label or "@" + special
    return sigil + (label or markup["id"])


def strip_mentions(text: str) -> str:
    return _MENTION.sub("", text).strip()


def parse_button_value(value: object) -> int | None:
    """Never trusted: only a small positive integer passes, and it is re-checked."""
    return parse_id(value)


def help_text(join: str, language: str = DEFAULT) -> str:
    return t(language, "slack.help", join=t(language, "join.in", join=join) if join else "")


def _summary(barrage: Barrage, now: datetime, room: str | None, language: str) -> list[dict[str, Any]]:
    # plain_text for everything a participant wrote: no mrkdwn, no mentions, no links
    about = t(language, "slack.card", id=barrage.id, author=barrage.author, source=barrage.source.value,
              age=age(barrage.created_at, now, language))
    return [
        {"type": "section", "text": {"type": "plain_text", "text": f"“{barrage.text}”", "emoji": True}},
        {"type": "context", "elements": [
            _context(about),
            *([_context(t(language, "card.room", room=room))] if room else []),
            *([_context(senders)] if (senders := senders_line(barrage, language)) else []),
            *([_context(flags)] if (flags := flags_line(barrage.flags, language)) else []),
        ]},
    ]


def _context(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "emoji": True, "text": text}


def card_blocks(barrage: Barrage, now: datetime, waiting_behind: int = 0,
                room: str | None = None, language: str = DEFAULT) -> list[dict[str, Any]]:
    """`room`: the room's name, shown when there is more than one room. Labels follow
    `language`; action ids and values never do: a press is known by them alone."""
    blocks = _summary(barrage, now, room, language)
    blocks.append({"type": "actions", "block_id": BLOCK_ID, "elements": [
        _button(t(language, "slack.approve"), "primary", Verdict.APPROVE, barrage.id),
        _button(t(language, "slack.reject"), "danger", Verdict.REJECT, barrage.id),
    ]})
    # A block of its own: the verdicts stay the card's first actions.
    blocks.append({"type": "actions", "block_id": MUTE_BLOCK_ID, "elements": [
        {"type": "button", "action_id": MUTE_ACTION_ID, "value": str(barrage.id),
         "text": {"type": "plain_text", "text": t(language, "button.mute"), "emoji": True}}]})
    if backlog := backlog_line(waiting_behind, "/moderate", language):
        blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": backlog}]})
    return blocks


def verdict_blocks(barrage: Barrage, now: datetime, room: str | None = None,
                   language: str = DEFAULT) -> list[dict[str, Any]]:
    blocks = [*_summary(barrage, now, room, language), {"type": "section", "text": {
        "type": "plain_text", "text": verdict_line(barrage, language), "emoji": True}}]
    if barrage.status is Status.APPROVED:  # it may still be taken off the screens
        blocks.append({"type": "actions", "block_id": BLOCK_ID, "elements": [
            {"type": "button", "action_id": RETRACT_ACTION_ID, "style": "danger",
             "text": {"type": "plain_text", "text": t(language, "button.remove"), "emoji": True},
             "value": str(barrage.id)}]})
    return blocks


def card_fallback(barrage: Barrage, room: str | None = None, language: str = DEFAULT) -> str:
    """The notification text (shown where blocks are not): escaped, since it is mrkdwn."""
    if room:
        return escape(t(language, "slack.fallback_in", room=room, author=barrage.author, text=barrage.text))
    return escape(t(language, "slack.fallback", author=barrage.author, text=barrage.text))


def verdict_fallback(barrage: Barrage, language: str = DEFAULT) -> str:
    return escape(f"{verdict_line(barrage, language)}: “{barrage.text}”")


def _button(label: str, style: str, verdict: Verdict, barrage_id: int) -> dict[str, Any]:
    return {"type": "button", "action_id": ACTION_IDS[verdict], "style": style,
            "text": {"type": "plain_text", "text": label}, "value": str(barrage_id)}
