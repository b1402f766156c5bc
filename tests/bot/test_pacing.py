from __future__ import annotations

import asyncio

from bot.pacing import Pacer


async def test_calls_for_one_key_are_spaced_and_others_are_not() -> None:
    slept: list[tuple[str, float]] = []
    now = 100.0

    def pacer_for(key: str) -> Pacer:
        async def sleep(seconds: float) -> None:
            slept.append((key, seconds))
        return Pacer(1.0, clock=lambda: now, sleep=sleep)

    pacer = pacer_for("C1")
    await asyncio.gather(*(pacer.wait("C1") for _ in range(3)))
    await pacer.wait("C2")
    assert sorted(s for _, s in slept) == [1.0, 2.0]  # 3rd call waits two slots; C2 not at all


async def test_remembers_a_bounded_number_of_keys() -> None:
    async def no_sleep(_seconds: float) -> None:
        return None

    pacer = Pacer(1.0, max_keys=3, clock=lambda: 0.0, sleep=no_sleep)
    for key in "abcde":
        await pacer.wait(key)
    assert list(pacer._next) == ["c", "d", "e"]
