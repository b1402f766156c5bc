"""server/metrics.py's readings: what a scrape reads is read once a second at most and shared,
so an open /metrics (no metrics.token) is never a database query per request."""

from __future__ import annotations

import asyncio
from collections import Counter

from server.metrics import REFRESH_SECONDS, Readings, Sources


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sources(reads: list[list[str]], gate: asyncio.Event) -> Sources:
    async def pending(rooms: list[str]) -> dict[str, int]:
        reads.append(rooms)
        await gate.wait()
        return dict.fromkeys(rooms, 3)

    async def database() -> str:
        await gate.wait()
        return "ok"

    return Sources(counters=Counter(), fanout=None, bus=None, shared_bus=False,  # type: ignore[arg-type]
                   rooms=lambda: ["main"], pending=pending, health={"database": database})


async def test_scrapes_at_once_share_one_read_and_later_ones_reuse_it_for_a_second() -> None:
    reads: list[list[str]] = []
    gate, clock = asyncio.Event(), Clock()
    readings = Readings(sources(reads, gate), clock=clock)
    scrapes = [asyncio.create_task(readings.refresh()) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*scrapes)
    assert reads == [["main"]]
    clock.now += REFRESH_SECONDS / 2
    await readings.refresh()
    assert len(reads) == 1
    clock.now += REFRESH_SECONDS
    await readings.refresh()
    assert len(reads) == 2


async def test_a_cancelled_scrape_does_not_cancel_the_others_read() -> None:
    reads: list[list[str]] = []
    gate = asyncio.Event()
    readings = Readings(sources(reads, gate), clock=Clock())
    first, second = (asyncio.create_task(readings.refresh()) for _ in range(2))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    await second
    assert first.cancelled() and reads == [["main"]]
