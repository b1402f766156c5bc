"""Domain values: a barrage, its status, and the events the log records."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETRACTED = "retracted"  # approved, then pulled off every screen by a moderator
    EXPIRED = "expired"  # pending past moderation.pending_ttl_seconds (or pushed out by max_pending)


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"

    @property
    def status(self) -> Status:
        return Status.APPROVED if self is Verdict.APPROVE else Status.REJECTED


class Size(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Source(StrEnum):
    WEB = "web"
    TELEGRAM = "telegram"
    SLACK = "slack"


class Mode(StrEnum):
    OFF = "off"        # no human review: only `block` rules and mutes refuse
    AUTO = "auto"      # the filter decides: blocked → rejected, flagged → pending, the rest → approved
    MANUAL = "manual"  # every barrage waits for a moderator; flags are shown on the card


class EventKind(StrEnum):
    """What the event log records. Every event belongs to one room (its payload's `room`);
    SCREEN_FIELDS says which kinds reach that room's public screen stream, and with what."""

    BARRAGE = "barrage"    # approved: fly it
    PENDING = "pending"    # waiting for a moderator
    REJECTED = "rejected"
    MODE = "mode"
    ROOM = "room"          # a room was created (its whole state)
    SETTINGS = "settings"  # a room's title, join text, crossing time or mode changed
    PAUSE = "pause"
    RESUME = "resume"
    CLEAR = "clear"
    RETRACT = "retract"
    ANNOUNCE = "announce"
    LOTTERY = "lottery"
    MERGE = "merge"        # an approved repeat joined a flying item: {"id": first id, "count": N}
    EXPIRED = "expired"    # pending too long: every desk and card drops it
    FILTERS = "filters"    # the filter rules changed: every process reloads them
    MUTES = "mutes"        # a sender was muted or unmuted: every process reloads the mutes


# Ids are PostgreSQL `integer`s: anything larger names nothing, and must never reach a
# query (asyncpg refuses to bind it). Every id from outside is checked against this.
MAX_ID = 2**31 - 1

AUTO = "auto"  # decided_by of a barrage approved at submission (moderation off)

# A barrage's `reason`, as its sender is told (never the matched word).
REASON_BLOCKED = "blocked word"
REASON_LINK = "link"
REASON_MUTED = "muted"
REASON_EXPIRED = "expired"
REASON_REVIEW = "held for review"  # flagged (a review rule, a link, the classifier): a human decides


def rejected_by(moderator: str) -> str:
    return f"rejected by {moderator}"


MAIN = "main"  # the room that always exists: what every URL means when it names none
ROOM_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")  # fullmatch

# Never `sender`: the screen is public, and the sender key tells who sent what.
# `count`: a first approved with its repeats (×N) flies once, showing how many sent it.
PUBLIC_FIELDS = ("id", "text", "author", "color", "size", "source", "created_at", "room", "count")
# What each kind shows a screen (the data of its SSE message); kinds not here are the
# moderators' only. The payloads carry more (the room, who did it) for the admin stream.
SCREEN_FIELDS: dict[EventKind, tuple[str, ...]] = {
    EventKind.BARRAGE: PUBLIC_FIELDS,
    EventKind.PAUSE: (),
    EventKind.RESUME: (),
    EventKind.CLEAR: (),
    EventKind.RETRACT: ("id",),
    EventKind.ANNOUNCE: ("text",),
    EventKind.SETTINGS: ("title", "join_text", "crossing_seconds"),
    EventKind.LOTTERY: ("draw_id", "winners", "pool"),
    EventKind.MERGE: ("id", "count"),
}


@dataclass(frozen=True)
class Draft:
    """A cleaned submission, ready to store."""

    text: str
    author: str
    color: str
    size: Size
    source: Source
    author_ref: str | None = None
    dedupe_key: str | None = None
    reply_to: str | None = None
    sender: str | None = None
    room: str = MAIN
    # What moderation found (server/core/normalize.py, the filter): kept with the barrage.
    norm: str = ""  # the normalised text: what rules, "already sent" and ×N merging compare
    flags: tuple[str, ...] = ()  # "link", "rule:<id>", "classifier"
    reason: str | None = None  # why it was not approved at once (told to the sender)

    def but(self, **changes: Any) -> Draft:
        """A copy with `changes`: what dataclasses.replace does, without re-running __init__
        field by field (5-9 µs a call, on every screened submission; this is under 1). It
        skips __init__, so a __post_init__ check added to Draft would need adding here."""
        unknown = changes.keys() - self.__dict__.keys()
        if unknown:
            raise TypeError(f"Draft has no field {sorted(unknown)}")
        copy = object.__new__(Draft)
        copy.__dict__.update(self.__dict__, **changes)
        return copy


@dataclass(frozen=True)
class Barrage:
    id: int
    text: str
    author: str
    color: str
    size: Size
    source: Source
    status: Status
    created_at: datetime
    author_ref: str | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    reply_to: str | None = None  # adapter-specific: where to tell the sender the outcome
    # Stable per person: web:<device id>, telegram:<user id>, slack:<team>:<user>.
    sender: str | None = None
    room: str = MAIN
    retracted_by: str | None = None  # who pulled it off the screens after approving it
    retracted_at: datetime | None = None
    # null, or why: "blocked word", "link", "muted", "expired", "rejected by Alice", ...
    reason: str | None = None
    flags: tuple[str, ...] = ()  # "link", "rule:<id>", "classifier"
    norm: str = ""  # the normalised text (never shown; not in the JSON)
    merged_into: int | None = None  # a repeat: the id of the first barrage it joined (×N)
    count: int = 1  # the first of a ×N: itself and every repeat merged into it

    @property
    def first_status(self) -> Status:
        """The status its sender was first told: decided at once (moderation off or auto, a
        blocked word), else pending."""
        if not self.auto_approved:
            return Status.PENDING
        return Status.REJECTED if self.status is Status.REJECTED else Status.APPROVED

    @property
    def auto_approved(self) -> bool:
        """Decided at submission (approved, or rejected by the filter): it never waited for
        anyone, so there is no decision to undo."""
        return self.decided_by == AUTO and self.decided_at == self.created_at

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "author": self.author,
            "color": self.color,
            "size": str(self.size),
            "source": str(self.source),
            "status": str(self.status),
            "created_at": iso(self.created_at),
            "sender": self.sender,
            "room": self.room,
            "reason": self.reason,
            "flags": list(self.flags),
            "count": self.count,
            "merged_into": self.merged_into,
        }
        if self.status is not Status.PENDING:
            data["decided_at"] = iso(self.decided_at) if self.decided_at else None
            data["decided_by"] = self.decided_by
        if self.status is Status.RETRACTED:
            data["retracted_by"] = self.retracted_by
            data["retracted_at"] = iso(self.retracted_at) if self.retracted_at else None
        return data


