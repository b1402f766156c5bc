"""What the core needs from the outside: a store (the truth) and a publisher (fan-out)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from server.core.model import Barrage, Draft, Event, EventKind, Status


class Store(Protocol):
    async def add(self, draft: Draft, status: Status, now: datetime) -> tuple[Barrage, Event | None]:
        """Insert the barrage and its event in one transaction.

        With a `dedupe_key` already stored, return the stored barrage and no event.
        """

    async def decide(
        self, barrage_id: int, status: Status, moderator: str, now: datetime
    ) -> tuple[Barrage, Event]:
        """Compare-and-set pending → status, with its event, in one transaction.

        Raises NotFound or AlreadyDecided.
        """

    async def get(self, barrage_id: int) -> Barrage | None: ...

    async def list(self, status: Status | None, after_id: int, limit: int) -> list[Barrage]: ...

    async def events_after(
        self, event_id: int, kinds: Sequence[EventKind], limit: int
    ) -> list[Event]: ...

    async def last_event_id(self) -> int: ...

    async def get_setting(self, key: str) -> str | None: ...

    async def put_setting(
        self, key: str, value: str, event: tuple[EventKind, dict[str, Any]] | None
    ) -> Event | None:
        """Upsert the setting, with an event row (kind, payload) in the same transaction."""

    async def count(self, status: Status, decided_since: datetime | None = None) -> int: ...


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...
