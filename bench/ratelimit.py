"""Cost of one rate-limit hit as the number of tracked senders grows.

    python -m bench.ratelimit [--keys 1000 20000 100000] [--redis redis://127.0.0.1:6379/0]

Compares server/ratelimit.py's MemoryWindows with the `limits` library's
asyncio MemoryStorage + SlidingWindowCounterRateLimiter, and with --redis,
server/ratelimit_redis.py's RedisWindows (limits on Redis, what several nodes
share; its keys go under a fresh prefix and are deleted after). Each store is filled with N senders, then
timed over 2,000 hits with an event-loop turn after each, as in a server,
since `limits` expires its keys in a task that runs between requests.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from server.ratelimit import MemoryWindows
from server.ratelimit_redis import RedisWindows

Hit = Callable[[str], Awaitable[object]]
STEADY_HITS = 2000


def ours() -> Hit:
    windows = MemoryWindows(max_keys=1_000_000)
    return lambda key: windows.acquire([(key, 20)])


def on_redis(url: str, prefix: str) -> tuple[Hit, RedisWindows]:
    windows = RedisWindows(url, key_prefix=prefix)
    return (lambda key: windows.acquire([(key, 20)])), windows


async def measure_redis(url: str, keys: int) -> float:
    prefix = f"bench-ratelimit-{secrets.token_hex(4)}"
    hit, windows = on_redis(url, prefix)
    try:
        return await measure(hit, keys)
    finally:
        await windows.close()
        redis = Redis.from_url(url)
        async for key in redis.scan_iter(match=f"{prefix}*", count=10_000):
            await redis.delete(key)
        await redis.aclose()


def limits_library() -> Hit | None:
    try:
        from limits import parse
        from limits.aio.storage import MemoryStorage
        from limits.aio.strategies import SlidingWindowCounterRateLimiter
    except ImportError:
        return None
    limiter, item = SlidingWindowCounterRateLimiter(MemoryStorage()), parse("20/minute")
    return lambda key: limiter.hit(item, key)


async def measure(hit: Hit, keys: int) -> float:
    """Microseconds per hit with `keys` senders tracked."""
    for i in range(keys):
        await hit(f"sender:web:{i:022d}")
        if i % 1000 == 0:
            await asyncio.sleep(0)
    start = time.perf_counter()
    for i in range(STEADY_HITS):
        await hit(f"sender:web:{i:022d}")
        await asyncio.sleep(0)
    return (time.perf_counter() - start) / STEADY_HITS * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, nargs="+", default=[1000, 20_000, 100_000])
    parser.add_argument("--redis", help="also time RedisWindows on this Redis")
    args = parser.parse_args()
    print("| senders | MemoryWindows µs/hit | limits MemoryStorage µs/hit | RedisWindows µs/hit |")
    print("| ---: | ---: | ---: | ---: |")
    for keys in args.keys:
        mine = asyncio.run(measure(ours(), keys))
        other = limits_library()
        theirs = f"{asyncio.run(measure(other, keys)):.0f}" if other else "not installed"
        shared = f"{asyncio.run(measure_redis(args.redis, keys)):.0f}" if args.redis else "-"
        print(f"| {keys:,} | {mine:.0f} | {theirs} | {shared} |")


if __name__ == "__main__":
    main()
