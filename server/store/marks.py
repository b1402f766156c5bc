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
milliseconds, far below the seconds these marks last. Run-out rows are deleted in the
background by each node that reserves, at most once every SWEEP_SECONDS, so the table holds
about one row per active sender and text.

It costs one statement per mark on the submission's path (slow mode off, the default: one,
for "already sent"). On PostgreSQL that is one round trip: the marks have an engine of their
own (`SqlMarks.for_database`) in autocommit, with no ping or reset around each use, and the table is
UNLOGGED (migration 0005), so its commits wait for no WAL flush; a crash empties it, which
only lets a sender repeat themselves once. Measured here (2,000 reservations, local
PostgreSQL): p50 0.64 ms, p99 0.82 ms, against p50 2.4 ms through the store's engine (a
transaction, a ping and a reset: five round trips) and 0.29 ms for the bare upsert on asyncpg.

When the database cannot be reached (refused, silent past TIMEOUT_SECONDS, or the marks' pool
busy past POOL_TIMEOUT), each call is answered from this process's memory (the marks still
hold per node) and says so in one rate-limited log line; the submission's own store then
decides whether it is accepted. A pooled connection the server dropped is replaced once
before that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import delete, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from server.core.errors import Unavailable
from server.logs import limit_repeats
from server.marks import MemoryMarks
from server.store.tables import MarkRow

logger = limit_repeats(logging.getLogger(__name__))

SWEEP_SECONDS = 10.0
# PostgreSQL: the marks' own pool. Each reservation holds a connection for one statement, so a
# few serve a node's submissions; past them a burst waits POOL_TIMEOUT, then counts in memory.
POOL_SIZE = 3
POOL_OVERFLOW = 2
POOL_TIMEOUT = 1.0
TIMEOUT_SECONDS = 2.0  # to connect, and per statement: a silent server is given up on
T = TypeVar("T")
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
        self._sweeping: asyncio.Task[None] | None = None
        self._fallback = MemoryMarks()

    @classmethod
    def for_database(cls, url: str, store_engine: AsyncEngine) -> SqlMarks:
        """PostgreSQL: an engine for the marks alone, in autocommit, small and quick to give up
        (a burst waits POOL_TIMEOUT for a connection, a silent server TIMEOUT_SECONDS, then the
        call counts in memory). SQLite: the store's own (one writer at a time: a second
        engine would only wait on the first one's lock); its errors are the store's
        (`Unavailable`, a 503), as the submission's own write would be."""
        if store_engine.dialect.name != "postgresql":
            return cls(store_engine)
        engine = create_async_engine(
            url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW, pool_timeout=POOL_TIMEOUT,
            connect_args={"timeout": TIMEOUT_SECONDS, "command_timeout": TIMEOUT_SECONDS})
        return cls(engine, autocommit=True, owned=True)

    async def close(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            await asyncio.gather(self._sweeping, return_exceptions=True)
        if self._owned:
            await self._engine.dispose()

    async def reserve(self, key: str, token: str, seconds: float) -> float:
        self._sweep_when_due()
        try:
            return await self._run(self._reserve, key, token, seconds)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("slow mode and repeats counted in this process only: database unreachable (%s)",
                           type(exc).__name__)
            return await self._fallback.reserve(key, token, seconds)

    async def release(self, key: str, token: str) -> None:
        try:
            await self._run(self._delete, key, token)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("a mark could not be released (%s); it runs out on its own", type(exc).__name__)
        await self._fallback.release(key, token)

    async def _run(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`work(conn, *args)`; once more on a fresh connection when the pooled one was dead
        (a PostgreSQL restart or failover, a proxy that closes idle connections): with no ping
        before each use, the first use after is how the pool finds out."""
        for attempt in range(2):
            try:
                async with self._begin() as conn:
                    return await work(conn, *args)
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt:
                    raise
        raise AssertionError("unreachable")

    async def _reserve(self, conn: AsyncConnection, key: str, token: str, seconds: float) -> float:
        now = self._clock()
        taken = await conn.execute(UPSERT, {"key": key, "token": token, "expires": now + seconds, "now": now})
        if taken.first() is not None:
            return 0.0
        expires = (await conn.execute(LEFT, {"key": key})).scalar()
        # Gone meanwhile (its holder released it): taken a moment ago, so refuse for a moment.
        # At most `seconds`: a holder whose clock was read after ours set it a moment later.
        return min(max((expires or now) - now, 0.001), seconds)

    async def _delete(self, conn: AsyncConnection, key: str, token: str) -> None:
        await conn.execute(delete(TABLE).where(TABLE.c.key == key, TABLE.c.token == token))

    def _sweep_when_due(self) -> None:
        """Delete the run-out rows beside the submissions, never on one's path, at most once
        every SWEEP_SECONDS and one sweep at a time."""
        now = self._clock()
        if now < self._next_sweep or (self._sweeping is not None and not self._sweeping.done()):
            return
        self._next_sweep = now + SWEEP_SECONDS
        self._sweeping = asyncio.get_running_loop().create_task(self._sweep(now))

    async def _sweep(self, now: float) -> None:
        # Its own statement: two nodes sweeping at once may deadlock on each other's rows, and
        # that must cost a sweep, never a reservation.
        try:
            await self._run(self._delete_before, now)
        except (SQLAlchemyError, OSError) as exc:  # the next sweep deletes them
            logger.warning("run-out marks were not swept (%s)", type(exc).__name__)
        except Unavailable:  # SQLite: the store's error handler's (logged there)
            pass

    async def _delete_before(self, conn: AsyncConnection, now: float) -> None:
        await conn.execute(delete(TABLE).where(TABLE.c.expires_at < now))
