"""Live controls (pause, resume, clear, the pinned announcement): each one event in the log,
followed by every node; nodes are services on one real store and one memory bus."""

from __future__ import annotations

import pytest

from server.bus import MemoryBus
from server.core.errors import InvalidInput, NotFound
from server.core.model import MAIN, Event, EventKind
from server.store import SqlStore
from tests.core.test_rooms import node


def events_of(bus: MemoryBus) -> list[Event]:
    seen: list[Event] = []
    bus.subscribe(seen.append)
    return seen


async def test_pause_and_resume_hold_on_every_node_and_a_repeat_writes_nothing(store: SqlStore) -> None:
    bus = MemoryBus()
    a, b = await node(store, bus), await node(store, bus)
    seen = events_of(bus)
    assert (await a.rooms.pause(MAIN, "Alice")).paused
    assert b.rooms.get(MAIN).paused
    assert (await b.rooms.pause(MAIN, "Bob")).paused  # already paused: no second event
    assert not (await b.rooms.resume(MAIN, "Bob")).paused
    assert not a.rooms.get(MAIN).paused
    assert [(e.kind, e.payload) for e in seen] == [
        (EventKind.PAUSE, {"room": MAIN, "by": "Alice"}), (EventKind.RESUME, {"room": MAIN, "by": "Bob"})]


async def test_a_node_not_yet_told_of_a_pause_still_resumes(store: SqlStore) -> None:
    """Whether a pause or resume changes anything is the database's answer, not a node's copy:
    B has not heard of A's pause (its broker lags), and its resume still takes."""
    a, b = await node(store, MemoryBus()), await node(store, MemoryBus())
    await a.rooms.pause(MAIN, "Alice")
    assert b.rooms.get(MAIN).paused is False  # B's copy is behind
    assert (await b.rooms.resume(MAIN, "Bob")).paused is False
    assert [room.paused for room in await store.rooms() if room.slug == MAIN] == [False]
    again = await b.rooms.resume(MAIN, "Bob")  # now a repeat: nothing written
    assert again.paused is False and await store.last_event_id() == (await store.latest_events(
        [EventKind.RESUME], 1))[0].id


async def test_clear_is_an_event_of_the_room_and_changes_nothing_else(store: SqlStore) -> None:
    bus = MemoryBus()
    a = await node(store, bus)
    await a.rooms.create("hall-b", {}, "Alice")
    seen = events_of(bus)
    before = a.rooms.get("hall-b")
    assert await a.rooms.clear("hall-b", "Alice") == before
    assert await a.rooms.clear("hall-b", "Alice") == before  # every clear is its own event
    assert [(e.kind, e.room, e.payload["by"]) for e in seen] == [(EventKind.CLEAR, "hall-b", "Alice")] * 2
    assert [e.id for e in seen] == sorted({e.id for e in seen})


async def test_an_announcement_is_trimmed_pinned_everywhere_and_removed_with_none(store: SqlStore) -> None:
    bus = MemoryBus()
    a, b = await node(store, bus), await node(store, bus)
    seen = events_of(bus)
    pinned = await a.rooms.announce(MAIN, "  Q&A after the talk 🎤 ", "Alice")
    assert pinned.announcement == "Q&A after the talk 🎤"
    assert b.rooms.get(MAIN).announcement == "Q&A after the talk 🎤"
    assert (await b.rooms.announce(MAIN, None, "Bob")).announcement is None
    assert a.rooms.get(MAIN).announcement is None
    assert [e.public_payload() for e in seen] == [{"text": "Q&A after the talk 🎤"}, {"text": None}]
    late = await node(store, MemoryBus())
    assert late.rooms.get(MAIN).announcement is None


@pytest.mark.parametrize("text", ["", "   ", "x" * 201, "two\nlines", "bell\x07", 42, ["a"]])
async def test_a_bad_announcement_is_refused_and_nothing_is_written(store: SqlStore, text: object) -> None:
    bus = MemoryBus()
    a = await node(store, bus)
    seen = events_of(bus)
    with pytest.raises(InvalidInput):
        await a.rooms.announce(MAIN, text, "Alice")
    assert seen == [] and a.rooms.get(MAIN).announcement is None


async def test_controls_of_an_unknown_room_are_not_found(store: SqlStore) -> None:
    a = await node(store, MemoryBus())
    for control in (a.rooms.pause, a.rooms.resume, a.rooms.clear):
        with pytest.raises(NotFound):
            await control("nowhere", "Alice")
    with pytest.raises(NotFound):
        await a.rooms.announce("nowhere", "hi", "Alice")


async def test_a_late_node_reads_pause_and_announcement_from_the_table(store: SqlStore) -> None:
    a = await node(store, MemoryBus())
    await a.rooms.pause(MAIN, "Alice")
    await a.rooms.announce(MAIN, "back at 3", "Alice")
    late = await node(store, MemoryBus())
    assert (late.rooms.get(MAIN).paused, late.rooms.get(MAIN).announcement) == (True, "back at 3")
