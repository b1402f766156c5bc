"""Marks on Redis, shared by every process: the core's `Marks` port (slow mode, "already sent").

Chosen by the composition root when `bus.url` is a redis:// URL, so that a sender's slow-mode
clock and repeat window hold whichever node takes the submission. A reservation is one
`SET key token NX PX ms`: atomic, so two nodes can never both take it, and Redis expires it.
When it is taken, `PTTL` says how long it has left. A release deletes the key only while it
still holds the releaser's token (a compare-and-delete script), so it never frees a mark
that another submission took since.

When Redis cannot be reached, each call is answered from this process's memory instead
(the marks still hold per node) and says so in one rate-limited log line.
"""

from __future__ import annotations

import logging
import math

from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError

from server.logs import limit_repeats
from server.marks import MemoryMarks

logger = limit_repeats(logging.getLogger(__name__))

TIMEOUT_SECONDS = 1.0  # a submission waits no longer than this on a stalled Redis
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisMarks:
    def __init__(self, url: str, key_prefix: str) -> None:
        self._pool = ConnectionPool.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)
        self._redis = Redis(connection_pool=self._pool)
        self._release = self._redis.register_script(RELEASE)
        self._prefix = key_prefix
        self._fallback = MemoryMarks()

    async def close(self) -> None:
        await self._redis.aclose()
        await self._pool.disconnect()

    async def reserve(self, key: str, token: str, seconds: float) -> float:
        try:
            return await self._reserve(f"{self._prefix}:{key}", token, seconds)
        except (RedisError, OSError) as exc:
            logger.warning("slow mode and repeats counted in this process only: Redis unreachable (%s)",
                           type(exc).__name__)
            return await self._fallback.reserve(key, token, seconds)

    async def release(self, key: str, token: str) -> None:
        try:
            await self._release(keys=[f"{self._prefix}:{key}"], args=[token])
        except (RedisError, OSError) as exc:
            logger.warning("slow mode and repeats counted in this process only: Redis unreachable (%s)",
                           type(exc).__name__)
            await self._fallback.release(key, token)

    async def _reserve(self, key: str, token: str, seconds: float) -> float:
        milliseconds = max(1, math.ceil(seconds * 1000))
        for _ in range(3):  # the mark may run out between SET and PTTL: try again
            if await self._redis.set(key, token, nx=True, px=milliseconds):
                return 0.0
            if (left := await self._redis.pttl(key)) > 0:
                return left / 1000
        return 0.001  # kept changing hands: call it taken, for a moment
