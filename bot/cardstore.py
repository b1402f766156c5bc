"""Where the card loops keep their state: cards posted, and senders told. The chat side's port.

The core's store holds barrages, events and settings only; this port is the
chat bookkeeping beside it, implemented in server/store/cards.py on the same
database. Undo is the one place the two meet: the core's store resets the
notice and drops card placeholders in the same transaction as the status
change, so a card loop never sees half an undo.

Several nodes may run the card loops at once (a lease changing hands), so each
piece of work is claimed first with a compare-and-set, and only the winner
calls the platform: a card is posted once, closed once per decision, and a
sender told once. A claim whose work failed is given back for the next pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from server.core.model import Barrage, Event, Source


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
        """Open cards whose barrage is decided (claims still being posted excepted)."""

    async def claim_post(self, barrage_id: int, platform: str) -> Card | None:
        """Claim posting the card for a pending barrage with none on `platform`: a card row with
        no message yet. None when it has one (claimed elsewhere) or is no longer pending."""

    async def record_post(
        self, card: Card, chat_id: str, message_id: str, shown_count: int | None = None
    ) -> None:
        """The claimed card is posted: keep where it is, open (an undo may have dropped the claim);
        closed when it shows `shown_count` senders and the barrage has more now (×N)."""

    async def drop_claim(self, card_id: int) -> None:
        """The post failed: give the claim back, so a later pass posts it."""

    async def drop_claims(self, platform: str) -> None:
        """Claims left by a holder that stopped mid-post: the new holder posts them again."""

    async def close_card(self, card_id: int) -> bool:
        """Mark the card closed; False when it was already (another node claimed the edit)."""

    async def cards_to_reopen(self, platform: str, limit: int) -> list[tuple[Card, Barrage]]:
        """Closed cards (with a message) whose barrage is pending again after an undo."""

    async def reopen_card(self, card_id: int) -> bool:
        """Mark the card open again; False when it already was."""

    async def cards_of(self, barrage_id: int, platform: str) -> list[Card]: ...

    async def barrage(self, barrage_id: int) -> Barrage | None:
        """The barrage as it is now (a card about to be edited shows its latest count)."""

    async def unnotified(
        self, source: Source, limit: int, decided_before: datetime | None = None
    ) -> list[Barrage]:
        """Decided barrages from `source` whose sender has not been told yet
        (decided before `decided_before`, when given; an expired one at once, as no
        undo can take an expiry back)."""

    async def mark_notified(self, barrage_id: int) -> bool:
        """Claim telling the sender: False when another pass has claimed it already."""

    async def unmark_notified(self, barrage_id: int) -> None:
        """Telling the sender failed: give the claim back."""

    async def draws_after(self, event_id: int, limit: int) -> list[Event]:
        """Lottery events after `event_id`, oldest first (every room's)."""

    async def latest_from(self, room: str, sender: str) -> Barrage | None:
        """The sender's latest barrage in the room that says where to answer them (its reply_to)."""

    async def claim_winner_notice(self, draw_id: str, sender: str) -> bool:
        """Claim telling this winner of this draw: False when it was claimed already (told)."""

    async def drop_winner_notice(self, draw_id: str, sender: str) -> None:
        """Telling them failed: give the claim back."""
