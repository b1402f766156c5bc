"""Rooms: what each one is (title, join text, mode, crossing time) and its live state
(paused, the pinned announcement), the same on every process.

The database is the truth: a room is a row, and every change to it is written with an
event in the same transaction. Every process follows the log (the bus hands each event
over once, in id order, gaps filled from the log) and applies the change to its copy, so
a change made on one node holds on all of them as soon as their buses deliver it; a node
that starts late reads the table. As with a setting, each room remembers the event id it
is current as of, so a late or repeated event changes nothing.

Rooms are seeded at start from the config's `[[rooms]]` (and `main` from the global
defaults): each missing one is created, an existing one is left as it is, so changes made
at runtime survive a restart, and a room added to the config later appears on the next.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from server.core.errors import InvalidInput, NotFound, RoomExists
from server.core.model import MAIN, ROOM_SLUG, Event, EventKind, Mode, Room
from server.core.ports import Store

logger = logging.getLogger(__name__)

# An older database stored main's mode here (before rooms): an upgrade keeps it.
LEGACY_MODE_KEY = "moderation.mode"
MAX_TITLE = 100
MAX_JOIN_TEXT = 200
MAX_ANNOUNCEMENT = 200
MIN_CROSSING, MAX_CROSSING = 1.0, 60.0
NEVER = -1
# Room fields a PATCH may change, and the event each change is written with.
EDITABLE = ("title", "join_text", "mode", "crossing_seconds")


def check_slug(slug: object) -> str:
    if not isinstance(slug, str) or not ROOM_SLUG.fullmatch(slug):
        raise InvalidInput("room must be 1-32 characters: a-z, 0-9 and -, starting with a letter or digit")
    return slug


def check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Editable fields from outside (the API, the config), checked; unknown keys refused."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"unknown room field {sorted(unknown)[0]!r}; a room has {', '.join(EDITABLE)}")
    checked: dict[str, Any] = {}
    for key, value in fields.items():
        checked[key] = _CHECKS[key](value)
    return checked


def _text(name: str, limit: int) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str) or len(value) > limit or not value.isprintable():
            raise InvalidInput(f"{name} must be a string of at most {limit} printable characters")
        return value.strip()

    return check


def check_announcement(text: object) -> str:
    """A pinned line: printable, trimmed, 1 to MAX_ANNOUNCEMENT characters."""
    if not isinstance(text, str) or len(text) > MAX_ANNOUNCEMENT or not text.isprintable():
        raise InvalidInput(f"text must be a string of at most {MAX_ANNOUNCEMENT} printable characters, "
                           "or null to remove the announcement")
    if not text.strip():
        raise InvalidInput("text is empty; send null to remove the announcement")
    return text.strip()


def _mode(value: object) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise InvalidInput("mode must be " + " or ".join(f'"{m.value}"' for m in Mode)) from None


def _crossing(value: object) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not MIN_CROSSING <= value <= MAX_CROSSING:  # type: ignore[operator]
        raise InvalidInput(f"crossing_seconds must be a number from {MIN_CROSSING:g} to {MAX_CROSSING:g}")
    return float(value)  # type: ignore[arg-type]


_CHECKS: dict[str, Callable[[object], Any]] = {
    "title": _text("title", MAX_TITLE), "join_text": _text("join_text", MAX_JOIN_TEXT),
    "mode": _mode, "crossing_seconds": _crossing,
}


def _applied(room: Room, event: Event) -> Room | None:
    """The room after `event`, or None when the event does not change a room."""
    payload = event.payload
    match event.kind:
        case EventKind.ROOM:
            return _room_from(payload)
        case EventKind.SETTINGS:
            changes = {k: payload[k] for k in EDITABLE if k in payload}
            if "mode" in changes:
                changes["mode"] = Mode(changes["mode"])
            return dataclasses.replace(room, **changes)
        case EventKind.MODE:
            return dataclasses.replace(room, mode=Mode(payload["mode"]))
        case EventKind.PAUSE | EventKind.RESUME:
            return dataclasses.replace(room, paused=event.kind is EventKind.PAUSE)
        case EventKind.ANNOUNCE:
            return dataclasses.replace(room, announcement=payload.get("text"))
    return None


def _room_from(payload: Mapping[str, Any]) -> Room:
    return Room(slug=payload["slug"], title=payload["title"], join_text=payload["join_text"],
                mode=Mode(payload["mode"]), crossing_seconds=float(payload["crossing_seconds"]),
                paused=bool(payload["paused"]), announcement=payload.get("announcement"))


class Rooms:
    """Every room, as of the log; and the writes that change one."""

    def __init__(self, store: Store, defaults: Room, seeds: Iterable[Room] = ()) -> None:
        self._store = store
        self._defaults = defaults  # main's, and what a new room takes for what it leaves out
        self._seeds = list(seeds)
        self._rooms: dict[str, Room] = {}
        self._as_of: dict[str, int] = {}

    @classmethod
    def main_only(cls, store: Store, mode: Mode = Mode.MANUAL) -> Rooms:
        """A wall of one room, main, with the default settings (and this mode)."""
        return cls(store, Room(MAIN, MAIN, mode=mode))

    def get(self, slug: str | None) -> Room:
        """The room (main when none is named); NotFound for one that does not exist."""
        room = self._rooms.get(slug or MAIN)
        if room is None:  # a slug is echoed back; anything else is not (it may be garbage)
            raise NotFound(f"no room {slug}" if ROOM_SLUG.fullmatch(str(slug)) else "no such room")
        return room

    def exists(self, slug: str) -> bool:
        return slug in self._rooms

    def all(self) -> list[Room]:
        return sorted(self._rooms.values(), key=lambda room: (room.slug != MAIN, room.slug))

    async def load(self) -> None:
        """Create main and the configured rooms when missing, then read them all."""
        seeds = {MAIN: self._defaults} | {room.slug: room for room in self._seeds}
        mode = await self._store.get_setting(LEGACY_MODE_KEY)
        if mode in {m.value for m in Mode}:  # chosen at runtime before rooms: it stays
            seeds[MAIN] = dataclasses.replace(seeds[MAIN], mode=Mode(mode))  # type: ignore[arg-type]
        for room in seeds.values():
            await self._store.add_room(room, (EventKind.ROOM, _room_event(room, "config")))
        as_of = await self._store.last_event_id()  # before the read: it is at least this new
        for room in await self._store.rooms():
            self._take(room, as_of)

    def on_event(self, event: Event) -> None:
        """Bus handler: follow the changes every process writes."""
        slug = event.room
        current = self._rooms.get(slug)
        if current is None and event.kind is not EventKind.ROOM:
            return
        changed = _applied(current or self._defaults, event)
        if changed is not None:
            self._take(changed, event.id)

    def _take(self, room: Room, as_of: int) -> None:
        if as_of > self._as_of.get(room.slug, NEVER):
            self._rooms[room.slug], self._as_of[room.slug] = room, as_of

    async def create(self, slug: object, fields: Mapping[str, Any], by: str) -> Room:
        room = dataclasses.replace(self._defaults, slug=check_slug(slug), title=str(slug),
                                   join_text="", paused=False, announcement=None)
        room = dataclasses.replace(room, **check_fields(fields))
        stored, event = await self._store.add_room(room, (EventKind.ROOM, _room_event(room, by)))
        if event is None:
            raise RoomExists(f"room {room.slug} exists already")
        self._take(stored, event.id)
        logger.info("room %s created by %s", stored.slug, by)
        return stored

    async def update(self, slug: str, fields: Mapping[str, Any], by: str) -> Room:
        """PATCH: title, join text, mode, crossing time; one `settings` event."""
        self.get(slug)
        changes = check_fields(fields)
        if not changes:
            return self.get(slug)
        payload = {"room": slug, **{k: str(v) if k == "mode" else v for k, v in changes.items()}, "by": by}
        return await self._write(slug, changes, EventKind.SETTINGS, payload)

    async def set_mode(self, slug: str, mode: object, by: str) -> Room:
        self.get(slug)
        new = _mode(mode)
        return await self._write(slug, {"mode": new.value}, EventKind.MODE,
                                 {"room": slug, "mode": new.value, "by": by})

    async def pause(self, slug: str, by: str) -> Room:
        """No new item starts flying on the room's screens. A paused room stays as it is."""
        return (await self.set_paused(slug, True, by))[0]

    async def resume(self, slug: str, by: str) -> Room:
        return (await self.set_paused(slug, False, by))[0]

    async def set_paused(self, slug: str, paused: bool, by: str) -> tuple[Room, bool]:
        """Pause or resume; and whether that changed anything (False: it already was)."""
        kind = EventKind.PAUSE if paused else EventKind.RESUME
        return await self._set_paused(slug, paused, kind, by)

    async def clear(self, slug: str, by: str) -> Room:
        """Every item leaves the room's screens: an event, no column changes."""
        self.get(slug)
        return await self._write(slug, {}, EventKind.CLEAR, {"room": slug, "by": by})

    async def announce(self, slug: str, text: object, by: str) -> Room:
        """Pin one line at the top of the room's screens; None removes it."""
        self.get(slug)
        checked = None if text is None else check_announcement(text)
        return await self._write(slug, {"announcement": checked}, EventKind.ANNOUNCE,
                                 {"room": slug, "text": checked, "by": by})

    async def _set_paused(self, slug: str, paused: bool, kind: EventKind, by: str) -> tuple[Room, bool]:
        # A repeated click (or another node's) writes nothing. The database decides that:
        # this process's copy may not have heard of another node's pause yet.
        self.get(slug)
        values = {"paused": paused}
        room, event = await self._store.update_room(slug, values, (kind, {"room": slug, "by": by}), True)
        if event is not None:  # else nothing changed: the log's event brings this row here
            self._take(room, event.id)
        return room, event is not None

    async def _write(self, slug: str, changes: dict[str, Any], kind: EventKind,
                     payload: dict[str, Any]) -> Room:
        values = {k: v.value if isinstance(v, Mode) else v for k, v in changes.items()}
        room, event = await self._store.update_room(slug, values, (kind, payload))
        assert event is not None  # written unconditionally
        self._take(room, event.id)
        return room


def _room_event(room: Room, by: str) -> dict[str, Any]:
    return {"room": room.slug, **room.to_dict(), "by": by}
