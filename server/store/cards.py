"""The SQL implementation of the chat side's card store (bot/cardstore.py), on the core's engine.

Same database, same engine as `SqlStore`: its error handler (a full disk is
`Unavailable`) covers these statements too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cardstore import Card
from server.core.model import MAX_ID, Barrage, Source, Status
from server.store.sql import BARRAGE, CARD, _barrage, _get


class SqlCards:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_card(
        self, barrage_id: int, platform: str, chat_id: str, message_id: str, closed: bool = False
    ) -> Card:
        values = {"barrage_id": barrage_id, "platform": platform, "chat_id": chat_id,
                  "message_id": message_id, "closed": closed}
        async with self._engine.begin() as conn:
            result = await conn.execute(insert(CARD).values(**values))
        return _card({**values, "id": result.inserted_primary_key[0]})

    async def pending_without_card(self, platform: str, limit: int) -> tuple[list[Barrage], int]:
        has_card = select(CARD.c.id).where(CARD.c.barrage_id == BARRAGE.c.id, CARD.c.platform == platform)
        where = (BARRAGE.c.status == Status.PENDING.value, ~has_card.exists())
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(BARRAGE).where(*where).order_by(BARRAGE.c.id).limit(limit))
            found = [_barrage(row._mapping) for row in rows]
            total = (await conn.execute(select(func.count()).select_from(BARRAGE).where(*where))).scalar()
        return found, total or 0

    async def cards_to_close(self, platform: str, limit: int) -> list[tuple[Card, Barrage]]:
        return await self._with_barrages(
            select(CARD)
            .join(BARRAGE, BARRAGE.c.id == CARD.c.barrage_id)
            .where(CARD.c.platform == platform, CARD.c.closed.is_(False),
                   BARRAGE.c.status != Status.PENDING.value)
            .order_by(CARD.c.id).limit(limit)
        )

    async def close_card(self, card_id: int) -> None:
        await self._set_closed(card_id, True)

    async def cards_to_reopen(self, platform: str, limit: int) -> list[tuple[Card, Barrage]]:
        return await self._with_barrages(
            select(CARD)
            .join(BARRAGE, BARRAGE.c.id == CARD.c.barrage_id)
            .where(CARD.c.platform == platform, CARD.c.closed.is_(True), CARD.c.message_id != "",
                   BARRAGE.c.status == Status.PENDING.value)
            .order_by(CARD.c.id).limit(limit)
        )

    async def reopen_card(self, card_id: int) -> None:
        await self._set_closed(card_id, False)

    async def cards_of(self, barrage_id: int, platform: str) -> list[Card]:
        if not 0 < barrage_id <= MAX_ID:
            return []
        query = select(CARD).where(CARD.c.barrage_id == barrage_id, CARD.c.platform == platform)
        async with self._engine.connect() as conn:
            return [_card(row._mapping) for row in await conn.execute(query.order_by(CARD.c.id))]

    async def unnotified(
        self, source: Source, limit: int, decided_before: datetime | None = None
    ) -> list[Barrage]:
        query = (
            select(BARRAGE)
            .where(BARRAGE.c.source == source.value, BARRAGE.c.notified.is_(False),
                   BARRAGE.c.status != Status.PENDING.value)
            .order_by(BARRAGE.c.id).limit(limit)
        )
        if decided_before is not None:
            query = query.where(BARRAGE.c.decided_at <= decided_before)
        async with self._engine.connect() as conn:
            return [_barrage(row._mapping) for row in await conn.execute(query)]

    async def mark_notified(self, barrage_id: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(BARRAGE).where(BARRAGE.c.id == barrage_id).values(notified=True))

    async def _with_barrages(self, query: Any) -> list[tuple[Card, Barrage]]:
        async with self._engine.connect() as conn:
            cards = [_card(row._mapping) for row in await conn.execute(query)]
            found = []
            for card in cards:
                if (barrage := await _get(conn, card.barrage_id)) is not None:
                    found.append((card, barrage))
            return found

    async def _set_closed(self, card_id: int, closed: bool) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(CARD).where(CARD.c.id == card_id).values(closed=closed))


def _card(row: Any) -> Card:
    return Card(id=row["id"], barrage_id=row["barrage_id"], platform=row["platform"],
                chat_id=row["chat_id"], message_id=row["message_id"])
