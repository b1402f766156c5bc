"""Rate windows in this process's memory: the core's `RateWindows` port.

The algorithm is a sliding-window counter, as in the `limits` library's
SlidingWindowCounterRateLimiter: each key counts this minute and the one before,
and the previous minute's count weighs less as this minute goes by. A key's
minutes start at its first hit, so a burst is held at exactly its limit.

Why not `limits` itself (which STYLE.md prefers): measured with limits 5.8.0,
its asyncio MemoryStorage walks every stored key after each hit to expire old
ones: 0.4-0.6 ms a hit with 1,000 senders, 6-10 ms with 20,000, 40-60 ms with
100,000, against 20-70 µs here at any size (`python -m bench.ratelimit`). A
crowd, or a stranger minting device cookies, would so slow every submission.
Its thread-based MemoryStorage walks every key each 10 ms instead. Here expiry
is O(1) per hit. When several processes share a Redis, server/ratelimit_redis.py
puts `limits`' SlidingWindowCounterRateLimiter on it (Redis expires the keys)
behind the same port: about 500 µs a hit at any size, two round trips.

Bounds and overflow policy: each key costs about 250 bytes (measured: 171 for
its window, plus the key string), and at most `max_keys` (100,000, about 25 MB)
are tracked; a hit costs about 20 µs with the table full. Windows are never
evicted before they run out (two minutes after their last count), so a spray of
new keys resets nobody. While the table is full, a key it does not hold yet is
refused, told to retry when the oldest window runs out; keys already held go on
as usual.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

MINUTE = 60.0
MAX_KEYS = 100_000
SWEEP_STEP = 64          # expired windows dropped per call, so no call pays for many
FULL_SWEEP_STEP = 4096   # ... and when the table is full, before refusing a newcomer
LEAST_WAIT = 0.001


class _Window:
    __slots__ = ("current", "origin", "previous")

    def __init__(self, origin: float) -> None:
        self.origin = origin  # start of this key's current minute
        self.previous = 0
        self.current = 0

    def wait(self, limit: int, now: float) -> float:
        """Seconds until one more fits under `limit`; 0 when it fits now."""
        return room_wait(self.previous, self.current, now - self.origin, limit)


def room_wait(previous: int, current: int, elapsed: float, limit: int) -> float:
    """Seconds until one more fits under `limit`, `elapsed` seconds into the current
    minute with these counts (this minute's and the last); 0 when it fits now."""
    if previous * (1 - elapsed / MINUTE) + current < limit:
        return 0.0
    if current >= limit:
        # The next minute, and then until this minute's count has faded enough.
        wait = MINUTE - elapsed + MINUTE * max(0.0, 1 - limit / current)
    else:
        wait = MINUTE * (1 - (limit - current) / previous) - elapsed
    return max(wait, LEAST_WAIT)


class MemoryWindows:
    def __init__(self, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_keys = max_keys
        self._clock = clock
        # Oldest first (roughly: a window moves to the end when its minute rolls),
        # so expired windows are found at the front.
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    async def acquire(self, limits: Sequence[tuple[str, int]]) -> tuple[int, float] | None:
        now = self._clock()
        self._sweep(now, SWEEP_STEP)
        waits = [self._wait(key, limit, now) for key, limit in limits]
        if any(waits):
            longest = max(waits)
            return waits.index(longest), longest
        new = [i for i, (key, _) in enumerate(limits) if key not in self._windows]
        if new and not self._room_for(len(new), now):
            return new[0], self._until_room(now)
        for key, _ in limits:
            if (window := self._windows.get(key)) is None:
                window = self._windows[key] = _Window(now)
            window.current += 1
        return None

    async def waiting(self, key: str, limit: int) -> float:
        return self._wait(key, limit, self._clock())

    def _wait(self, key: str, limit: int, now: float) -> float:
        window = self._rolled(key, now)
        return 0.0 if window is None else window.wait(limit, now)

    def _rolled(self, key: str, now: float) -> _Window | None:
        """The key's window with its minutes brought up to now; None when it has run out."""
        window = self._windows.get(key)
        if window is None or now - window.origin < MINUTE:
            return window
        if now - window.origin >= 2 * MINUTE:
            del self._windows[key]
            return None
        window.origin += MINUTE
        window.previous, window.current = window.current, 0
        self._windows.move_to_end(key)
        return window

    def _room_for(self, count: int, now: float) -> bool:
        if len(self._windows) + count <= self._max_keys:
            return True
        self._sweep(now, FULL_SWEEP_STEP)
        return len(self._windows) + count <= self._max_keys

    def _sweep(self, now: float, budget: int) -> None:
        windows = self._windows
        while budget > 0 and windows:
            key, window = next(iter(windows.items()))
            if now - window.origin < 2 * MINUTE:
                return
            del windows[key]
            budget -= 1

    def _until_room(self, now: float) -> float:
        oldest = next(iter(self._windows.values()))
        return max(oldest.origin + 2 * MINUTE - now, 1.0)
