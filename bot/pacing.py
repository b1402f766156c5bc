"""Space out calls per key (a Slack channel allows about one message a second)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable


class Pacer:
    """`await pacer.wait(key)` returns when the next call for `key` may go.

    Slots are handed out synchronously, so concurrent callers queue fairly
    without a lock. At most `max_keys` keys are remembered (least recent go).
    """

    def __init__(self, interval: float, max_keys: int = 1000,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._interval = interval
        self._max_keys = max_keys
        self._clock = clock
        self._sleep = sleep
        self._next: OrderedDict[str, float] = OrderedDict()

    async def wait(self, key: str) -> None:
        now = self._clock()
        slot = max(now, self._next.pop(key, now))
        self._next[key] = slot + self._interval
        while len(self._next) > self._max_keys:
            self._next.popitem(last=False)
        if slot > now:
            await self._sleep(slot - now)
