"""Pure parsing and rendering for Telegram: callback data, message text, cards, replies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from bot.messages import age, backlog_line, verdict_line
from server.core.model import Barrage, Verdict
from server.core.policy import parse_id

APPROVE_LABEL = "✅ Approve"
REJECT_LABEL = "❌ Reject"
# Versioned and self-contained, so a card keeps working across restarts;
# Telegram allows 64 bytes, and "v1:a:2147483647" is 15.
CALLBACK_VERSION = "v1"
VERDICT_CODES = {Verdict.APPROVE: "a", Verdict.REJECT: "r"}

HELP = (
    "Send me a message and it goes up on the wall{join}.\n\n"
    "• In this chat, just type your message.\n"
    "• In a group: /barrage your message (or /b your message).\n"
    "• Colour: start with #ff8800, #red or a colour word, e.g. \"pink Happy birthday!\" "
    "({colors}).\n"
    "Messages may need a moderator's OK before they appear."
)
REPLY_EMPTY_COMMAND = "✍️ Add your message after the command, e.g. /barrage Hello everyone!"


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


def full_name(first: str, last: str | None) -> str:
    return f"{first} {last}".strip() if last else first


@dataclass(frozen=True)
class ReplyTo:
    """Where the sender's message was, so later notices can answer it."""

    chat_id: int
    message_id: int
    username: str | None = None

    def dump(self) -> str:
        return json.dumps({"c": self.chat_id, "m": self.message_id, "u": self.username})

    @classmethod
    def load(cls, raw: str | None) -> ReplyTo | None:
        try:
            data = json.loads(raw or "")
            return cls(int(data["c"]), int(data["m"]), data.get("u"))
        except (ValueError, KeyError, TypeError):
            return None


def card_text(barrage: Barrage, now: datetime, waiting_behind: int = 0) -> str:
    backlog = backlog_line(waiting_behind, "/moderate")
    return _card_body(barrage, now) + (f"\n{backlog}" if backlog else "")


def verdict_text(barrage: Barrage, now: datetime) -> str:
    return f"{_card_body(barrage, now)}\n\n{verdict_line(barrage)}"


def _card_body(barrage: Barrage, now: datetime) -> str:
    who = barrage.author
    reply = ReplyTo.load(barrage.reply_to)
    if reply and reply.username:
        who = f"{who} (@{reply.username})"
    return (
        f"🆕 Barrage #{barrage.id} · {barrage.source.value}\n"
        f"“{barrage.text}”\n"
        f"From {who} · {age(barrage.created_at, now)}"
    )
