"""Group commit: a decorator of the core's Store that writes for the whole process."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from server.core.errors import RateLimited
from server.core.model import Barrage, Draft, Event, EventKind, Mute, Room, Status
from server.core.ports import Publisher, Store
from server.core.rules import Rule, RuleSpec

logger = logging.getLogger(__name__)

MAX_BATCH = 500     # submissions per transaction
MAX_QUEUED = 5000   # waiting for a commit; past this, submissions are refused (429), not queued
# A commit under way when its caller is cancelled is waited for this long at most: longer than
# SQLite's busy timeout (30 s), so one waiting for another process's lock ends first.
SEE_THROUGH_SECONDS = 35.0

T = TypeVar("T")

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
    """The core's Store with group commit, and the unit of work that publishes.

    Within this process the writes that append to the event log (add, add_many, decide,
    undo, retract, expire, put_setting, mute, unmute, the filter rules' writes) are made one at a
    time, in arrival order, and submissions that arrive while a commit is in flight go into the next
    transaction together (one multi-row insert). That is how SQLite persists thousands a second.

    Every caller queues its write and waits its turn in one first-in, first-out line
    (an asyncio.Lock). Whoever has the turn writes the head of the queue: its own write,
    with the submissions queued right behind it. A caller whose write someone else made
    leaves the line in its turn.

    Each commit's events are published right after the commit, still holding the turn,
    so the stream's ids never go backwards: events commit in id order and publish in
    the same order. Publishing here rather than in the service costs no second line for
    the callers to queue in (it was measurable in the ingest benchmark), and it keeps
    the service to the domain. A failed publish is logged and not raised: the database
    already holds the event, and streams recover it by replay.

    Reads, and writes that append no event, pass straight through to the wrapped store.
    """

    def __init__(self, inner: Store, publisher: Publisher, max_batch: int = MAX_BATCH,
                 max_queued: int = MAX_QUEUED) -> None:
        self._inner = inner
        self._publisher = publisher
        self._max_batch = max_batch
        self._max_queued = max_queued
        self._queue: deque[_Add | _Write] = deque()
        self._turn = asyncio.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def add(self, draft: Draft, status: Status, now: datetime) -> Added:
        if len(self._queue) >= self._max_queued:
            raise RateLimited("the wall is very busy; try again in a moment", retry_after=1)
        return await self._wait(_Add(draft, status, now, _future()))

    async def add_many(self, items: Sequence[tuple[Draft, Status]], now: datetime) -> list[Added]:
        return await self._one(lambda: self._inner.add_many(items, now))

    async def decide(
        self, barrage_id: int, status: Status, moderator: str, now: datetime, reason: str | None = None
    ) -> tuple[Barrage, Event]:
        return await self._one(lambda: self._inner.decide(barrage_id, status, moderator, now, reason))

    async def retract(self, barrage_id: int, moderator: str, now: datetime) -> tuple[Barrage, Event]:
        return await self._one(lambda: self._inner.retract(barrage_id, moderator, now))

    async def undo(self, barrage_id: int, decided_after: datetime, now: datetime) -> Added:
        return await self._one(lambda: self._inner.undo(barrage_id, decided_after, now))

    async def expire(
        self, deadline: datetime | None, max_pending: int, now: datetime, limit: int
    ) -> list[tuple[Barrage, Event]]:
        return await self._one(lambda: self._inner.expire(deadline, max_pending, now, limit))

    async def put_setting(
        self, key: str, value: str, event: tuple[EventKind, dict[str, Any]] | None
    ) -> Event | None:
        return await self._one(lambda: self._inner.put_setting(key, value, event))

    async def add_room(
        self, room: Room, event: tuple[EventKind, dict[str, Any]]
    ) -> tuple[Room, Event | None]:
        return await self._one(lambda: self._inner.add_room(room, event))

    async def update_room(
        self, slug: str, changes: dict[str, Any], event: tuple[EventKind, dict[str, Any]],
        only_if_changed: bool = False,
    ) -> tuple[Room, Event | None]:
        return await self._one(lambda: self._inner.update_room(slug, changes, event, only_if_changed))

    async def append(self, kind: EventKind, payload: dict[str, Any]) -> Event:
        return await self._one(lambda: self._inner.append(kind, payload))

    async def mute(self, mute: Mute, now: datetime) -> Event:
        return await self._one(lambda: self._inner.mute(mute, now))

    async def unmute(self, sender: str, now: datetime) -> Event | None:
        return await self._one(lambda: self._inner.unmute(sender, now))
    async def add_filter_rule(self, spec: RuleSpec, by: str) -> tuple[Rule, Event]:
        return await self._one(lambda: self._inner.add_filter_rule(spec, by))

    async def delete_filter_rule(self, rule_id: int, by: str) -> tuple[Rule, Event]:
        return await self._one(lambda: self._inner.delete_filter_rule(rule_id, by))

    async def seed_filter_rules(self, specs: Sequence[RuleSpec]) -> tuple[int, Event | None]:
        return await self._one(lambda: self._inner.seed_filter_rules(specs))

    async def _one(self, run: Callable[[], Awaitable[Any]]) -> Any:
        return await self._wait(_Write(run, _future()))

    async def _wait(self, job: _Add | _Write) -> Any:
        self._queue.append(job)
        try:
            async with self._turn:
                while not job.done.done():
                    await self._write_head()
        except asyncio.CancelledError:
            if job in self._queue:  # not taken into a commit yet: do not write it later
                self._queue.remove(job)
            elif job.done.done() and not job.done.cancelled():
                job.done.exception()  # its outcome goes unread: no "never retrieved" line
            raise
        return job.done.result()

    async def _write_head(self) -> None:
        if isinstance(head := self._queue[0], _Write):
            self._queue.popleft()
            await self._settle([head], _listed(head.run()))
            return
        batch = self._next_batch()
        now = max(job.now for job in batch)  # the newest: no earlier than any submission
        await self._settle(batch, self._inner.add_many([(job.draft, job.status) for job in batch], now))

    def _next_batch(self) -> list[_Add]:
        batch: list[_Add] = []
        while self._queue and isinstance(head := self._queue[0], _Add) and len(batch) < self._max_batch:
            batch.append(head)
            self._queue.popleft()
        return batch


    async def _settle(self, jobs: Sequence[_Add | _Write], transaction: Awaitable[Sequence[Any]]) -> None:
        """Await one transaction, publish its events in id order and resolve the jobs
        with its results; or fail every one of them with its error.

        A cancel (shutdown, a handler given up on) does not stop a transaction under way: on
        SQLite it runs on the writer's thread and commits regardless. So the transaction is
        seen through (_see_through), still holding the turn, its jobs told how it went and its
        events published, before the cancel goes on. Told "interrupted" instead, a sender would
        send it twice."""
        cancelled = False
        try:
            running, cancelled = await _see_through(transaction)
            if running.done():
                cancelled |= await self._resolve(jobs, running)
        finally:
            # Given up on (SEE_THROUGH_SECONDS): nobody may wait forever on a popped job.
            _fail(jobs, RuntimeError("the submission was interrupted; please send it again"))
        if cancelled:
            raise asyncio.CancelledError

    async def _resolve(self, jobs: Sequence[_Add | _Write], done: asyncio.Future[Sequence[Any]]) -> bool:
        """Tell the jobs, then publish; whether a cancel came meanwhile."""
        try:
            results = done.result()
        except Exception as exc:
            _fail(jobs, exc)
            return False
        for job, result in zip(jobs, results, strict=True):
            job.done.set_result(result)  # committed: never told "interrupted" below
        cancelled = False
        for result in results:
            for event in _events_of(result):
                try:
                    await self._publish(event)
                except asyncio.CancelledError:
                    # This one may not have gone out (other nodes read it from the log, as for
                    # any publish that failed); the rest still do, in order. No task per event.
                    cancelled = True
        return cancelled

    async def _publish(self, event: Event) -> None:
        try:
            await self._publisher.publish(event)
        except Exception:
            # The database already holds the event: streams recover it by replay.
            logger.exception("publishing event %s failed", event.id)


async def _see_through(work: Awaitable[T]) -> tuple[asyncio.Future[T], bool]:
    """`work` run to its end though the caller is cancelled meanwhile, once or again; after a
    cancel, for SEE_THROUGH_SECONDS at most, then it is cancelled too. The future (done unless
    given up on), and whether a cancel came."""
    running = asyncio.ensure_future(work)
    running.add_done_callback(_retrieve)
    loop, give_up_at = asyncio.get_running_loop(), None
    while not running.done():
        left = None if give_up_at is None else give_up_at - loop.time()
        if left is not None and left <= 0:
            running.cancel()
            break
        try:
            await asyncio.wait([running], timeout=left)
        except asyncio.CancelledError:
            give_up_at = give_up_at or loop.time() + SEE_THROUGH_SECONDS
    return running, give_up_at is not None


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Its exception is handled by whoever reads it, or by nobody on purpose (given up on):
    never an "exception was never retrieved" line."""
    if not done.cancelled():
        done.exception()


def _events_of(result: Any) -> list[Event]:
    """The events one write appended: a (barrage, event) pair, a list of them
    (add_many), or put_setting's event."""
    if isinstance(result, list):
        return [event for item in result for event in _events_of(item)]
    event = result[1] if isinstance(result, tuple) else result
    return [event] if isinstance(event, Event) else []


async def _listed(write: Awaitable[Any]) -> list[Any]:
    return [await write]


def _fail(jobs: Sequence[_Add | _Write], error: Exception) -> None:
    for job in jobs:
        if not job.done.done():
            job.done.set_exception(error)


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()
