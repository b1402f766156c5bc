"""What participants and moderators read, the same on every chat platform. Pure functions.

Every text comes from the `chat` catalogue (server/core/locales/<language>/chat.json), in
the reader's language: each function takes `language` last ("en" unless told).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from server.core import i18n
from server.core.errors import InvalidInput
from server.core.filters import CLASSIFIER, LINK
from server.core.i18n import DEFAULT, from_locale
from server.core.model import REASON_MUTED, REASON_REVIEW, ROOM_SLUG, Barrage, Room, Status
from server.core.policy import COLOR_PRESETS, normalize_color

DOMAIN = "chat"
STATUSES = {status.value for status in Status}  # each has its word: status.<value>

# The English texts other code and tests name (the catalogue's, read once).
NOT_A_MODERATOR = i18n.text(DOMAIN, DEFAULT, "not_a_moderator")
BUTTON_GONE = i18n.text(DOMAIN, DEFAULT, "button_gone")
BARRAGE_GONE = i18n.text(DOMAIN, DEFAULT, "barrage_gone")
REPLY_UNSUPPORTED = i18n.text(DOMAIN, DEFAULT, "reply.unsupported")
MUTE_MINUTES = 60  # what the card's button mutes for
BACKLOG_NOTE_FROM = 5


def t(language: str, key: str, **values: Any) -> str:
    """The chat text `key` in `language` (bot/ reads every text it shows from here)."""
    return i18n.text(DOMAIN, language, key, **values)


def card_language(setting: str) -> str:
    """A card is read by a whole moderators' chat: the configured language ("auto": English)."""
    return from_locale(None, setting)


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


