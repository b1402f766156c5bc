"""Domain values: a barrage, its status, and the events the log records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    # Room for later: EXPIRED (never decided in time), RETRACTED (pulled from screen).


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
    OFF = "off"
    MANUAL = "manual"


class EventKind(StrEnum):
    """What the event log records. Only BARRAGE goes to the public screen stream."""

    BARRAGE = "barrage"    # approved: fly it
    PENDING = "pending"    # waiting for a moderator
    REJECTED = "rejected"
    MODE = "mode"


# Ids are PostgreSQL `integer`s: anything larger names nothing, and must never reach a
# query (asyncpg refuses to bind it). Every id from outside is checked against this.
MAX_ID = 2**31 - 1

AUTO = "auto"  # decided_by of a barrage approved at submission (moderation off)

# Never `sender`: the screen is public, and the sender key tells who sent what.
PUBLIC_FIELDS = ("id", "text", "author", "color", "size", "source", "created_at")


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

    @property
    def first_status(self) -> Status:
        """The status its sender was first told: approved at once (moderation off), else pending."""
        return Status.APPROVED if self.auto_approved else Status.PENDING

    @property
    def auto_approved(self) -> bool:
        """Approved at submission: it never waited for anyone, so there is no decision to undo."""
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
        }
        if self.status is not Status.PENDING:
            data["decided_at"] = iso(self.decided_at) if self.decided_at else None
            data["decided_by"] = self.decided_by
        return data


@dataclass(frozen=True)
class Event:
    """One row of the append-only event log; its id is the SSE id."""

    id: int
    kind: EventKind
    payload: dict[str, Any] = field(default_factory=dict)

    def public_payload(self) -> dict[str, Any]:
        return {key: self.payload[key] for key in PUBLIC_FIELDS if key in self.payload}


@dataclass(frozen=True)
class Receipt:
    """What a submission came to; `created` is False for a repeated delivery."""

    barrage: Barrage
    created: bool


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
