"""Slow-mode and "already sent" marks in the database (server/store/marks.py): what one
reservation costs a submission on a PostgreSQL-bus cluster without Redis.

    python -m bench.marks [--count 2000]

Reserves `count` distinct keys one after another on a scratch database of the local
PostgreSQL (BARRAGE_BENCH_POSTGRES), after 200 to warm up, and prints p50/p99 in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from bench.cluster import fresh_database
from server.store import SqlStore
from server.store.marks import SqlMarks
from server.store.sql import create_engine

WARM_UP = 200


async def measure(count: int) -> dict[str, float]:
    async with fresh_database() as url:
        url = url.replace("postgresql://", "postgresql+asyncpg://")
        store = SqlStore.from_url(url)
        await store.create_schema()
        await store.close()
        engine = create_engine(url)
        marks = SqlMarks.for_database(url, engine)
        try:
            for n in range(WARM_UP):
                await marks.reserve(f"warm:{n}", "t", 60)
            took = []
            for n in range(count):
                started = time.perf_counter()
                await marks.reserve(f"repeat:web:{n}", "t", 60)
                took.append((time.perf_counter() - started) * 1000)
        finally:
            await marks.close()
            await engine.dispose()
    took.sort()
    return {"count": count, "p50_ms": round(took[len(took) // 2], 3),
            "p99_ms": round(took[int(len(took) * 0.99)], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.marks")
    parser.add_argument("--count", type=int, default=2000)
    print(json.dumps(asyncio.run(measure(parser.parse_args().count))))


if __name__ == "__main__":
    main()
