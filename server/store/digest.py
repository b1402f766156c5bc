"""A room's digest in SQL: every figure is a GROUP BY, so the barrages never leave the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import desc, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.core.digest import TOP_SENDERS, Digest
from server.store.tables import BarrageRow

BARRAGE = BarrageRow.__table__
MINUTE_FORMAT = "%Y-%m-%d %H:%M"


async def read(conn: AsyncConnection, room: str) -> Digest:
    return Digest(
        room=room,
        by_status=await _counts(conn, room, BARRAGE.c.status),
        by_source=await _counts(conn, room, BARRAGE.c.source),
        top_senders=await _top_senders(conn, room),
        busiest_minute=await _busiest_minute(conn, room),
        most_repeated=await _most_repeated(conn, room),
    )


async def _counts(conn: AsyncConnection, room: str, column: Any) -> dict[str, int]:
    query = select(column, func.count()).where(BARRAGE.c.room == room).group_by(column)
    return {key: count for key, count in await conn.execute(query)}


async def _top_senders(conn: AsyncConnection, room: str) -> list[tuple[str, int]]:
    count = func.count().label("n")
    mine = (BARRAGE.c.room == room, BARRAGE.c.sender.is_not(None))
    top = [(row.sender, row.n) for row in await conn.execute(
        select(BARRAGE.c.sender, count).where(*mine).group_by(BARRAGE.c.sender)
        .order_by(desc(count), BARRAGE.c.sender).limit(TOP_SENDERS))]
    # A sender is shown by the name on their latest barrage (a name can change; the key cannot).
    latest = (select(func.max(BARRAGE.c.id)).where(*mine, BARRAGE.c.sender.in_([s for s, _ in top]))
              .group_by(BARRAGE.c.sender))
    query = select(BARRAGE.c.sender, BARRAGE.c.author).where(BARRAGE.c.id.in_(latest))
    names = {row.sender: row.author for row in await conn.execute(query)}
    return [(names[sender], n) for sender, n in top]


def _minute(conn: AsyncConnection) -> Any:
    """The minute a barrage was sent in, as "YYYY-MM-DD HH:MM" UTC text."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", BARRAGE.c.created_at), "YYYY-MM-DD HH24:MI")
    return func.substr(BARRAGE.c.created_at, 1, 16)  # SQLite stores UTC as "YYYY-MM-DD HH:MM:SS…"


async def _busiest_minute(conn: AsyncConnection, room: str) -> tuple[datetime, int] | None:
    minute, count = _minute(conn).label("minute"), func.count().label("n")
    query = (select(minute, count).where(BARRAGE.c.room == room).group_by(minute)
             .order_by(desc(count), minute).limit(1))
    row = (await conn.execute(query)).first()
    return (datetime.strptime(row.minute, MINUTE_FORMAT).replace(tzinfo=UTC), row.n) if row else None


async def _most_repeated(conn: AsyncConnection, room: str) -> tuple[str, int] | None:
    count = func.count().label("n")
    query = (select(BARRAGE.c.text, count).where(BARRAGE.c.room == room).group_by(BARRAGE.c.text)
             .order_by(desc(count), func.min(BARRAGE.c.id)).limit(1))  # a tie: the first said
    row = (await conn.execute(query)).first()
    return (row.text, row.n) if row else None
