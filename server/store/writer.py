"""Where a submission's transaction runs: whole, in one hop from the event loop.

A group commit on SQLite through the async engine (aiosqlite) hops to aiosqlite's thread and
back for every step of every statement (open a cursor, execute, fetch, close; then commit):
about fifteen hops for one submission's insert, ×N look-up, event append and commit, 2.3 ms
of the 3 ms a POST took (bench/RESULTS.md, issue 14), while the same work in SQLite itself
is a few tens of microseconds. So on SQLite the transaction is a plain function of a
synchronous connection, run whole on a thread of the store's own: one hop there, one back.

Why a thread and not the loop itself: a commit that checkpoints the WAL syncs the file, and
one that meets another process's write lock waits for it (busy_timeout): either would stall
every stream for as long. The thread's one connection serialises its transactions; the
group commit (server/store/batching.py) already sends it one at a time.

PostgreSQL (asyncpg), and SQLite in memory (one connection, the async engine's), run the same
function through `run_sync` on the async engine: no thread, the statements awaited in turn.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy import event as sa_event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from server.core.errors import Unavailable

T = TypeVar("T")
Work = Callable[[Connection], T]
# SQLite's own busy timeout (PRAGMA busy_timeout, set on connect) bounds a wait for the lock.
CONNECT_ARGS = {"timeout": 30}


class Transactions(Protocol):
    engines: tuple[Engine, ...]  # the sync engines of its own, for the store's event listeners

    async def run(self, work: Work[T]) -> T:
        """`work(conn)` in one transaction: committed when it returns, rolled back if it raises."""
        ...

    async def close(self) -> None: ...


class Awaited:
    """The async engine's own transaction; `work` through run_sync (PostgreSQL, SQLite in memory)."""

    engines: tuple[Engine, ...] = ()

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def run(self, work: Work[T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def close(self) -> None:
        return None


class OnThread:
    """SQLite on a file: `work` on a thread of its own, with its own connection to the file."""

    def __init__(self, url: URL, on_connect: Callable[[Any, Any], None]) -> None:
        self.engine = create_engine(url.set(drivername="sqlite"), connect_args=CONNECT_ARGS,
                                    pool_size=1, max_overflow=0, pool_reset_on_return=None)
        sa_event.listen(self.engine, "connect", on_connect)
        self.engines = (self.engine,)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._closed = False

    async def run(self, work: Work[T]) -> T:
        if self._closed:  # shutting down: the request is answered 503, the database is untouched
            raise Unavailable()
        # In the caller's context, as asyncio.to_thread runs: a line logged there keeps its request id.
        in_context = functools.partial(contextvars.copy_context().run, self._transaction, work)
        return await asyncio.get_running_loop().run_in_executor(self._thread, in_context)

    def _transaction(self, work: Work[T]) -> T:
        with self.engine.begin() as conn:
            return work(conn)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # On the thread that made the connection; a transaction under way finishes first.
        await asyncio.get_running_loop().run_in_executor(self._thread, self.engine.dispose)
        self._thread.shutdown(wait=False)
