"""Leases (bot/lease.py) on the database the nodes share, so "one node" needs no other service.

- PostgreSQL: a session-level `pg_try_advisory_lock` on one dedicated connection
  per node (`application_name = 'barrage-lease'`). PostgreSQL releases a
  session's advisory locks the moment the session ends, so a holder killed with
  `kill -9` (its socket closed by the kernel) frees them at once. Advisory locks
  are per database: two deployments on two databases never meet.
- A SQLite file: `flock` on a file beside it; the kernel drops the lock with the
  holder's last descriptor, so at its death too.
- SQLite in memory: one process by definition (bot/lease.py LocalLeases).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.lease import LocalLeases

APPLICATION_NAME = "barrage-lease"
CHECK_TIMEOUT_SECONDS = 5.0  # a holder that cannot hear from its database within this is not one


def lease_key(name: str) -> int:
    """The advisory lock key for `name`: 64 bits of its hash, as PostgreSQL's bigint."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PgLeases:
    """A node's leases, all on one connection: if it dies they are all lost, and all say so."""

    def __init__(self, url: str) -> None:
        connect_args = {}
        if make_url(url).get_driver_name() == "asyncpg":
            connect_args = {"server_settings": {"application_name": APPLICATION_NAME}}
        # Autocommit: the connection never sits idle in a transaction; the locks are the
        # session's, not a transaction's, so no commit or rollback drops them.
        self._engine: AsyncEngine = create_async_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=connect_args)
        self._conn: AsyncConnection | None = None
        self._session = 0  # bumped per connection: a lease taken on an earlier one is gone
        self._turn = asyncio.Lock()  # one statement at a time on the connection

    def __call__(self, name: str) -> PgLease:
        return PgLease(self, name)

    async def close(self) -> None:
        async with self._turn:
            await self._drop()
        await self._engine.dispose()

    async def run(self, sql: str, key: int, connect: bool = True) -> tuple[bool, int]:
        """`sql`'s boolean answer for `key` and the session it ran in."""
        async with self._turn:
            if self._conn is None:
                if not connect:
                    return False, self._session
                self._conn = await self._engine.connect()
                self._session += 1
            try:
                async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                    answer = (await self._conn.execute(text(sql), {"key": key})).scalar()
            except BaseException:
                await self._drop()  # whatever it held, PostgreSQL lets go with the session
                raise
            return bool(answer), self._session

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                await conn.invalidate()


class PgLease:
    def __init__(self, leases: PgLeases, name: str) -> None:
        self.name = name
        self._leases = leases
        self._key = lease_key(name)
        self._session: int | None = None  # where we hold it

    async def acquire(self) -> bool:
        if self._session is not None:
            return await self.held()
        got, session = await self._leases.run("SELECT pg_try_advisory_lock(:key)", self._key)
        self._session = session if got else None
        return got

    async def held(self) -> bool:
        if self._session is None:
            return False
        # Our own session still holds it (not merely: the connection answers).
        sql = ("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
               " AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = :key)")
        try:
            ok, session = await self._leases.run(sql, self._key, connect=False)
        except Exception:
            self._session = None
            raise
        if not ok or session != self._session:
            self._session = None
        return self._session is not None

    async def release(self) -> None:
        if self._session is None:
            return
        self._session = None
        await self._leases.run("SELECT pg_advisory_unlock(:key)", self._key, connect=False)


class FileLeases:
    """Leases for the nodes on one SQLite file: lock files beside it."""

    def __init__(self, database: Path) -> None:
        self._database = database

    def __call__(self, name: str) -> FileLease:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        return FileLease(name, self._database.with_name(f"{self._database.name}.lease-{digest}"))

    async def close(self) -> None:
        return None  # each lease is released by its holder; the files stay for the next start


class FileLease:
    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self._path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Non-blocking: answers at once. The lock belongs to this open file, so two
            # leases in one process exclude each other as two processes do.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    async def held(self) -> bool:
        return self._fd is not None  # nothing but our own release takes a flock away

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the lock


ChatLeases = PgLeases | FileLeases | LocalLeases


def create_leases(url: str) -> ChatLeases:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return PgLeases(url)
    if parsed.database in (None, "", ":memory:"):
        return LocalLeases()
    return FileLeases(Path(parsed.database))
