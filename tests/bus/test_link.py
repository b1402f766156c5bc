"""server/bus/link.py: what every broker backend shares, with a broker driver that misbehaves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from server.bus.link import Link
from server.core.model import Event, EventKind


class SwallowingLink(Link):
    """A link whose driver, mid-send, swallows the cancellation meant for it (redis-py's
    publish did under load: the node then hung on SIGINT, its sender waiting for work)."""

    def __init__(self) -> None:
        super().__init__("swallowing")
        self.sending = asyncio.Event()
        self.answer = asyncio.Event()

    async def _open(self) -> None:
        pass

    async def _listen(self) -> None:
        await asyncio.Event().wait()

    async def _close(self) -> None:
        pass

    async def _send(self, events: Sequence[Event]) -> None:
        self.sending.set()
        try:
            await self.answer.wait()
        except asyncio.CancelledError:
            pass  # the driver's bug: the command "fails", the cancellation is gone


async def test_a_driver_that_swallows_the_cancellation_does_not_keep_the_link_from_stopping() -> None:
    link = SwallowingLink()
    await link.connect()
    await link.publish(Event(1, EventKind.BARRAGE, {}))
    await link.sending.wait()  # the sender is inside the driver
    stopping = asyncio.create_task(link.disconnect())
    done, _ = await asyncio.wait({stopping}, timeout=30)  # a bound on a hang, not a timing assertion
    assert stopping in done, "disconnect() hung on the sender"
    assert all(task.done() for task in asyncio.all_tasks() if task.get_name().startswith("bus-"))