@dataclass(frozen=True)
class Event:
    """One row of the append-only event log; its id is the SSE id."""

    id: int
    kind: EventKind
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def room(self) -> str:
        """Events written before rooms existed belong to `main`."""
        return self.payload.get("room") or MAIN

    def public_payload(self) -> dict[str, Any]:
        fields = SCREEN_FIELDS.get(self.kind, ())
        return {key: self.payload[key] for key in fields if key in self.payload}


@dataclass(frozen=True)
class Room:
    """A wall of its own: its screens, its senders' chats, its moderation mode."""

    slug: str
    title: str
    join_text: str = ""  # empty: the default ("Join the wall: <url>", in the reader's language)
    mode: Mode = Mode.MANUAL
    crossing_seconds: float = 8.0
    paused: bool = False
    announcement: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"slug": self.slug, "title": self.title, "join_text": self.join_text,
                "mode": str(self.mode), "crossing_seconds": self.crossing_seconds,
                "paused": self.paused, "announcement": self.announcement}


@dataclass(frozen=True)
class Receipt:
    """What a submission came to; `created` is False for a repeated delivery."""

    barrage: Barrage
    created: bool
    # What its sender is told, when not its stored status: a shadow-muted sender hears what
    # anyone else would have (the mode's answer), though it was stored as rejected.
    told: Status | None = None


@dataclass(frozen=True)
class Mute:
    """A sender (by sender key) whose barrages are refused until `until` (None: until lifted)."""

    sender: str
    until: datetime | None
    reason: str | None = None
    muted_by: str | None = None

    def active(self, now: datetime) -> bool:
        return self.until is None or self.until > now

    def to_dict(self) -> dict[str, Any]:
        return {"sender": self.sender, "until": iso(self.until) if self.until else None,
                "reason": self.reason}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
