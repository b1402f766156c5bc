"""Group commit: a decorator of the core's Store that writes for the whole process."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.core.errors import RateLimited
from server.core.model import Barrage, Draft, Event, EventKind, Status
from server.core.ports import Store

logger = logging.getLogger(__name__)

MAX_BATCH = 500     # submissions per transaction
MAX_QUEUED = 5000   # waiting for a commit; past this, submissions are refused (429), not queued

Added = tuple[Barrage, Event | None]


@dataclass(eq=False)
class _Add:
    draft: Draft
    status: Status
    now: datetime
    done: asyncio.Future[Added]


@dataclass(eq=False)
class _Write:
    run: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any]


class BatchingStore:
    """The core's Store, with every write that appends to the event log (add, decide,
    undo, put_setting) made by one writer task, in arrival order, one transaction at a
    time. Submissions that arrive while a commit is in flight wait, and go into the
    next transaction together (one multi-row insert): that is how SQLite persists
    thousands a second.

    Event ids therefore commit in id order within this process, and each caller's
    result is handed over in that order (futures resolved one after another, and asyncio
    wakes their waiters first in, first out): callers resume in id order, which lets the
    service publish in id order.

    Reads, and writes that append no event, pass straight through to the wrapped store.
    """

    def __init__(self, inner: Store, max_batch: int = MAX_BATCH, max_queued: int = MAX_QUEUED) -> None:
        self._inner = inner
        self._max_batch = max_batch
        self._max_queued = max_queued
        self._queue: deque[_Add | _Write] = deque()
        self._writer: asyncio.Task[None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def add(self, draft: Draft, status: Status, now: datetime) -> Added:
        if len(self._queue) >= self._max_queued:
            raise RateLimited("the wall is very busy; try again in a moment", retry_after=1)
        return await self._wait(_Add(draft, status, now, _future()))

    async def add_many(self, items: Sequence[tuple[Draft, Status]], now: datetime) -> list[Added]:
        return await self._one(lambda: self._inner.add_many(items, now))

    async def decide(
        self, barrage_id: int, status: Status, moderator: str, now: datetime
    ) -> tuple[Barrage, Event]:
        return await self._one(lambda: self._inner.decide(barrage_id, status, moderator, now))

    async def undo(self, barrage_id: int, decided_after: datetime, now: datetime) -> Added:
        return await self._one(lambda: self._inner.undo(barrage_id, decided_after, now))

    async def put_setting(
        self, key: str, value: str, event: tuple[EventKind, dict[str, Any]] | None
    ) -> Event | None:
        return await self._one(lambda: self._inner.put_setting(key, value, event))

    async def drain(self) -> None:
        """Wait until everything queued is written (at shutdown, before the database closes)."""
        if self._writer is not None:
            await asyncio.wait([self._writer])

    async def _one(self, run: Callable[[], Awaitable[Any]]) -> Any:
        return await self._wait(_Write(run, _future()))

    async def _wait(self, job: _Add | _Write) -> Any:
        self._queue.append(job)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all())
        try:
            return await job.done
        except asyncio.CancelledError:
            if job in self._queue:  # not taken into a commit yet: do not write it later
                self._queue.remove(job)
            raise

    async def _write_all(self) -> None:
        try:
            while self._queue:
                if isinstance(head := self._queue[0], _Write):
                    self._queue.popleft()
                    await _settle([head], _listed(head.run()))
                else:
                    await self._commit(self._next_batch())
        finally:
            self._writer = None

    def _next_batch(self) -> list[_Add]:
        batch: list[_Add] = []
        while self._queue and isinstance(head := self._queue[0], _Add) and len(batch) < self._max_batch:
            batch.append(head)
            self._queue.popleft()
        return batch

    async def _commit(self, batch: list[_Add]) -> None:
        # The newest submission's time: the batch commits no earlier than any of them.
        now = max(job.now for job in batch)
        await _settle(batch, self._inner.add_many([(job.draft, job.status) for job in batch], now))


async def _settle(jobs: Sequence[_Add | _Write], transaction: Awaitable[Sequence[Any]]) -> None:
    """Await one transaction, then resolve the jobs in order with its results, or fail
    every one of them with its error."""
    try:
        results = await transaction
        for job, result in zip(jobs, results, strict=True):
            if not job.done.done():  # its caller may have been cancelled meanwhile
                job.done.set_result(result)
    except Exception as exc:
        _fail(jobs, exc)
    finally:
        # Cancelled mid-commit (shutdown): nobody may wait forever on a popped job.
        _fail(jobs, RuntimeError("the submission was interrupted; please send it again"))


async def _listed(write: Awaitable[Any]) -> list[Any]:
    return [await write]


def _fail(jobs: Sequence[_Add | _Write], error: Exception) -> None:
    for job in jobs:
        if not job.done.done():
            job.done.set_exception(error)


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()
