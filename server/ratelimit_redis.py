"""Rate windows on Redis, shared by every process: the core's `RateWindows` port on `limits`.

Chosen by the composition root when `bus.url` is a redis:// URL, so that a sender's
minute counts the same whichever node takes the submission. The counting is the
`limits` library's sliding-window counter (SlidingWindowCounterRateLimiter), whose Lua
scripts keep each key's this-minute and last-minute counts in Redis and let Redis
expire them: nothing grows in this process, however many senders come. It is the
algorithm server/ratelimit.py's MemoryWindows implements in memory (the same room
check, and a key's minutes start at its first hit), so the waits are computed alike.

Its Redis client is redis-py's asyncio one (`implementation="redispy"`), the client the
Redis bus uses too, so one Redis library is installed, not two (`limits[async-redis]`
would add coredis).

All or nothing across several windows: every window is read first, and only when each
has room is each counted (one atomic script per window). Two nodes counting the last
free unit of one key at the same moment may both pass the read; the second's count
is then refused by the script, and it is refused, but its earlier windows (the sender's
before the network's) have counted it. That costs an honest sender at most one unit,
and only at the limit's edge.

When Redis cannot be reached, each call counts in this process's memory instead (the
limits still hold per node) and says so in one rate-limited log line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from server.logs import limit_repeats
from server.ratelimit import LEAST_WAIT, MINUTE, MemoryWindows, room_wait

logger = limit_repeats(logging.getLogger(__name__))

TIMEOUT_SECONDS = 1.0  # a submission waits no longer than this on a stalled Redis


class RedisWindows:
    def __init__(self, url: str, key_prefix: str) -> None:
        self._pool = ConnectionPool.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)
        storage = RedisStorage(f"async+{url}", implementation="redispy", key_prefix=key_prefix,
                               connection_pool=self._pool)
        self._storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[int, RateLimitItemPerMinute] = {}
        self._fallback = MemoryWindows()

    async def close(self) -> None:
        await self._pool.disconnect()

    async def acquire(self, limits: Sequence[tuple[str, int]]) -> tuple[int, float] | None:
        try:
            return await self._acquire(limits)
        except (RedisError, OSError) as exc:
            logger.warning("rate limits counted in this process only: Redis unreachable (%s)",
                           type(exc).__name__)
            return await self._fallback.acquire(limits)

    async def waiting(self, key: str, limit: int) -> float:
        try:
            return await self._wait(key, limit)
        except (RedisError, OSError) as exc:
            logger.warning("rate limits counted in this process only: Redis unreachable (%s)",
                           type(exc).__name__)
            return await self._fallback.waiting(key, limit)

    async def _acquire(self, limits: Sequence[tuple[str, int]]) -> tuple[int, float] | None:
        waits = [await self._wait(key, limit) for key, limit in limits]
        if any(waits):
            longest = max(waits)
            return waits.index(longest), longest
        for index, (key, limit) in enumerate(limits):
            if not await self._limiter.hit(self._item(limit), key):  # another node took the room
                return index, max(await self._wait(key, limit), LEAST_WAIT)
        return None

    async def _wait(self, key: str, limit: int) -> float:
        """Seconds until one more fits under `limit` for `key` (0: now), from Redis's counts."""
        previous, previous_ttl, current, current_ttl = await self._storage.get_sliding_window(
            self._item(limit).key_for(key), int(MINUTE))
        if not (previous or current):
            return 0.0
        # The current minute's key lives two minutes from its first hit (limits' Lua
        # scripts); the previous minute's lives as long as the current minute has left.
        left = current_ttl - MINUTE if current_ttl > 0 else previous_ttl
        return room_wait(previous, current, MINUTE - min(MINUTE, max(0.0, left)), limit)

    def _item(self, limit: int) -> RateLimitItemPerMinute:
        if (item := self._items.get(limit)) is None:
            item = self._items[limit] = RateLimitItemPerMinute(limit)
        return item