def age(created: datetime, now: datetime, language: str = DEFAULT) -> str:
    seconds = max(0, int((now - created).total_seconds()))
    if seconds < 5:
        return t(language, "age.now")
    if seconds < 60:
        return t(language, "age.seconds", n=seconds)
    if seconds < 3600:
        return t(language, "age.minutes", n=seconds // 60)
    return t(language, "age.hours", n=seconds // 3600)


def receipt_text(status: Status, screens: int = 1, reason: str | None = None, language: str = DEFAULT) -> str:
    """The reply to a submission; `reason` (the barrage's) says why it was not approved at once."""
    if status is Status.REJECTED:
        said = why(reason, language) if reason else t(language, "why.refused")
        return t(language, "reply.rejected", reason=said)
    shown = "" if screens else "_no_screen"
    if reason == REASON_REVIEW:
        return t(language, "reply.review" + shown)
    if status is Status.APPROVED:
        return t(language, "reply.on_screen" + shown)
    return t(language, "reply.pending" + shown)


def outcome_text(barrage: Barrage, language: str = DEFAULT) -> str:
    told = (Status.APPROVED, Status.RETRACTED, Status.EXPIRED)
    status = barrage.status if barrage.status in told else Status.REJECTED
    return t(language, "outcome." + status.value, text=barrage.text)


# The core's English words for why (a barrage's reason, a refusal's message), matched to the
# catalogue's keys, so a reader gets them in their language; one the catalogue does not know
# is shown as the core wrote it. tests/bot/test_messages.py raises each from the real core.
WHY = [(re.compile(pattern), key) for pattern, key in (
    (r"slow mode is on: wait (?P<seconds>\d+) s before sending again", "why.slow_mode"),
    (r"slow down: at most (?P<limit>\d+) messages a minute; try again in (?P<seconds>\d+) s", "why.rate"),
    (r"too many messages from your network right now; try again in (?P<seconds>\d+) s", "why.network"),
    (r"the wall is very busy; try again in a moment", "why.busy"),
    (r"already sent: you sent the same message less than (?P<seconds>[\d.e+]+) s ago", "why.repeat"),
    (r"you are muted until (?P<until>\d{4}-\d\d-\d\d \d\d:\d\d) UTC", "why.muted_until"),
    (r"you are muted until a moderator lifts it", "why.muted_lifted"),
    (r"the wall cannot store messages right now \(its database is full or unavailable\); "
     r"please try again in a minute", "why.unavailable"),
    (r"text is too long \(at most (?P<limit>\d+) characters\)", "why.too_long"),
    (r"text is too long \(at most (?P<limit>\d+) Unicode code points\)", "why.too_long_points"),
    (r"text is empty(?:: it has nothing visible)?", "why.empty"),
    (r"text has a character built from too many parts \(at most (?P<limit>\d+) beyond its base\)",
     "why.parts"),
    (r"already (?P<status>approved|rejected|expired|retracted|pending)(?: by (?P<who>.+))?", "why.already"),
    (r"not on the screens: it is (?P<status>approved|rejected|expired|retracted|pending)"
     r"(?: by (?P<who>.+))?", "why.not_on_screen"),
    (r"text must be a string of at most (?P<limit>\d+) printable characters, "
     r"or null to remove the announcement", "why.announcement"),
    (r"pattern and note must be at most (?P<limit>\d+) characters", "why.pattern_long"),
    (r"pattern must be printable \(no control or zero-width characters\)", "why.pattern_printable"),
    (r"pattern has no letter or digit to match \(rules match letters and digits only\)", "why.pattern_empty"),
    (r"(?P<count>\d+) winners asked for, but only (?P<pool>\d+) senders are in the draw", "why.pool"),
    (r"winners must be a whole number from 1 to (?P<limit>\d+)", "why.winners"),
    (r"blocked word", "why.blocked"), (r"link", "why.link"), (r"muted", "why.muted"),
    (r"expired", "why.expired"), (r"held for review", "why.review"),
)]


def why(detail: str, language: str = DEFAULT) -> str:
    """The core's `detail` (an error's message, a barrage's reason) in `language`."""
    for pattern, key in WHY:
        if found := pattern.fullmatch(detail):
            values = {k: v for k, v in found.groupdict().items()}
            if "status" in values:
                values["status"] = t(language, "status." + values["status"])
                values["by"] = t(language, "why.by", who=values.pop("who")) if values.get("who") else ""
            return t(language, key, **values)
    return detail


def flags_line(flags: tuple[str, ...] | list[str], language: str = DEFAULT) -> str | None:
    """What the filter saw, for a card: "⚠ link · ⚠ rule 12 · ⚠ classifier" (never the word)."""
    if not flags:
        return None
    return " · ".join(t(language, "flag", flag=_flag(flag, language)) for flag in flags)


def _flag(flag: str, language: str) -> str:
    if flag.startswith("rule:"):
        return t(language, "flag.rule", id=flag.removeprefix("rule:"))
    return t(language, "flag." + flag) if flag in (LINK, CLASSIFIER) else flag


def senders_line(barrage: Barrage, language: str = DEFAULT) -> str:
    """"×N senders" on the card of a first that repeats joined (×N merging); "" for one sender."""
    return t(language, "card.senders", count=barrage.count) if barrage.count > 1 else ""


def verdict_line(barrage: Barrage, language: str = DEFAULT) -> str:
    if barrage.status is Status.RETRACTED:
        return removed_line(barrage, language)
    if barrage.status is Status.EXPIRED:
        return t(language, "verdict.expired")
    who = barrage.decided_by or t(language, "verdict.someone")
    if barrage.status is Status.REJECTED and barrage.reason == REASON_MUTED:
        return t(language, "verdict.muted_by", who=who)
    key = "verdict.approved_by" if barrage.status is Status.APPROVED else "verdict.rejected_by"
    return t(language, key, who=who)


def removed_line(barrage: Barrage, language: str = DEFAULT) -> str:
    return t(language, "verdict.removed_by", who=barrage.retracted_by or t(language, "verdict.someone"))


def backlog_line(waiting_behind: int, where: str, language: str = DEFAULT) -> str | None:
    if waiting_behind < BACKLOG_NOTE_FROM:
        return None
    return t(language, "card.backlog", count=waiting_behind, where=where)


def refusal_text(error: Exception, language: str = DEFAULT) -> str:
    return t(language, "reply.refused", why=why(str(error), language))


def muted_text(already: str | None, language: str = DEFAULT) -> str:
    """A card's mute button pressed; `already`: the message was decided before (who, how)."""
    return t(language, "mute.already", why=why(already, language)) if already else t(language, "mute.done")


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def mode_text(mode: str, changed: bool, how: str, language: str = DEFAULT) -> str:
    explain = t(language, "mode.explain." + mode)
    if changed:
        return t(language, "mode.changed", mode=mode, explain=explain)
    return t(language, "mode.current", mode=mode, explain=explain, how=how)


def stats_text(stats: dict[str, object], screens_by_room: dict[str, int] | None = None,
               language: str = DEFAULT) -> str:
    text = t(language, "stats", mode=stats["mode"], pending=stats["pending"],
             approved=stats["approved_today"], screens=stats["screens"])
    if screens_by_room and len(screens_by_room) > 1:  # one room: the total says it all
        text += " (" + ", ".join(f"{room} {n}" for room, n in screens_by_room.items()) + ")"
    return text


ROOMS_LISTED = 20  # a chat message, not a directory: the rest are counted


def room_name(room: Room) -> str:
    return room.slug if room.title == room.slug else f"{room.title} ({room.slug})"


def rooms_line(rooms: list[Room], language: str = DEFAULT) -> str:
    shown = ", ".join(room_name(room) for room in rooms[:ROOMS_LISTED])
    more = t(language, "rooms.more", count=len(rooms) - ROOMS_LISTED) if len(rooms) > ROOMS_LISTED else ""
    return t(language, "rooms", rooms=shown, more=more)


def room_text(current: Room, rooms: list[Room], how: str, language: str = DEFAULT) -> str:
    return t(language, "room.current", room=room_name(current), rooms=rooms_line(rooms, language), how=how)


def room_switched_text(room: Room, language: str = DEFAULT) -> str:
    return t(language, "room.switched", room=room_name(room))


def unknown_room_text(wanted: str, rooms: list[Room], language: str = DEFAULT) -> str:
    # Echoed only when it looks like a slug: anything else may be garbage (or markup).
    if ROOM_SLUG.fullmatch(wanted):
        return t(language, "room.unknown", room=wanted, rooms=rooms_line(rooms, language))
    return t(language, "room.unknown_garbage", rooms=rooms_line(rooms, language))


def room_here_text(room: Room, how: str, language: str = DEFAULT) -> str:
    return t(language, "room.here", room=room_name(room), how=how)


# -- the live controls from the moderators' chat: each answer names the room it changed --

QUOTED_CHARS = 32  # a word that is no room is quoted to help, never whole: it may be long garbage


def wrong_room_text(own: Room, language: str = DEFAULT) -> str:
    return t(language, "room.wrong", room=room_name(own))


def not_a_room_text(word: str, rooms: list[Room], own: Room | None, how: str = "",
                    language: str = DEFAULT) -> str:
    """A command's word that names no room; `own`: the chat's room (None: the global chat)."""
    quoted = word if len(word) <= QUOTED_CHARS else word[:QUOTED_CHARS] + "…"
    where = rooms_line(rooms, language) if own is None else t(language, "room.controls", room=room_name(own))
    usage = t(language, "usage", how=how) if how else ""
    return t(language, "room.not_a_room", word=quoted, where=where, usage=usage)


def paused_text(room: Room, was: bool, language: str = DEFAULT) -> str:
    return t(language, "control.paused_already" if was else "control.paused", room=room_name(room))


def resumed_text(room: Room, was: bool, language: str = DEFAULT) -> str:
    return t(language, "control.resumed_already" if was else "control.resumed", room=room_name(room))


def cleared_text(room: Room, language: str = DEFAULT) -> str:
    return t(language, "control.cleared", room=room_name(room))


def announced_text(room: Room, language: str = DEFAULT) -> str:
    if room.announcement is None:
        return t(language, "control.unpinned", room=room_name(room))
    return t(language, "control.pinned", room=room_name(room), text=room.announcement)


def lottery_text(room: Room, winners: list[tuple[str, str]], pool: int, language: str = DEFAULT) -> str:
    """`winners`: (author, source) pairs, in draw order."""
    names = "\n".join(f"{n}. {author} ({source})" for n, (author, source) in enumerate(winners, 1))
    return t(language, "lottery.drawn", room=room_name(room), count=len(winners), pool=pool, names=names)


def winner_text(room_title: str, language: str = DEFAULT) -> str:
    return t(language, "lottery.winner", room=room_title)


DIGEST_TEXT_CHARS = 80  # a digest is a summary: the repeated text is cut, not quoted whole


def digest_text(room: Room, digest: dict[str, Any], language: str = DEFAULT) -> str:
    """A room's digest (Digest.to_dict()), as a few lines; counts of zero are left out."""
    none = t(language, "digest.none")

    def counts(found: dict[str, int], said: Callable[[str], str] = str) -> str:
        return ", ".join(f"{said(key)} {count}" for key, count in found.items() if count) or none

    def status(value: str) -> str:
        return t(language, "status." + value) if value in STATUSES else value

    senders = ", ".join(f"{s['author']} ({s['count']})" for s in digest["top_senders"]) or none
    minute, repeated = digest["busiest_minute"], digest["most_repeated"]
    busiest = none
    if minute:
        when = minute["minute"][:16].replace("T", " ")
        busiest = t(language, "digest.minute", minute=when, count=minute["count"])
    text = f"“{_cut(repeated['text'])}” ({repeated['count']}×)" if repeated else none
    return t(language, "digest", room=room_name(room), total=digest["total"],
             by_status=counts(digest["by_status"], status), by_source=counts(digest["by_source"]),
             senders=senders, busiest=busiest, repeated=text)


def _cut(text: str) -> str:
    return text if len(text) <= DIGEST_TEXT_CHARS else text[:DIGEST_TEXT_CHARS - 1] + "…"


def blocked_word_text(word: str, rule_id: int, created: bool, language: str = DEFAULT) -> str:
    """/block's answer: rules hold in every room, so it says so."""
    return t(language, "words.blocked" if created else "words.blocked_already", word=word, id=rule_id)


def unblocked_word_text(word: str, rule_ids: list[int], language: str = DEFAULT) -> str:
    if not rule_ids:
        return t(language, "words.unblocked_none", word=word)
    rules = ", ".join(str(rule_id) for rule_id in rule_ids)
    key = "words.unblocked_many" if len(rule_ids) > 1 else "words.unblocked_one"
    return t(language, key, word=word, count=len(rule_ids), rules=rules)
