"""The in-memory rate windows: exact per key, bounded, and never reset by a spray."""

from __future__ import annotations

import pytest

from server.ratelimit import MemoryWindows


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_a_window_holds_its_limit_and_says_when_a_slot_frees(clock: Clock) -> None:
    windows = MemoryWindows(clock=clock)
    assert await windows.acquire([("a", 2)]) is None
    clock.now += 1
    assert await windows.acquire([("a", 2)]) is None
    clock.now += 1
    refused = await windows.acquire([("a", 2)])
    assert refused is not None and refused[0] == 0 and refused[1] == pytest.approx(58)
    clock.now += 57.5
    assert await windows.acquire([("a", 2)]) is not None  # still inside the minute
    assert await windows.acquire([("b", 2)]) is None  # other keys are their own


async def test_the_window_slides(clock: Clock) -> None:
    """Sliding-window counter: the last minute's count fades out as this one fills."""
    windows = MemoryWindows(clock=clock)
    for _ in range(10):
        assert await windows.acquire([("a", 10)]) is None
    clock.now += 60 + 30  # halfway through the next minute: half the old count still weighs
    accepted = 0
    while await windows.acquire([("a", 10)]) is None:
        accepted += 1
    assert accepted == 5
    clock.now += 60 * 3
    assert await windows.acquire([("a", 10)]) is None


async def test_all_or_nothing(clock: Clock) -> None:
    windows = MemoryWindows(clock=clock)
    assert await windows.acquire([("full", 1)]) is None
    refused = await windows.acquire([("other", 5), ("full", 1)])
    assert refused is not None and refused[0] == 1
    for _ in range(5):  # the refused attempt was not counted against "other"
        assert await windows.acquire([("other", 5)]) is None


async def test_waiting_counts_nothing(clock: Clock) -> None:
    windows = MemoryWindows(clock=clock)
    for _ in range(3):
        assert await windows.waiting("k", 1) == 0
    assert await windows.acquire([("k", 1)]) is None
    assert await windows.waiting("k", 1) == pytest.approx(60)
    assert len(windows) == 1


async def test_a_spray_of_new_keys_resets_nobody_and_stays_bounded(clock: Clock) -> None:
    windows = MemoryWindows(max_keys=100, clock=clock)
    assert await windows.acquire([("victim", 1)]) is None
    refused = 0
    for i in range(5000):
        if await windows.acquire([(f"spray-{i}", 20)]) is not None:
            refused += 1
    assert len(windows) <= 100 and refused == 5000 - 99
    assert await windows.acquire([("victim", 1)]) is not None  # still limited: never evicted
    newcomer = await windows.acquire([("newcomer", 20)])
    assert newcomer is not None and newcomer[1] >= 1  # full: a stranger waits, told how long
    clock.now += 121  # every window has run out
    assert await windows.acquire([("newcomer", 20)]) is None
    assert await windows.acquire([("victim", 1)]) is None
    for i in range(5):  # each call sweeps some of the windows that ran out
        await windows.acquire([(f"late-{i}", 20)])
    assert len(windows) <= 7


async def test_expired_windows_are_swept(clock: Clock) -> None:
    windows = MemoryWindows(clock=clock)
    for i in range(1000):
        await windows.acquire([(f"k{i}", 5)])
    clock.now += 121
    for i in range(100):  # each call sweeps a few of the dead ones
        await windows.acquire([(f"new{i}", 5)])
    assert len(windows) < 1000
