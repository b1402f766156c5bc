"""Marks in the database: the core's `Marks` port (slow mode, "already sent") for nodes that
share a PostgreSQL bus and no Redis, so a sender's clocks hold whichever node takes the
submission. With Redis the composition root uses server/marks_redis.py instead; with one
process, server/marks.py.

A reservation is one upsert on the `mark` table, `INSERT … ON CONFLICT (key) DO UPDATE …
WHERE mark.expires_at <= now RETURNING key`: a row comes back only when the key was free or
had run out, and the primary key makes two nodes' inserts take turns, so exactly one of them
gets it. When it is taken, the row's `expires_at` says how long it has left. A release deletes
the row only while it still holds the releaser's token.

Times are Unix seconds from each node's clock: nodes kept in step by NTP agree to a few
milliseconds, far below the seconds these marks last. Run-out rows are deleted by whichever
node reserves next, at most once every SWEEP_SECONDS, so the table holds about one row per
active sender and text.

It costs one statement per mark on the submission's path (slow mode off, the default: one,
for "already sent"). On PostgreSQL that is one round trip: the marks have an engine of their
own (`SqlMarks.for_database`) in autocommit, with no ping or reset around each use, and the table is
UNLOGGED (migration 0005), so its commits wait for no WAL flush; a crash empties it, which
only lets a sender repeat themselves once. Measured here (2,000 reservations, local
PostgreSQL): p50 0.64 ms, p99 0.82 ms, against p50 2.4 ms through the store's engine (a
transaction, a ping and a reset: five round trips) and 0.29 ms for the bare upsert on asyncpg.

When the database cannot be reached, each call is answered from this process's memory
(the marks still hold per node) and says so in one rate-limited log line; the submission's
own store then decides whether it is accepted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import delete, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from server.logs import limit_repeats
from server.marks import MemoryMarks
from server.store.tables import MarkRow

logger = limit_repeats(logging.getLogger(__name__))

SWEEP_SECONDS = 10.0
TABLE = MarkRow.__table__  # type: ignore[attr-defined]
# Plain SQL, the same on PostgreSQL and SQLite (3.35+): built once, where the ORM's insert
# construct cost a quarter of a millisecond a call to build and key for its cache.
UPSERT = text(
    "INSERT INTO mark (key, token, expires_at) VALUES (:key, :token, :expires) "
    "ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at "
    "WHERE mark.expires_at <= :now RETURNING key")
LEFT = text("SELECT expires_at FROM mark WHERE key = :key")


class SqlMarks:
    """`engine`, `autocommit`: see the module's docstring; `for_database` picks them."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time,
                 autocommit: bool = False, owned: bool = False) -> None:
        self._engine = engine
        self._owned = owned  # made for the marks: disposed with them
        # Autocommit: each statement commits itself; otherwise a transaction around each call.
        self._begin = engine.connect if autocommit else engine.begin
        self._clock = clock
        self._next_sweep = 0.0
        self._fallback = MemoryMarks()

    @classmethod
    def for_database(cls, url: str, store_engine: AsyncEngine) -> SqlMarks:
        """PostgreSQL: an engine for the marks alone, in autocommit. SQLite: the store's own
        (one writer at a time: a second engine would only wait on the first one's lock)."""
        if store_engine.dialect.name != "postgresql":
            return cls(store_engine)
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None,
                                     pool_size=5, max_overflow=20)
        return cls(engine, autocommit=True, owned=True)

    async def close(self) -> None:
        if self._owned:
            await self._engine.dispose()

    async def reserve(self, key: str, token: str, seconds: float) -> float:
        await self._sweep()
        try:
            async with self._begin() as conn:
                return await self._reserve(conn, key, token, seconds)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("slow mode and repeats counted in this process only: database unreachable (%s)",
                           type(exc).__name__)
            return await self._fallback.reserve(key, token, seconds)

    async def release(self, key: str, token: str) -> None:
        try:
            async with self._begin() as conn:
                await conn.execute(delete(TABLE).where(TABLE.c.key == key, TABLE.c.token == token))
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("a mark could not be released (%s); it runs out on its own", type(exc).__name__)
        await self._fallback.release(key, token)

    async def _reserve(self, conn: AsyncConnection, key: str, token: str, seconds: float) -> float:
        now = self._clock()
        taken = await conn.execute(UPSERT, {"key": key, "token": token, "expires": now + seconds, "now": now})
        if taken.first() is not None:
            return 0.0
        expires = (await conn.execute(LEFT, {"key": key})).scalar()
        # Gone meanwhile (its holder released it): taken a moment ago, so refuse for a moment.
        # At most `seconds`: a holder whose clock was read after ours set it a moment later.
        return min(max((expires or now) - now, 0.001), seconds)

    async def _sweep(self) -> None:
        """Delete the run-out rows, in a transaction of its own: two nodes sweeping at once may
        deadlock on each other's rows, and that must cost a sweep, never a reservation."""
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_SECONDS
        try:
            async with self._begin() as conn:
                await conn.execute(delete(TABLE).where(TABLE.c.expires_at < now))
        except (SQLAlchemyError, OSError) as exc:  # the next sweep deletes them
            logger.warning("run-out marks were not swept (%s)", type(exc).__name__)
