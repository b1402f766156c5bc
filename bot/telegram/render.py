"""Pure parsing and rendering for Telegram: callback data, message text, cards, replies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from server.core.errors import InvalidInput
from server.core.model import Barrage, Status, Verdict
from server.core.policy import COLOR_PRESETS, normalize_color

APPROVE_LABEL = "✅ Approve"
REJECT_LABEL = "❌ Reject"
# Versioned and self-contained, so a card keeps working across restarts;
# Telegram allows 64 bytes, and "v1:a:2147483647" is 15.
CALLBACK_VERSION = "v1"
VERDICT_CODES = {Verdict.APPROVE: "a", Verdict.REJECT: "r"}
BACKLOG_NOTE_FROM = 5

HELP = (
    "Send me a message and it goes up on the wall{join}.\n\n"
    "• In this chat, just type your message.\n"
    "• In a group: /barrage your message (or /b your message).\n"
    "• Colour: start with #ff8800, #red or a colour word, e.g. \"pink Happy birthday!\" "
    "({colors}).\n"
    "Messages may need a moderator's OK before they appear."
)
REPLY_PENDING = "⏳ Got it! Your message is waiting for a moderator."
REPLY_ON_SCREEN = "✅ Your message is on the screen now!"
REPLY_UNSUPPORTED = "⚠️ Only text can go on the wall for now (no stickers, photos or files)."
REPLY_EMPTY_COMMAND = "✍️ Add your message after the command, e.g. /barrage Hello everyone!"


def callback_data(verdict: Verdict, barrage_id: int) -> str:
    return f"{CALLBACK_VERSION}:{VERDICT_CODES[verdict]}:{barrage_id}"


def parse_callback(data: str | None) -> tuple[Verdict, int] | None:
    """Never trusted: only the verdict and the id are read, and both are re-checked."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != CALLBACK_VERSION or not parts[2].isdigit():
        return None
    verdicts = {code: verdict for verdict, code in VERDICT_CODES.items()}
    if parts[1] not in verdicts or len(parts[2]) > 10:
        return None
    return verdicts[parts[1]], int(parts[2])


def split_color(text: str) -> tuple[str | None, str]:
    """A leading `#rrggbb`, `#rgb`, `#preset` or bare preset word picks the colour."""
    head, _, rest = text.strip().partition(" ")
    if not rest.strip():
        return None, text
    word = head.lower()
    if word.startswith("#") and word[1:] in COLOR_PRESETS:
        return word[1:], rest
    if word in COLOR_PRESETS:
        return word, rest
    if word.startswith("#"):
        try:
            return normalize_color(word), rest
        except InvalidInput:
            return None, text  # a hashtag, not a colour
    return None, text


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


def age(created: datetime, now: datetime) -> str:
    seconds = max(0, int((now - created).total_seconds()))
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def card_text(barrage: Barrage, now: datetime, waiting_behind: int = 0) -> str:
    lines = [_card_body(barrage, now)]
    if waiting_behind >= BACKLOG_NOTE_FROM:
        lines.append(f"⏳ {waiting_behind} more waiting — use /moderate")
    return "\n".join(lines)


def verdict_text(barrage: Barrage, now: datetime) -> str:
    mark = "✅ Approved" if barrage.status is Status.APPROVED else "❌ Rejected"
    return f"{_card_body(barrage, now)}\n\n{mark} by {barrage.decided_by or 'a moderator'}"


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


def outcome_text(barrage: Barrage) -> str:
    if barrage.status is Status.APPROVED:
        return f"✅ Your message is on the screen now: “{barrage.text}”"
    return f"❌ Your message was not approved by the moderators: “{barrage.text}”"


def mode_text(mode: str, changed: bool) -> str:
    explain = {"off": "messages go straight to the screen",
               "manual": "each message waits for a moderator"}[mode]
    if changed:
        return f"Moderation mode is now {mode}: {explain}."
    return f"Moderation mode is {mode}: {explain}. Switch with /mode off or /mode manual."


def refusal_text(error: Exception) -> str:
    return f"⚠️ Not sent: {error}."
