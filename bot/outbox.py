"""A bounded outbound queue for chat replies, so a burst never blocks a submission.

Jobs are coroutine factories run by a few workers. A job that fails with a
transient error (the adapter's `retry_after` says how long to wait) is
retried a few times; then it is logged and dropped. Overflow policy: when
`maxsize` jobs are waiting, a new job is refused and logged — replies are
courtesy; cards and decision notices are driven from the database instead
(see bot/cards.py) and cannot be lost this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]
RetryAfter = Callable[[Exception], float | None]
Errors = tuple[type[Exception], ...]
NETWORK_RETRY_SECONDS = 1.0


def retry_rule(limited: RetryAfter, refused: Errors, transient: Errors) -> RetryAfter:
    """Every platform's rule, in its own exception types: wait as long as a rate
    limit says (`limited`), give up on a refusal (a bad request, no access), and
    retry a network failure after a second. Anything else is not retried."""

    def retry_after(exc: Exception) -> float | None:
        if (wait := limited(exc)) is not None:
            return wait
        if isinstance(exc, refused) or not isinstance(exc, transient):
            return None
        return NETWORK_RETRY_SECONDS

    return retry_after


class Outbox:
    def __init__(self, name: str, retry_after: RetryAfter, maxsize: int = 1000,
                 workers: int = 4, attempts: int = 4) -> None:
        self._name = name
        self._retry_after = retry_after
        self._queue: asyncio.Queue[tuple[str, Job]] = asyncio.Queue(maxsize)
        self._workers_wanted = workers
        self._attempts = attempts
        self._workers: list[asyncio.Task[None]] = []
        self.dropped = 0
        self.retries = 0  # jobs run again after a transient failure (metrics)

    @property
    def waiting(self) -> int:
        """Jobs queued and not yet taken by a worker."""
        return self._queue.qsize()

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"{self._name}-outbox-{i}")
            for i in range(self._workers_wanted)
        ]

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    def send(self, what: str, job: Job) -> bool:
        try:
            self._queue.put_nowait((what, job))
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning("%s outbox full (%d waiting): dropped %s", self._name,
                           self._queue.qsize(), what)
            return False
        return True

    async def join(self) -> None:
        """Wait until every queued job has run (tests and shutdown)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            what, job = await self._queue.get()
            try:
                await self._run(what, job)
            finally:
                self._queue.task_done()

    async def _run(self, what: str, job: Job) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                await job()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self._retry_after(exc)
                if delay is None or attempt == self._attempts:
                    logger.warning("%s: giving up on %s: %r", self._name, what, exc)
                    return
                self.retries += 1
                await asyncio.sleep(delay)
