"""Where the card loops keep their state: cards posted, and senders told. The chat side's port.

The core's store holds barrages, events and settings only; this port is the
chat bookkeeping beside it, implemented in server/store/cards.py on the same
database. Undo is the one place the two meet: the core's store resets the
notice and drops card placeholders in the same transaction as the status
change, so a card loop never sees half an undo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from server.core.model import Barrage, Source


@dataclass(frozen=True)
class Card:
    """A moderation card posted on a chat platform, kept so any decision can edit it."""

    id: int
    barrage_id: int
    platform: str
    chat_id: str
    message_id: str


class CardStore(Protocol):
    async def add_card(
        self, barrage_id: int, platform: str, chat_id: str, message_id: str, closed: bool = False
    ) -> Card:
        """A card posted, or (`closed`, no message) a placeholder for one that could not be."""

    async def pending_without_card(self, platform: str, limit: int) -> tuple[list[Barrage], int]:
        """The oldest pending barrages with no card on `platform`, and how many there are."""

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
