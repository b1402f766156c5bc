"""The SQL implementation of the chat side's card store (bot/cardstore.py), on the core's engine.

Same database, same engine as `SqlStore`: its error handler (a full disk is
`Unavailable`) covers these statements too. The claims are compare-and-set
statements, so two nodes' card loops running at once (a lease changing hands)
still do each piece of work once.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, delete, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cardstore import Card
from server.core.model import MAX_ID, Barrage, Event, EventKind, Source, Status
from server.store.sql import BARRAGE, CARD, EVENT, SETTING, _barrage, _get

# A winner told of a draw: a row in the setting table (no table of its own), whose primary
# key lets one claimer win across nodes.
WINNER_TOLD = "lottery.told:"


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
        # A repeat (×N) has no card of its own: its first's shows the count.
        where = (BARRAGE.c.status == Status.PENDING.value, BARRAGE.c.merged_into.is_(None),
                 ~has_card.exists())
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(BARRAGE).where(*where).order_by(BARRAGE.c.id).limit(limit))
            found = [_barrage(row._mapping) for row in rows]
            total = (await conn.execute(select(func.count()).select_from(BARRAGE).where(*where))).scalar()
        return found, total or 0

    async def cards_to_close(self, platform: str, limit: int) -> list[tuple[Card, Barrage]]:
        return await self._with_barrages(
            select(CARD)
            .join(BARRAGE, BARRAGE.c.id == CARD.c.barrage_id)
            # A claim (no message yet) has nothing to edit: once posted it is open, and found then.
            .where(CARD.c.platform == platform, CARD.c.closed.is_(False), CARD.c.message_id != "",
                   BARRAGE.c.status != Status.PENDING.value)
            .order_by(CARD.c.id).limit(limit)
        )

    async def claim_post(self, barrage_id: int, platform: str) -> Card | None:
        has_card = select(CARD.c.id).where(CARD.c.barrage_id == barrage_id, CARD.c.platform == platform)
        claim = select(literal(barrage_id, Integer), literal(platform, String), literal("", String),
                       literal("", String), literal(False, Boolean)).where(~has_card.exists())
        columns = ["barrage_id", "platform", "chat_id", "message_id", "closed"]
        pending = select(BARRAGE.c.id).where(BARRAGE.c.id == barrage_id, BARRAGE.c.merged_into.is_(None),
                                             BARRAGE.c.status == Status.PENDING.value)
        async with self._engine.begin() as conn:
            # PostgreSQL: a second claimer waits on this row lock, and its INSERT, a statement
            # of its own (a fresh snapshot under READ COMMITTED), then sees the first claim.
            # SQLite renders no FOR UPDATE; there the INSERT … SELECT is one statement under
            # the database's single write lock, so the check and the insert are one step.
            if (await conn.execute(pending.with_for_update())).first() is None:
                return None
            result = await conn.execute(insert(CARD).from_select(columns, claim).returning(CARD.c.id))
            card_id = result.scalar()
        if card_id is None:
            return None
        return Card(id=card_id, barrage_id=barrage_id, platform=platform, chat_id="", message_id="")

    async def record_post(
        self, card: Card, chat_id: str, message_id: str, shown_count: int | None = None
    ) -> None:
        async with self._engine.begin() as conn:
            # A ×N repeat that joined while the card was on its way found no message to reopen:
            # a card posted with an older count is recorded closed, for the reopen pass to edit.
            now = (await conn.execute(select(BARRAGE.c.merged_count, BARRAGE.c.status)
                                      .where(BARRAGE.c.id == card.barrage_id))).first()
            stale = (shown_count is not None and now is not None and now.status == Status.PENDING.value
                     and now.merged_count != shown_count)
            values = {"chat_id": chat_id, "message_id": message_id, "closed": stale}
            found = await conn.execute(update(CARD).where(CARD.c.id == card.id).values(**values))
            if found.rowcount == 0:  # an undo dropped the claim meanwhile: the card is real all the same
                await conn.execute(insert(CARD).values(barrage_id=card.barrage_id, platform=card.platform,
                                                       **values))

    async def drop_claim(self, card_id: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(CARD).where(CARD.c.id == card_id, CARD.c.message_id == ""))

    async def drop_claims(self, platform: str) -> None:
        claims = (CARD.c.platform == platform, CARD.c.message_id == "", CARD.c.closed.is_(False))
        async with self._engine.begin() as conn:
            await conn.execute(delete(CARD).where(*claims))

    async def close_card(self, card_id: int) -> bool:
        return await self._set_closed(card_id, True)

    async def cards_to_reopen(self, platform: str, limit: int) -> list[tuple[Card, Barrage]]:
        return await self._with_barrages(
            select(CARD)
            .join(BARRAGE, BARRAGE.c.id == CARD.c.barrage_id)
            .where(CARD.c.platform == platform, CARD.c.closed.is_(True), CARD.c.message_id != "",
                   BARRAGE.c.status == Status.PENDING.value)
            .order_by(CARD.c.id).limit(limit)
        )

    async def reopen_card(self, card_id: int) -> bool:
        return await self._set_closed(card_id, False)

    async def cards_of(self, barrage_id: int, platform: str) -> list[Card]:
        if not 0 < barrage_id <= MAX_ID:
            return []
        query = select(CARD).where(CARD.c.barrage_id == barrage_id, CARD.c.platform == platform)
        async with self._engine.connect() as conn:
            return [_card(row._mapping) for row in await conn.execute(query.order_by(CARD.c.id))]

    async def barrage(self, barrage_id: int) -> Barrage | None:
        if not 0 < barrage_id <= MAX_ID:
            return None
        async with self._engine.connect() as conn:
            return await _get(conn, barrage_id)

    async def unnotified(
        self, source: Source, limit: int, decided_before: datetime | None = None
    ) -> list[Barrage]:
        query = (
            select(BARRAGE)
            .where(BARRAGE.c.source == source.value, BARRAGE.c.notified.is_(False),
                   BARRAGE.c.status != Status.PENDING.value)
            .order_by(BARRAGE.c.id).limit(limit)
        )
        if decided_before is not None:  # an expiry is never undone: no hold
            query = query.where(or_(BARRAGE.c.decided_at <= decided_before,
                                    BARRAGE.c.status == Status.EXPIRED.value))
        async with self._engine.connect() as conn:
            return [_barrage(row._mapping) for row in await conn.execute(query)]

    async def mark_notified(self, barrage_id: int) -> bool:
        return await self._set_notified(barrage_id, True)

    async def unmark_notified(self, barrage_id: int) -> None:
        await self._set_notified(barrage_id, False)

    async def _set_notified(self, barrage_id: int, notified: bool) -> bool:
        cas = update(BARRAGE).where(BARRAGE.c.id == barrage_id, BARRAGE.c.notified.is_(not notified))
        async with self._engine.begin() as conn:
            return (await conn.execute(cas.values(notified=notified))).rowcount == 1

    async def draws_after(self, event_id: int, limit: int) -> list[Event]:
        query = (select(EVENT.c.id, EVENT.c.payload)
                 .where(EVENT.c.id > min(event_id, MAX_ID), EVENT.c.kind == EventKind.LOTTERY.value)
                 .order_by(EVENT.c.id).limit(limit))
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [Event(row.id, EventKind.LOTTERY, json.loads(row.payload)) for row in rows]

    async def latest_from(self, room: str, sender: str) -> Barrage | None:
        query = (select(BARRAGE).where(BARRAGE.c.room == room, BARRAGE.c.sender == sender,
                                       BARRAGE.c.reply_to.is_not(None))
                 .order_by(BARRAGE.c.id.desc()).limit(1))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _barrage(row._mapping) if row else None

    async def claim_winner_notice(self, draw_id: str, sender: str) -> bool:
        key = f"{WINNER_TOLD}{draw_id}:{sender}"
        told = select(SETTING.c.key).where(SETTING.c.key == key)
        try:
            async with self._engine.begin() as conn:
                if (await conn.execute(told)).first() is not None:  # the common case, without an error
                    return False
                await conn.execute(insert(SETTING).values(key=key, value="told"))
        except IntegrityError:
            return False  # another node claimed it between the two statements
        return True

    async def drop_winner_notice(self, draw_id: str, sender: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(SETTING).where(SETTING.c.key == f"{WINNER_TOLD}{draw_id}:{sender}"))

    async def _with_barrages(self, query: Any) -> list[tuple[Card, Barrage]]:
        async with self._engine.connect() as conn:
            cards = [_card(row._mapping) for row in await conn.execute(query)]
            found = []
            for card in cards:
                if (barrage := await _get(conn, card.barrage_id)) is not None:
                    found.append((card, barrage))
            return found

    async def _set_closed(self, card_id: int, closed: bool) -> bool:
        cas = update(CARD).where(CARD.c.id == card_id, CARD.c.closed.is_(not closed))
        async with self._engine.begin() as conn:
            return (await conn.execute(cas.values(closed=closed))).rowcount == 1


def _card(row: Any) -> Card:
    return Card(id=row["id"], barrage_id=row["barrage_id"], platform=row["platform"],
                chat_id=row["chat_id"], message_id=row["message_id"])
