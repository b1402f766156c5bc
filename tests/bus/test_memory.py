"""The in-process bus: handlers called directly, in order, one failure never stops the rest."""

from __future__ import annotations

import logging

import pytest

from server.bus import MemoryBus
from server.core import logcontext
from server.core.model import Event, EventKind


def event(event_id: int) -> Event:
    return Event(event_id, EventKind.BARRAGE, {"id": event_id})


async def test_every_handler_gets_every_event_in_publish_order() -> None:
    bus, calls = MemoryBus(), []
    await bus.connect()
    bus.subscribe(lambda e: calls.append(("first", e.id)))
    bus.subscribe(lambda e: calls.append(("second", e.id)))
    for i in (1, 2, 3):
        await bus.publish(event(i))
    assert calls == [("first", 1), ("second", 1), ("first", 2), ("second", 2), ("first", 3), ("second", 3)]


async def test_unsubscribe_stops_delivery_and_may_be_called_twice() -> None:
    bus, kept, dropped = MemoryBus(), [], []
    bus.subscribe(kept.append)
    unsubscribe = bus.subscribe(dropped.append)
    await bus.publish(event(1))
    unsubscribe()
    unsubscribe()
    await bus.publish(event(2))
    assert [e.id for e in kept] == [1, 2] and [e.id for e in dropped] == [1]


async def test_a_handler_that_raises_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, before, after = MemoryBus(), [], []

    def broken(_: Event) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe(before.append)
    bus.subscribe(broken)
    bus.subscribe(after.append)
    with caplog.at_level(logging.ERROR, logger="server.bus.memory"):
        await bus.publish(event(7))
        await bus.publish(event(8))
    assert [e.id for e in before] == [7, 8] == [e.id for e in after]
    failures = [r for r in caplog.records if r.name == "server.bus.memory"]
    assert len(failures) == 2 and "on event 7" in failures[0].getMessage()
    assert failures[0].exc_info is not None and failures[0].exc_info[0] is RuntimeError


async def test_a_handler_leaving_during_a_publish_does_not_hide_that_event_from_others() -> None:
    bus, others = MemoryBus(), []
    unsubscribe = bus.subscribe(lambda _: unsubscribe())
    bus.subscribe(others.append)
    await bus.publish(event(1))
    await bus.publish(event(2))
    assert [e.id for e in others] == [1, 2]


async def test_disconnect_drops_every_handler() -> None:
    bus, calls = MemoryBus(), []
    bus.subscribe(calls.append)
    await bus.disconnect()
    await bus.publish(event(1))
    assert calls == []


async def test_what_a_handler_logs_carries_the_event_it_takes() -> None:
    bus, seen = MemoryBus(), []
    bus.subscribe(lambda e: seen.append(logcontext.current()))
    await bus.publish(Event(7, EventKind.PENDING, {"id": 3, "room": "hall"}))
    assert seen == [{"event_id": 7, "barrage_id": 3, "room": "hall"}]
    assert logcontext.current() == {}  # only while the handlers run
