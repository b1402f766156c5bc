"""Work that must run on one node only: a lease, and the loop that holds it.

Several `barrage serve` processes share one database. Telegram allows one
getUpdates poller per bot, and the card loops must not post or edit the same
card twice, so each of them runs only while its node holds a lease. The
composition root hands in a `Leases` factory (server/store/lease.py: an
advisory lock on PostgreSQL, a file lock beside a SQLite file); either is
dropped by the database or the kernel the moment its holder dies, `kill -9`
included, so a dead node never keeps one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

logger = logging.getLogger(__name__)

# Non-holders try again this often, and the holder checks it still holds the lease as
# often: a dead holder's work resumes on another node within about this long.
RETRY_SECONDS = 2.0


class Lease(Protocol):
    name: str  # for logs: never carries a secret (see `secret_key`)

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; True while this holder has it."""

    async def held(self) -> bool:
        """Still ours (the connection that holds it is alive); False once lost."""

    async def release(self) -> None:
        """Give it up; harmless when not held."""


Leases = Callable[[str], Lease]


class LocalLeases:
    """Leases among the tasks of one process (one process alone, SQLite in memory, tests)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def __call__(self, name: str) -> LocalLease:
        return LocalLease(self, name)

    async def close(self) -> None:
        return None


class LocalLease:
    def __init__(self, leases: LocalLeases, name: str) -> None:
        self.name = name
        self._leases = leases
        self._mine = False

    async def acquire(self) -> bool:
        if not self._mine and self.name not in self._leases.taken:
            self._leases.taken.add(self.name)
            self._mine = True
        return self._mine

    async def held(self) -> bool:
        return self._mine

    async def release(self) -> None:
        if self._mine:
            self._mine = False
            self._leases.taken.discard(self.name)


def secret_key(prefix: str, secret: str) -> str:
    """A lease name for work keyed by a secret (a bot token): a hash, so the name can be logged."""
    return f"{prefix}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"


Work = Callable[[], Awaitable[float | None]]


async def while_held(lease: Lease, work: Work, retry_seconds: float = RETRY_SECONDS) -> None:
    """Forever: take the lease when it is free, run `work` while it is ours, stop it once lost.

    `work` may also return by itself to step down (Telegram's 409: another poller
    is alive), with how long this node should then rest; the lease is released at
    once, for any other node to take.
    """
    while True:
        rest = None
        if await _ask(lease, lease.acquire):
            logger.info("lease %s taken: this node runs its work", lease.name)
            try:
                rest = await _run_while_held(lease, work, retry_seconds)
            finally:
                await _quietly(lease.release)
            logger.info("lease %s given up", lease.name)
        await asyncio.sleep(max(rest or 0.0, retry_seconds))


async def _run_while_held(lease: Lease, work: Work, check_seconds: float) -> float | None:
    task = asyncio.create_task(work(), name=f"lease-{lease.name}")
    try:
        while not task.done():
            await asyncio.wait([task], timeout=check_seconds)
            if not task.done() and not await _ask(lease, lease.held):
                logger.warning("lease %s lost: stopping this node's work", lease.name)
                break
    finally:
        task.cancel()
        await asyncio.wait([task])
    if task.cancelled():
        return None
    if (error := task.exception()) is not None:
        logger.error("work under lease %s failed", lease.name, exc_info=error)
        return None
    return task.result()


async def _ask(lease: Lease, question: Callable[[], Awaitable[bool]]) -> bool:
    """A database that cannot answer means "not held": the next round asks again."""
    try:
        return await question()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.warning("lease %s: %s", lease.name, type(exc).__name__)
        return False


async def _quietly(release: Callable[[], Awaitable[None]]) -> None:
    try:
        await release()
    except Exception as exc:  # the lease is gone with its connection anyway
        logger.warning("releasing a lease failed: %s", type(exc).__name__)
