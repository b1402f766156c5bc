"""Marks in this process's memory: the core's `Marks` port (slow mode, "already sent").

For one process (bus.url memory://); several share theirs on Redis (server/marks_redis.py).
A mark is a key held for a few seconds. Marks are kept in one table per lifetime, in the
order they were set, so within a table the oldest is always the first to run out: expired
marks are swept from the front, a few at a time, and a lookup drops an expired mark it meets.

Bounds and overflow policy: at most `max_keys` marks (100,000, about 20 MB) in all. When
full of marks that have not run out, the oldest is evicted for the new one: that sender may
then repeat itself early, which is better than refusing every newcomer.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 100_000
SWEEP_STEP = 64  # expired marks dropped per call, so no call pays for many


class MemoryMarks:
    def __init__(self, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_keys = max_keys
        self._clock = clock
        # lifetime → key → (expires at, token), oldest first
        self._tables: dict[float, OrderedDict[str, tuple[float, str]]] = {}

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())

    async def reserve(self, key: str, token: str, seconds: float) -> float:
        now = self._clock()
        table = self._tables.setdefault(seconds, OrderedDict())
        _sweep(table, now, SWEEP_STEP)
        held = table.get(key)
        if held is not None and held[0] > now:
            return held[0] - now
        table.pop(key, None)
        if len(self) >= self._max_keys:
            self._evict_oldest(now)
        table[key] = (now + seconds, token)
        return 0.0

    async def release(self, key: str, token: str) -> None:
        for table in self._tables.values():
            held = table.get(key)
            if held is not None and held[1] == token:
                del table[key]

    def _evict_oldest(self, now: float) -> None:
        for table in self._tables.values():
            _sweep(table, now, len(table))
        if len(self) < self._max_keys:
            return
        first = min((t for t in self._tables.values() if t), key=lambda t: next(iter(t.values()))[0])
        first.popitem(last=False)


def _sweep(table: OrderedDict[str, tuple[float, str]], now: float, budget: int) -> None:
    while budget > 0 and table:
        expires, _ = next(iter(table.values()))
        if expires > now:
            return
        table.popitem(last=False)
        budget -= 1
