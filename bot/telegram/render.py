"""Pure parsing and rendering for Telegram: callback data, message text, cards, replies."""

from __future__ import annotations

from datetime import datetime

from bot.messages import age, backlog_line, flags_line, senders_line, t, verdict_line
from bot.replyto import ReplyTo
from server.core.i18n import DEFAULT
from server.core.model import Barrage, Source, Verdict
from server.core.policy import parse_id

# Versioned and self-contained, so a card keeps working across restarts;
# Telegram allows 64 bytes, and "v1:a:2147483647" is 15.
CALLBACK_VERSION = "v1"
VERDICT_CODES = {Verdict.APPROVE: "a", Verdict.REJECT: "r"}
RETRACT_CODE = "x"  # "Remove from screen", on an approved card
MUTE_CODE = "m"  # "Mute 1h", on a pending card

def callback_data(verdict: Verdict, barrage_id: int) -> str:
    return f"{CALLBACK_VERSION}:{VERDICT_CODES[verdict]}:{barrage_id}"


def parse_callback(data: str | None) -> tuple[Verdict, int] | None:
    """Never trusted: only the verdict and the id are read, and both are re-checked."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != CALLBACK_VERSION:
        return None
    verdicts = {code: verdict for verdict, code in VERDICT_CODES.items()}
    barrage_id = parse_id(parts[2])
    if parts[1] not in verdicts or barrage_id is None:
        return None
    return verdicts[parts[1]], barrage_id


def retract_data(barrage_id: int) -> str:
    return f"{CALLBACK_VERSION}:{RETRACT_CODE}:{barrage_id}"


def parse_retract(data: str | None) -> int | None:
    """The barrage id of a "Remove from screen" press; never trusted, re-checked like a verdict."""
    return _parse_coded(data, RETRACT_CODE)


def mute_data(barrage_id: int) -> str:
    return f"{CALLBACK_VERSION}:{MUTE_CODE}:{barrage_id}"


def parse_mute(data: str | None) -> int | None:
    """The barrage id of a "Mute 1h" press: only the id is read; the sender comes from the store."""
    return _parse_coded(data, MUTE_CODE)


def _parse_coded(data: str | None, code: str) -> int | None:
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[:2] != [CALLBACK_VERSION, code]:
        return None
    return parse_id(parts[2])


def full_name(first: str, last: str | None) -> str:
    return f"{first} {last}".strip() if last else first


def help_text(join: str, colors: str, language: str = DEFAULT) -> str:
    return t(language, "telegram.help", join=t(language, "join.in", join=join) if join else "", colors=colors)


def card_text(barrage: Barrage, now: datetime, waiting_behind: int = 0, room: str | None = None,
              language: str = DEFAULT) -> str:
    """`room`: the room's name, shown when there is more than one room."""
    backlog = backlog_line(waiting_behind, "/moderate", language)
    return _card_body(barrage, now, room, language) + (f"\n{backlog}" if backlog else "")


def verdict_text(barrage: Barrage, now: datetime, room: str | None = None, language: str = DEFAULT) -> str:
    return f"{_card_body(barrage, now, room, language)}\n\n{verdict_line(barrage, language)}"


def _card_body(barrage: Barrage, now: datetime, room: str | None, language: str) -> str:
    who = barrage.author
    # Only a Telegram sender's reply target holds a @username (a Slack one holds a user id).
    reply = ReplyTo.load(barrage.reply_to) if barrage.source is Source.TELEGRAM else None
    if reply and reply.user:
        who = f"{who} (@{reply.user})"
    senders = senders_line(barrage, language)
    return t(language, "telegram.card", id=barrage.id, source=barrage.source.value, text=barrage.text,
             who=who, age=age(barrage.created_at, now, language)) + (
        f" · {senders}" if senders else "") + (
        "\n" + t(language, "card.room", room=room) if room else "") + (
        f"\n{flags}" if (flags := flags_line(barrage.flags, language)) else "")
