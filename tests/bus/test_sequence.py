"""The Sequencer against a real store's log: every event once, in id order, no id skipped.

The broker is the in-process one, so each test decides exactly what "arrives": a test
writes events to the log and publishes only some of them, out of order, or twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.bus import MemoryBus, Sequencer
from server.core.model import Draft, Event, EventKind, Size, Source, Status
from server.store import SqlStore
from tests.bus.conftest import event, eventually


async def logged(store: SqlStore, count: int) -> list[Event]:
    """`count` new events in the log (approved barrages), not published."""
    made = []
    for i in range(count):
        _, written = await store.add(Draft(f"m{i}", "Ann", "#ffffff", Size.MEDIUM, Source.WEB),
                                     Status.APPROVED, datetime.now(UTC))
        assert written is not None
        made.append(written)
    return made


def newer_kind(log_file: Path, count: int) -> None:
    """`count` rows of a kind this version does not know, as a newer node writes them in a
    rolling upgrade (straight into the log's file, as another process does)."""
    with contextlib.closing(sqlite3.connect(log_file, timeout=30)) as db, db:
        db.executemany("INSERT INTO event (kind, barrage_id, payload, created_at) VALUES "
                       "('poll', NULL, '{}', '2026-01-01 00:00:00.000000')", [()] * count)


@pytest.fixture
async def node(store: SqlStore) -> AsyncIterator[tuple[Sequencer, MemoryBus, list[int]]]:
    broker = MemoryBus()
    sequencer = Sequencer(broker, store, max_buffered=4)
    await sequencer.connect()
    got: list[int] = []
    sequencer.subscribe(lambda e: got.append(e.id))
    yield sequencer, broker, got
    await sequencer.disconnect()


async def test_it_starts_at_the_end_of_the_log(store: SqlStore) -> None:
    await logged(store, 3)
    sequencer = Sequencer(MemoryBus(), store)
    await sequencer.connect()
    try:
        assert sequencer.position == 3
    finally:
        await sequencer.disconnect()


async def test_in_order_events_pass_at_once_and_duplicates_are_dropped(
    store: SqlStore, node: tuple[Sequencer, MemoryBus, list[int]]
) -> None:
    sequencer, broker, got = node
    events = await logged(store, 3)
    for each in (events[0], events[0], events[1], events[0], events[2], events[1]):
        await broker.publish(each)
    assert got == [1, 2, 3] and sequencer.position == 3  # no read of the log: all in order


async def test_a_gap_is_filled_from_the_log_before_the_event_after_it(
    store: SqlStore, node: tuple[Sequencer, MemoryBus, list[int]]
) -> None:
    _, broker, got = node
    events = await logged(store, 6)
    await broker.publish(events[0])
    await broker.publish(events[3])  # 2 and 3 were lost on the way
    await broker.publish(events[5])  # and 5
    await eventually(lambda: len(got) == 6)
    await broker.publish(events[4])  # late: a duplicate by now
    await broker.publish(events[5])
    assert got == [1, 2, 3, 4, 5, 6]


async def test_a_local_publish_is_delivered_at_once_and_once_only(
    store: SqlStore, node: tuple[Sequencer, MemoryBus, list[int]]
) -> None:
    sequencer, _, got = node
    (first,) = await logged(store, 1)
    await sequencer.publish(first)
    await sequencer.broker.publish(first)  # the echo a broker brings back
    assert got == [1]


class HeldLog:
    """The real log, every read after the first (connect's) held until `opened` is set: the
    sequencer's catch-up read cannot land between the test's writes and publishes."""

    def __init__(self, store: SqlStore) -> None:
        self.store, self.opened, self.reads = store, asyncio.Event(), 0

    async def events_after(self, event_id: int, kinds: Sequence[EventKind], limit: int) -> list[Event]:
        await self._held()
        return await self.store.events_after(event_id, kinds, limit)

    async def last_event_id(self) -> int:
        await self._held()
        return await self.store.last_event_id()

    async def _held(self) -> None:
        self.reads += 1
        if self.reads > 1:
            await self.opened.wait()


async def test_past_the_buffer_bound_the_held_events_are_read_from_the_log(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    log, broker, got = HeldLog(store), MemoryBus(), []
    sequencer = Sequencer(broker, log, max_buffered=4)
    await sequencer.connect()  # at the log's end: 0
    sequencer.subscribe(lambda e: got.append(e.id))
    try:
        events = await logged(store, 10)
        with caplog.at_level(logging.WARNING, logger="server.bus.sequence"):
            for each in reversed(events[1:]):  # nine held ahead of the gap at 1; the buffer holds 4
                await broker.publish(each)
            assert sequencer.buffer_drops == 2
            log.opened.set()
            await eventually(lambda: len(got) == 10)
        assert got == list(range(1, 11))
        assert "reading them from the log instead" in caplog.text
    finally:
        log.opened.set()
        await sequencer.disconnect()


async def test_after_a_reconnection_it_catches_up_from_the_log(
    store: SqlStore, node: tuple[Sequencer, MemoryBus, list[int]]
) -> None:
    _, broker, got = node
    await logged(store, 3)  # published while this node was away: nobody tells it
    await broker.connect()  # the broker's "connected again"
    await eventually(lambda: len(got) == 3)
    assert got == [1, 2, 3]


async def test_when_quiet_it_reads_the_log_for_events_nobody_announced(store: SqlStore) -> None:
    """A node killed between its commit and its publish: no message about it will come."""
    sequencer = Sequencer(MemoryBus(), store, idle_check=0.05)  # memory:// has none by default
    await sequencer.connect()
    got: list[int] = []
    sequencer.subscribe(lambda e: got.append(e.id))
    try:
        await logged(store, 2)  # committed, never published
        await eventually(lambda: len(got) == 2)
    finally:
        await sequencer.disconnect()
    assert got == [1, 2]


async def test_an_id_beyond_the_log_is_dropped_with_a_warning_and_the_log_is_waited_for(
    store: SqlStore, node: tuple[Sequencer, MemoryBus, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    """A bogus id, or a broker shared with another wall's database: not this log's event."""
    sequencer, broker, got = node
    with caplog.at_level(logging.WARNING, logger="server.bus.sequence"):
        await broker.publish(event(3))
        await eventually(lambda: "not in the log" in caplog.text)
    assert got == [] and sequencer.position == 0  # never past the log's end (0)
    events = await logged(store, 3)  # this wall's own 1 to 3, when they come, are not duplicates
    for each in events:
        await broker.publish(each)
    assert got == [1, 2, 3]


async def test_a_gap_fill_stops_at_the_log_end_when_the_bus_announced_more(
    store: SqlStore, node: tuple[Sequencer, MemoryBus, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    sequencer, broker, got = node
    await logged(store, 2)  # committed, never published (their node died)
    with caplog.at_level(logging.WARNING, logger="server.bus.sequence"):
        await broker.publish(event(6))  # a foreign 6 reveals the gap, and claims 3 to 5 exist
        await eventually(lambda: "not in the log" in caplog.text)
    assert got == [1, 2] and sequencer.position == 2
    (third,) = await logged(store, 1)
    await broker.publish(third)
    assert got == [1, 2, 3]


async def test_rows_of_a_kind_it_does_not_know_are_stepped_over_and_logged_once(
    store: SqlStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody announces them here (a Redis message of an unknown kind is only an id): the
    quiet room's look at the log's end finds them, and finds nothing to deliver."""
    sequencer = Sequencer(MemoryBus(), store, idle_check=0.05)
    await sequencer.connect()
    got: list[int] = []
    sequencer.subscribe(lambda e: got.append(e.id))
    try:
        with caplog.at_level(logging.WARNING, logger="server.bus.sequence"):
            newer_kind(tmp_path / "log.db", 1)
            await logged(store, 1)
            newer_kind(tmp_path / "log.db", 2)
            await logged(store, 1)
            newer_kind(tmp_path / "log.db", 1)  # the log: ?1 2 ?3 ?4 5 ?6
            await eventually(lambda: sequencer.position == 6)
            newer_kind(tmp_path / "log.db", 1)
            (known,) = await logged(store, 1)
            await sequencer.publish(known)  # announced after the unknown 7th: a gap to fill
            await eventually(lambda: sequencer.position == 8)
    finally:
        await sequencer.disconnect()
    assert got == [2, 5, 8] and known.id == 8 and sequencer.stepped_over == 5
    assert [r.getMessage() for r in caplog.records] == [
        "bus: event ids 1 to 1 are of a kind this version does not know (a newer node's?); "
        "stepping over them and any later ones (logged once)"
    ]


async def test_a_failing_handler_does_not_stop_the_others(
    store: SqlStore, node: tuple[Sequencer, MemoryBus, list[int]]
) -> None:
    sequencer, broker, got = node
    later: list[int] = []

    def broken(_: Event) -> None:
        raise RuntimeError("handler bug")

    sequencer.subscribe(broken)
    sequencer.subscribe(lambda e: later.append(e.id))
    events = await logged(store, 3)
    await broker.publish(events[0])
    await broker.publish(events[2])
    await eventually(lambda: len(later) == 3)
    assert got == later == [1, 2, 3]


class SwallowingLog:
    """The real log, but its read swallows the cancellation meant for the gap fill once it is
    stopping (as Python 3.11's wait_for can when a cancellation lands as its wait ends)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.reading = asyncio.Event()
        self.answer = asyncio.Event()

    async def last_event_id(self) -> int:
        if self.reading.is_set() or not hasattr(self, "connected"):
            self.connected = True
            return await self._store.last_event_id()
        self.reading.set()
        try:
            await self.answer.wait()
        except asyncio.CancelledError:
            pass  # the cancellation is gone
        return await self._store.last_event_id()

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


async def test_a_lost_cancellation_does_not_keep_the_gap_fill_from_stopping(store: SqlStore) -> None:
    log = SwallowingLog(store)
    sequencer = Sequencer(MemoryBus(), log, idle_check=0.05)  # type: ignore[arg-type]
    await sequencer.connect()
    await log.reading.wait()  # the fill is inside the read
    stopping = asyncio.create_task(sequencer.disconnect())
    done, _ = await asyncio.wait({stopping}, timeout=30)  # a bound on a hang, not a timing assertion
    assert stopping in done, "disconnect() hung on the gap fill"
    assert all(task.done() for task in asyncio.all_tasks() if task.get_name() == "bus-gap-fill")
