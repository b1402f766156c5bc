"""What participants and moderators read, the same on every chat platform. Pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.core.errors import InvalidInput
from server.core.model import REASON_MUTED, REASON_REVIEW, ROOM_SLUG, Barrage, Room, Status
from server.core.policy import COLOR_PRESETS, normalize_color

REPLY_PENDING = "⏳ Got it! Your message is waiting for a moderator."
REPLY_ON_SCREEN = "✅ Your message is on the screen now!"
# Presence: the sender would otherwise look at a dark wall and wonder.
NO_SCREEN = "saved; no screen is showing right now"
REPLY_NO_SCREEN_PENDING = f"⏳ Got it! Your message is waiting for a moderator ({NO_SCREEN})."
REPLY_NO_SCREEN = f"✅ Approved: {NO_SCREEN}."
REPLY_REVIEW = "⏳ Got it! Your message is held for review by a moderator."
REPLY_NO_SCREEN_REVIEW = f"⏳ Got it! Your message is held for review by a moderator ({NO_SCREEN})."
REPLY_UNSUPPORTED = "⚠️ Only text can go on the wall for now (no stickers, photos or files)."
NOT_A_MODERATOR = "Only moderators can decide."
BUTTON_GONE = "This button no longer works."
BARRAGE_GONE = "This barrage no longer exists."
REMOVE_LABEL = "🗑 Remove from screen"
REMOVED = "🗑 Removed from every screen"
MUTE_LABEL = "🔇 Mute 1h"
MUTE_MINUTES = 60  # what the card's button mutes for
MUTED = "🔇 Sender muted for 1 h; message rejected"
EXPIRED = "⌛ Expired"  # a card nobody decided in time (moderation.pending_ttl_seconds, max_pending)
BACKLOG_NOTE_FROM = 5


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


def now() -> datetime:
    """The clock cards are rendered against (their "2 min ago")."""
    return datetime.now(UTC)


def age(created: datetime, now: datetime) -> str:
    seconds = max(0, int((now - created).total_seconds()))
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def receipt_text(status: Status, screens: int = 1, reason: str | None = None) -> str:
    """The reply to a submission; `reason` (the barrage's) says why it was not approved at once."""
    if status is Status.REJECTED:
        return f"❌ Not approved: {reason or 'refused'}."
    if reason == REASON_REVIEW:
        return REPLY_REVIEW if screens else REPLY_NO_SCREEN_REVIEW
    if status is Status.APPROVED:
        return REPLY_ON_SCREEN if screens else REPLY_NO_SCREEN
    return REPLY_PENDING if screens else REPLY_NO_SCREEN_PENDING


def outcome_text(barrage: Barrage) -> str:
    if barrage.status is Status.APPROVED:
        return f"✅ Your message is on the screen now: “{barrage.text}”"
    if barrage.status is Status.RETRACTED:
        return f"🗑 Your message was taken off the screen by the moderators: “{barrage.text}”"
    if barrage.status is Status.EXPIRED:
        return f"⌛ Your message expired before a moderator could look at it: “{barrage.text}”"
    return f"❌ Your message was not approved by the moderators: “{barrage.text}”"


def flags_line(flags: tuple[str, ...] | list[str]) -> str | None:
    """What the filter saw, for a card: "⚠ link · ⚠ rule 12 · ⚠ classifier" (never the word)."""
    if not flags:
        return None
    return " · ".join(f"⚠ {flag.replace('rule:', 'rule ')}" for flag in flags)


def senders_line(barrage: Barrage) -> str:
    """"×N senders" on the card of a first that repeats joined (×N merging); "" for one sender."""
    return f"×{barrage.count} senders" if barrage.count > 1 else ""


def verdict_line(barrage: Barrage) -> str:
    if barrage.status is Status.RETRACTED:
        return removed_line(barrage)
    if barrage.status is Status.EXPIRED:
        return EXPIRED
    who = barrage.decided_by or "a moderator"
    if barrage.status is Status.REJECTED and barrage.reason == REASON_MUTED:
        return f"🔇 Sender muted by {who} (message rejected)"
    mark = "✅ Approved" if barrage.status is Status.APPROVED else "❌ Rejected"
    return f"{mark} by {who}"


def removed_line(barrage: Barrage) -> str:
    return f"🗑 Removed by {barrage.retracted_by or 'a moderator'}"


def backlog_line(waiting_behind: int, where: str) -> str | None:
    if waiting_behind < BACKLOG_NOTE_FROM:
        return None
    return f"⏳ {waiting_behind} more waiting — use {where}"


def refusal_text(error: Exception) -> str:
    return f"⚠️ Not sent: {error}."


def muted_text(already: str | None) -> str:
    """A card's mute button pressed; `already`: the message was decided before (who, how)."""
    return f"🔇 Sender muted for 1 h; the message was {already}" if already else MUTED


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def mode_text(mode: str, changed: bool, how: str) -> str:
    explain = {"off": "messages go straight to the screen (blocked words are still refused)",
               "auto": "the filter decides: blocked words refused, flagged messages wait for a "
                       "moderator, the rest go straight to the screen",
               "manual": "each message waits for a moderator"}[mode]
    if changed:
        return f"Moderation mode is now {mode}: {explain}."
    return f"Moderation mode is {mode}: {explain}. Switch with {how}."


def stats_text(stats: dict[str, object], screens_by_room: dict[str, int] | None = None) -> str:
    text = (f"Mode: {stats['mode']}\nPending: {stats['pending']}\n"
            f"Approved today: {stats['approved_today']}\nScreens: {stats['screens']}")
    if screens_by_room and len(screens_by_room) > 1:  # one room: the total says it all
        text += " (" + ", ".join(f"{room} {n}" for room, n in screens_by_room.items()) + ")"
    return text


ROOMS_LISTED = 20  # a chat message, not a directory: the rest are counted


def room_name(room: Room) -> str:
    return room.slug if room.title == room.slug else f"{room.title} ({room.slug})"


def rooms_line(rooms: list[Room]) -> str:
    shown = ", ".join(room_name(room) for room in rooms[:ROOMS_LISTED])
    more = f" and {len(rooms) - ROOMS_LISTED} more" if len(rooms) > ROOMS_LISTED else ""
    return f"Rooms: {shown}{more}."


def room_text(current: Room, rooms: list[Room], how: str) -> str:
    return f"Your messages go to {room_name(current)}.\n{rooms_line(rooms)}\nSwitch with {how}."


def room_switched_text(room: Room) -> str:
    return f"✅ Your messages now go to {room_name(room)}."


def unknown_room_text(wanted: str, rooms: list[Room]) -> str:
    # Echoed only when it looks like a slug: anything else may be garbage (or markup).
    name = f"room {wanted}" if ROOM_SLUG.fullmatch(wanted) else "such room"
    return f"⚠️ No {name}. {rooms_line(rooms)}"


def room_here_text(room: Room, how: str) -> str:
    return (f"Messages in this chat go to {room_name(room)}. "
            f"To pick a room for your own messages, use {how} in a private chat with me.")


# -- the live controls from the moderators' chat: each answer names the room it changed --

QUOTED_CHARS = 32  # a word that is no room is quoted to help, never whole: it may be long garbage


def wrong_room_text(own: Room) -> str:
    return f"⚠️ This chat controls {room_name(own)} only."


def not_a_room_text(word: str, rooms: list[Room], own: Room | None, how: str = "") -> str:
    """A command's word that names no room; `own`: the chat's room (None: the global chat)."""
    quoted = word if len(word) <= QUOTED_CHARS else word[:QUOTED_CHARS] + "…"
    where = rooms_line(rooms) if own is None else f"This chat controls {room_name(own)} only."
    usage = f" Usage: {how}" if how else ""
    return f"⚠️ No room “{quoted}”. {where}{usage}"


def paused_text(room: Room, was: bool) -> str:
    already = " already" if was else ""
    return f"⏸ {room_name(room)} is{already} paused: nothing new starts flying; approved messages wait."


def resumed_text(room: Room, was: bool) -> str:
    already = " already" if was else ""
    return f"▶️ {room_name(room)} is{already} running: waiting messages fly now."


def cleared_text(room: Room) -> str:
    return f"🧹 {room_name(room)}'s screens are cleared."


def announced_text(room: Room) -> str:
    if room.announcement is None:
        return f"📌 Announcement removed from {room_name(room)}."
    return f"📌 Pinned on {room_name(room)}: “{room.announcement}”"


def lottery_text(room: Room, winners: list[tuple[str, str]], pool: int) -> str:
    """`winners`: (author, source) pairs, in draw order."""
    names = "\n".join(f"{n}. {author} ({source})" for n, (author, source) in enumerate(winners, 1))
    return f"🎉 Lottery in {room_name(room)}: {len(winners)} of {pool} senders won\n{names}"


def winner_text(room_title: str) -> str:
    return f"🎉 You won the lottery in {room_title}! Look at the screen, and find the organisers."


DIGEST_TEXT_CHARS = 80  # a digest is a summary: the repeated text is cut, not quoted whole


def digest_text(room: Room, digest: dict[str, Any]) -> str:
    """A room's digest (Digest.to_dict()), as a few lines; counts of zero are left out."""
    def counts(found: dict[str, int]) -> str:
        return ", ".join(f"{key} {count}" for key, count in found.items() if count) or "none"

    senders = ", ".join(f"{s['author']} ({s['count']})" for s in digest["top_senders"]) or "none"
    minute, repeated = digest["busiest_minute"], digest["most_repeated"]
    busiest = f"{minute['minute'][:16].replace('T', ' ')} UTC ({minute['count']})" if minute else "none"
    text = f"“{_cut(repeated['text'])}” ({repeated['count']}×)" if repeated else "none"
    return (f"📊 Digest of {room_name(room)}: {digest['total']} messages\n"
            f"By status: {counts(digest['by_status'])}\nBy source: {counts(digest['by_source'])}\n"
            f"Top senders: {senders}\nBusiest minute: {busiest}\nMost repeated: {text}")


def _cut(text: str) -> str:
    return text if len(text) <= DIGEST_TEXT_CHARS else text[:DIGEST_TEXT_CHARS - 1] + "…"


def blocked_word_text(word: str, rule_id: int, created: bool) -> str:
    """/block's answer: rules hold in every room, so it says so."""
    if not created:
        return f"🚫 “{word}” is already blocked (rule {rule_id}); nothing added."
    return f"🚫 “{word}” is blocked now, in every room and mode (rule {rule_id})."


def unblocked_word_text(word: str, rule_ids: list[int]) -> str:
    if not rule_ids:
        return f"No block rule for “{word}” found; nothing removed."
    rules = ", ".join(str(rule_id) for rule_id in rule_ids)
    plural = "s" if len(rule_ids) > 1 else ""
    return f"✅ “{word}” is no longer blocked: removed {len(rule_ids)} rule{plural} ({rules})."
