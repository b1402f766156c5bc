"""Reads that serve views: the moderation list, stream replays, stats (cosmicpython's `views`).

They decide nothing, so they bypass the domain service and read through the
store port. They live beside the ports, in the core, because the chat adapters
need them too (`/stats`, `/pending`), and those may import nothing of server/
but its core; they touch no SQL, so the core stays free of the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from server.core.digest import Digest
from server.core.model import Barrage, Event, EventKind, Mode, Status
from server.core.ports import Store

RECENT_DRAWS = 50


class Views:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def barrages(self, status: Status | None, after_id: int = 0, limit: int = 500,
                       room: str | None = None) -> list[Barrage]:
        return await self._store.list(status, after_id, limit, room)

    async def by_sender(self, sender: str, limit: int) -> list[Barrage]:
        return await self._store.by_sender(sender, limit)

    async def wins(self, sender: str) -> list[Event]:
        """The recent lottery draws that picked this sender, newest first.

        Only the latest `RECENT_DRAWS` draws are looked at: a win is news during the event,
        and the read stays one short indexed walk however many phones poll."""
        draws = await self._store.latest_events([EventKind.LOTTERY], RECENT_DRAWS)
        return [draw for draw in draws if sender in draw.payload.get("senders", ())]

    async def events_after(self, event_id: int, kinds: Sequence[EventKind], limit: int,
                           room: str | None = None, skip_retracted: bool = False) -> list[Event]:
        return await self._store.events_after(event_id, kinds, limit, room, skip_retracted)

    async def last_event_id(self) -> int:
        return await self._store.last_event_id()

    async def stats(self, mode: Mode, screens: int, room: str | None = None) -> dict[str, Any]:
        """Counts for moderators (of one room, when named); "today" starts at the server's
        local midnight."""
        midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        midnight = midnight.astimezone(UTC)  # SQLite compares stored UTC text: compare in UTC
        return {
            "mode": mode.value,
            "pending": await self._store.count(Status.PENDING, room=room),
            "approved_today": await self._store.count(Status.APPROVED, midnight, room),
            "screens": screens,
        }

    async def pending_by_room(self, rooms: Sequence[str]) -> dict[str, int]:
        """Each room's pending list, as moderators see it (a ×N counts once); rooms are few."""
        return {room: await self._store.count(Status.PENDING, room=room) for room in rooms}

    async def digest(self, room: str) -> Digest:
        return await self._store.digest(room)
