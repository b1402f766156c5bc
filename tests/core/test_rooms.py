"""Rooms shared by every process: services on one real store and one memory bus, as nodes
are on one database and one broker; and the checks on what a room may hold."""

from __future__ import annotations

import pytest

from server.bus import MemoryBus
from server.core.errors import InvalidInput, NotFound, RoomExists
from server.core.model import MAIN, Event, EventKind, Mode, Room, Status
from server.core.policy import InputPolicy, RatePolicy
from server.core.rooms import LEGACY_MODE_KEY, Rooms
from server.core.service import BarrageService, Submission
from server.ratelimit import MemoryWindows
from server.store import SqlStore
from server.store.batching import BatchingStore

DEFAULTS = Room(MAIN, MAIN, mode=Mode.MANUAL, crossing_seconds=8.0)


async def node(store: SqlStore, bus: MemoryBus, defaults: Room = DEFAULTS,
               seeds: tuple[Room, ...] = ()) -> BarrageService:
    """A service composed as server/app.py does, following the bus."""
    uow = BatchingStore(store, bus)
    rooms = Rooms(uow, defaults, seeds)
    service = BarrageService(uow, InputPolicy(), MemoryWindows(), RatePolicy(0, 0), rooms)
    bus.subscribe(service.on_event)
    await service.start()
    return service


async def test_a_mode_change_on_one_node_holds_on_the_other(store: SqlStore) -> None:
    bus = MemoryBus()
    a, b = await node(store, bus), await node(store, bus)
    await a.set_mode("off", by="Alice")
    assert b.mode is Mode.OFF
    assert (await b.submit(Submission(text="straight to the wall"))).barrage.status is Status.APPROVED
    await b.set_mode("manual")
    assert a.mode is Mode.MANUAL
    assert (await a.submit(Submission(text="held"))).barrage.status is Status.PENDING


async def test_a_room_made_on_one_node_takes_submissions_on_the_other(store: SqlStore) -> None:
    bus = MemoryBus()
    a, b = await node(store, bus), await node(store, bus)
    with pytest.raises(NotFound, match="no room hall-b"):
        await b.submit(Submission(text="too early", room="hall-b"))
    await a.rooms.create("hall-b", {"title": "Hall B", "mode": "off"}, "Alice")
    barrage = (await b.submit(Submission(text="hi B", room="hall-b"))).barrage
    assert (barrage.room, barrage.status) == ("hall-b", Status.APPROVED)  # hall-b's mode, not main's
    assert (await b.submit(Submission(text="hi main"))).barrage.status is Status.PENDING
    await b.rooms.update("hall-b", {"crossing_seconds": 12, "title": "Hall B (upstairs)"}, "Bob")
    assert a.rooms.get("hall-b") == Room("hall-b", "Hall B (upstairs)", mode=Mode.OFF, crossing_seconds=12.0)


async def test_a_late_node_reads_the_rooms_and_a_slug_is_taken_once(store: SqlStore) -> None:
    a = await node(store, MemoryBus())
    made = await a.rooms.create("side", {}, "Alice")
    assert made == Room("side", "side", mode=DEFAULTS.mode, crossing_seconds=DEFAULTS.crossing_seconds)
    with pytest.raises(RoomExists):
        await a.rooms.create("side", {"title": "again"}, "Bob")
    late = await node(store, MemoryBus())
    assert [room.slug for room in late.rooms.all()] == [MAIN, "side"]


async def test_the_config_seeds_missing_rooms_and_never_overwrites_one(store: SqlStore) -> None:
    seeds = (Room("hall-a", "Hall A", mode=Mode.OFF), Room(MAIN, "Keynote", crossing_seconds=5.0))
    first = await node(store, MemoryBus(), seeds=seeds)
    assert first.rooms.get(MAIN).title == "Keynote" and first.rooms.get("hall-a").mode is Mode.OFF
    await first.rooms.update("hall-a", {"title": "Hall A, renamed at runtime"}, "Alice")
    again = await node(store, MemoryBus(), seeds=(Room("hall-a", "Hall A"),))
    assert again.rooms.get("hall-a").title == "Hall A, renamed at runtime"


async def test_an_older_database_keeps_its_stored_mode(store: SqlStore) -> None:
    await store.put_setting(LEGACY_MODE_KEY, "off", None)  # what the version before rooms stored
    assert (await node(store, MemoryBus())).mode is Mode.OFF


async def test_an_event_older_than_the_room_held_changes_nothing(store: SqlStore) -> None:
    service = await node(store, MemoryBus())
    await service.set_mode("off", by="Alice")
    [written] = await store.events_after(0, (EventKind.MODE,), 10)
    service.on_event(Event(written.id - 1, EventKind.MODE, {"mode": "manual", "room": MAIN}))  # late
    service.on_event(written)  # again
    assert service.mode is Mode.OFF


@pytest.mark.parametrize(("slug", "fields"), [
    ("Main-Hall", {}), ("-x", {}), ("x" * 33, {}), ("a b", {}), ("", {}), (None, {}), (7, {}),
    ("ok", {"title": 5}), ("ok", {"title": "x" * 101}), ("ok", {"title": "a\nb"}),
    ("ok", {"join_text": "x" * 201}), ("ok", {"mode": "sometimes"}), ("ok", {"crossing_seconds": 0.5}),
    ("ok", {"crossing_seconds": 61}), ("ok", {"crossing_seconds": True}), ("ok", {"crossing_seconds": "8"}),
    ("ok", {"paused": True}), ("ok", {"colour": "red"}),
])
async def test_bad_rooms_are_refused_and_nothing_is_stored(store: SqlStore, slug: object,
                                                           fields: dict) -> None:
    service = await node(store, MemoryBus())
    with pytest.raises(InvalidInput):
        await service.rooms.create(slug, fields, "Alice")
    assert [room.slug for room in await store.rooms()] == [MAIN]


async def test_an_unknown_room_is_not_found_and_garbage_is_not_echoed(store: SqlStore) -> None:
    service = await node(store, MemoryBus())
    with pytest.raises(NotFound, match=r"^no room nowhere$"):
        await service.set_mode("off", room="nowhere")
    with pytest.raises(NotFound, match=r"^no such room$"):
        await service.submit(Submission(text="x", room="<script>\u202e"))
