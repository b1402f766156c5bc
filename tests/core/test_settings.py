"""Settings shared by every process: two services on one real store and one memory bus,
as two nodes are on one database and one broker."""

from __future__ import annotations

from server.bus import MemoryBus
from server.core.model import Event, EventKind, Mode, Status
from server.core.policy import InputPolicy, RatePolicy
from server.core.service import BarrageService, Submission
from server.core.settings import MODE_KEY, Settings
from server.ratelimit import MemoryWindows
from server.store import SqlStore
from server.store.batching import BatchingStore


async def node(store: SqlStore, bus: MemoryBus, mode: Mode = Mode.MANUAL) -> BarrageService:
    """A service composed as server/app.py does, following the bus."""
    service = BarrageService(BatchingStore(store, bus), InputPolicy(), MemoryWindows(), RatePolicy(0, 0),
                             initial_mode=mode)
    bus.subscribe(service.on_event)
    await service.start()
    return service


async def test_a_mode_change_on_one_node_holds_on_the_other(store: SqlStore) -> None:
    bus = MemoryBus()
    a, b = await node(store, bus), await node(store, bus)
    await a.set_mode("off", by="Alice")
    assert b.mode is Mode.OFF
    receipt = await b.submit(Submission(text="straight to the wall"))
    assert receipt.barrage.status is Status.APPROVED
    await b.set_mode("manual")
    assert a.mode is Mode.MANUAL
    assert (await a.submit(Submission(text="held"))).barrage.status is Status.PENDING


async def test_nodes_starting_together_on_a_new_database_agree_on_the_first_stored_mode(
    store: SqlStore,
) -> None:
    bus = MemoryBus()
    first = await node(store, bus, Mode.OFF)
    second = await node(store, bus, Mode.MANUAL)  # configured otherwise: the database wins
    assert first.mode is second.mode is Mode.OFF
    assert await store.get_setting(MODE_KEY) == "off"


async def test_a_node_that_starts_later_reads_the_database(store: SqlStore) -> None:
    bus = MemoryBus()
    await (await node(store, bus)).set_mode("off")
    assert (await node(store, MemoryBus())).mode is Mode.OFF


async def test_an_event_older_than_the_value_held_changes_nothing(store: SqlStore) -> None:
    settings = Settings(store, {MODE_KEY: "manual"})
    await settings.load()
    await settings.put(MODE_KEY, "off", (EventKind.MODE, {"mode": "off", "by": "Alice"}))
    [written] = await store.events_after(0, (EventKind.MODE,), 10)
    settings.on_event(Event(written.id - 1, EventKind.MODE, {"mode": "manual"}))  # late
    settings.on_event(written)  # again
    assert settings.get(MODE_KEY) == "off"
    settings.on_event(Event(written.id + 1, EventKind.MODE, {"mode": "manual"}))
    assert settings.get(MODE_KEY) == "manual"


async def test_a_change_made_while_loading_is_not_undone_by_the_load(store: SqlStore) -> None:
    settings = Settings(store, {MODE_KEY: "manual"})
    settings.on_event(Event(5, EventKind.MODE, {"mode": "off"}))  # delivered before the load ends
    await settings.load()  # an empty log: the stored "manual" is only as new as event 0
    assert settings.get(MODE_KEY) == "off"
