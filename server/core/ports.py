"""What the core needs from the outside: a store (the truth) and a publisher (fan-out)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from server.core.model import Barrage, Card, Draft, Event, EventKind, Source, Status


class Store(Protocol):
    """The truth. Within one process the service relies on the writes that append events
    (add, add_many, decide, undo, put_setting) returning in commit order, which is id order:
    server/store/batching.py makes them one at a time."""

    async def add(self, draft: Draft, status: Status, now: datetime) -> tuple[Barrage, Event | None]:
        """Insert the barrage and its event in one transaction.

        With a `dedupe_key` already stored, return the stored barrage and no event.
        Raises RateLimited when too many submissions already wait for a commit.
        """

    async def add_many(
        self, items: Sequence[tuple[Draft, Status]], now: datetime
    ) -> list[tuple[Barrage, Event | None]]:
        """`add` for several submissions in one transaction, results in the same order."""

    async def decide(
        self, barrage_id: int, status: Status, moderator: str, now: datetime
    ) -> tuple[Barrage, Event]:
        """Compare-and-set pending → status, with its event, in one transaction.

        Raises NotFound or AlreadyDecided (carrying the stored barrage).
        """

    async def undo(
        self, barrage_id: int, decided_after: datetime, now: datetime
    ) -> tuple[Barrage, Event | None]:
        """Compare-and-set decided → pending for a moderator's decision made after
        `decided_after`, with a `pending` event, in one transaction. Notices are reset
        and card placeholders dropped, so the chat platforms follow.

        The CAS lost: the stored barrage and no event. Raises NotFound.
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

    async def by_dedupe_key(self, key: str) -> Barrage | None: ...

    async def forget_dedupe_key(self, key: str, barrage_id: int) -> None:
        """Let `key` name a new barrage: it no longer names barrage `barrage_id`."""

    async def add_card(
        self, barrage_id: int, platform: str, chat_id: str, message_id: str, closed: bool
    ) -> Card: ...

    async def pending_without_card(self, platform: str, limit: int) -> tuple[list[Barrage], int]: ...

    async def cards_to_close(self, platform: str, limit: int) -> list[tuple[Card, Barrage]]:
        """Open cards whose barrage is decided."""

    async def close_card(self, card_id: int) -> None: ...

    async def cards_to_reopen(self, platform: str, limit: int) -> list[tuple[Card, Barrage]]:
        """Closed cards (with a message) whose barrage is pending again after an undo."""

    async def reopen_card(self, card_id: int) -> None: ...

    async def cards_of(self, barrage_id: int, platform: str) -> list[Card]: ...

    async def unnotified(
        self, source: Source, limit: int, decided_before: datetime | None = None
    ) -> list[Barrage]:
        """Decided barrages from `source` whose sender has not been told yet
        (decided before `decided_before`, when given)."""

    async def mark_notified(self, barrage_id: int) -> None: ...


class RateWindows(Protocol):
    """Per-minute counting windows, shared by every process that uses the same backend."""

    async def acquire(self, limits: Sequence[tuple[str, int]]) -> tuple[int, float] | None:
        """Count one event against every (key, per-minute limit) when each has room: None.

        Otherwise count nothing, and return the index of the limit that refused and
        the seconds until it has room again.
        """

    async def waiting(self, key: str, limit: int) -> float:
        """Seconds until `key` has room under `limit` (0: now). Counts nothing."""


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...
