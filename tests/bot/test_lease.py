"""Work under a lease (bot/lease.py): it runs on the one holder, moves when the holder stops,
and a holder that steps down (Telegram's 409) lets the lease go and rests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.lease import Lease, LocalLeases, secret_key, while_held


class Counting:
    """A lease that counts how often it was asked for: the positive signal that a
    contender kept trying (and was refused) meanwhile."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.name = lease.name
        self.tried = asyncio.Event()
        self._tries = 0

    async def acquire(self) -> bool:
        self._tries += 1
        got = await self.lease.acquire()
        if self._tries >= 3:
            self.tried.set()
        return got

    async def held(self) -> bool:
        return await self.lease.held()

    async def release(self) -> None:
        await self.lease.release()


def test_a_lease_keyed_by_a_secret_never_names_it() -> None:
    token = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    name = secret_key("telegram-poll", token)
    assert name.startswith("telegram-poll:") and token not in name and "AAHdq" not in name
    assert name == secret_key("telegram-poll", token) != secret_key("telegram-poll", token + "x")


async def test_work_runs_on_one_holder_and_moves_when_it_stops() -> None:
    leases = LocalLeases()
    running: list[str] = []
    gate = asyncio.Event()

    def work(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            running.append(name)
            gate.set()
            await asyncio.Event().wait()

        return run

    first = asyncio.create_task(while_held(leases("job"), work("a"), retry_seconds=0.01))
    await gate.wait()
    gate.clear()
    contender = Counting(leases("job"))
    second = asyncio.create_task(while_held(contender, work("b"), retry_seconds=0.01))
    await contender.tried.wait()  # b has asked three times, and been refused
    assert running == ["a"]
    first.cancel()  # the holder stops: its lease is released on the way out
    await gate.wait()
    assert running == ["a", "b"]
    second.cancel()
    await asyncio.gather(first, second, return_exceptions=True)


async def test_work_that_steps_down_releases_the_lease_and_rests() -> None:
    leases = LocalLeases()
    runs: list[str] = []
    other_ran = asyncio.Event()

    async def step_down() -> float:
        runs.append("a")
        return 3600.0  # a 409: rest long

    async def other() -> None:
        runs.append("b")
        other_ran.set()
        await asyncio.Event().wait()

    first = asyncio.create_task(while_held(leases("job"), step_down, retry_seconds=0.01))
    await asyncio.sleep(0)
    second = asyncio.create_task(while_held(leases("job"), other, retry_seconds=0.01))
    await other_ran.wait()
    assert runs == ["a", "b"]  # and a rests: it never took the lease again
    for task in (first, second):
        task.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
