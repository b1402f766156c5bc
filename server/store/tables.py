"""SQLModel tables: barrages, cards, settings and the append-only event log. A change here
needs an Alembic migration in server/migrations/versions (tests/store/test_migrations.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, String, Text
from sqlmodel import Field, SQLModel


class BarrageRow(SQLModel, table=True):
    __tablename__ = "barrage"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    author: str
    author_ref: str | None = None
    source: str = Field(index=True)
    color: str
    size: str
    status: str = Field(index=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    decided_by: str | None = None
    # Same delivery twice (a webhook retry) must land once: unique when set.
    dedupe_key: str | None = Field(default=None, unique=True)
    reply_to: str | None = None
    # Has the sender been told the decision? Drives the adapters' notices.
    notified: bool = Field(default=False, index=True)
    # Stable per person (web:<device>, telegram:<user>, slack:<team>:<user>). Added after
    # 0.1.0: adopting a 0.1.0 database adds it (ADDED_COLUMNS in schema.py).
    sender: str | None = Field(default=None, index=True)
    room: str = Field(sa_column=Column(String, nullable=False, index=True, server_default="main"))
    # Approved, then pulled off every screen (status `retracted`): by whom, and when.
    retracted_by: str | None = None
    retracted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # Moderation (migration 0004): why, what the filter flagged (a JSON list), the normalised
    # text that rules, "already sent" and ×N merging compare, and the ×N link and count.
    reason: str | None = Field(default=None, sa_column=Column(Text))
    flags: str = Field(sa_column=Column(Text, nullable=False, server_default="[]"))
    norm: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    merged_into: int | None = Field(default=None, index=True)
    merged_count: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))

    __table_args__ = (Index("ix_barrage_room_status_norm", "room", "status", "norm"),)


class FilterRuleRow(SQLModel, table=True):
    """A filter rule (server/core/filters.py): every change writes a `filters` event."""

    __tablename__ = "filter_rule"

    id: int | None = Field(default=None, primary_key=True)
    pattern: str = Field(sa_column=Column(Text, nullable=False))
    kind: str  # word | regex
    action: str  # block | review | replace | allow
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class MuteRow(SQLModel, table=True):
    """A muted sender (by sender key), until a moment or (null) until lifted."""

    __tablename__ = "mute"

    sender: str = Field(primary_key=True)
    until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    muted_by: str | None = None
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class MarkRow(SQLModel, table=True):
    """A short-lived mark (slow mode, "already sent"; server/store/marks.py): the nodes' shared
    marks when there is no Redis. Expired rows are swept."""

    __tablename__ = "mark"

    key: str = Field(primary_key=True)
    token: str
    expires_at: float = Field(sa_column=Column(Float, nullable=False, index=True))  # Unix seconds


class RoomRow(SQLModel, table=True):
    """A room's settings and live state; every change writes an event (the log is followed)."""

    __tablename__ = "room"

    slug: str = Field(primary_key=True)
    title: str
    join_text: str = Field(sa_column=Column(Text, nullable=False))
    mode: str
    crossing_seconds: float = Field(sa_column=Column(Float, nullable=False))
    paused: bool = Field(sa_column=Column(Boolean, nullable=False))
    announcement: str | None = Field(default=None, sa_column=Column(Text))


class CardRow(SQLModel, table=True):
    """A moderation card on a chat platform; open until edited to show the verdict."""

    __tablename__ = "card"

    id: int | None = Field(default=None, primary_key=True)
    barrage_id: int = Field(index=True)
    platform: str
    chat_id: str
    message_id: str
    closed: bool = Field(default=False, index=True)


class SettingRow(SQLModel, table=True):
    __tablename__ = "setting"

    key: str = Field(primary_key=True)
    value: str


class EventRow(SQLModel, table=True):
    """Append-only. Its id is the SSE id, so it must never be reused."""

    __tablename__ = "event"
    # AUTOINCREMENT on SQLite: ids are never reused, even after a crash.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    barrage_id: int | None = Field(default=None, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # Which room's streams it goes to (its payload's `room`): replays filter on it.
    room: str = Field(sa_column=Column(String, nullable=False, index=True, server_default="main"))
