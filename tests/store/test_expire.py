"""SqlStore.expire: pending past a deadline or past its room's cap becomes expired, once, with an
`expired` event each; decided barrages and other rooms are left alone (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from server.core.errors import AlreadyDecided
from server.core.model import REASON_EXPIRED, EventKind, Status
from server.store import SqlStore
from server.store.sql import BARRAGE
from tests.store.conftest import draft

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


async def add_at(store: SqlStore, moment: datetime, text: str = "hi", room: str = "main") -> int:
    barrage, _ = await store.add(draft(text, room=room), Status.PENDING, moment)
    return barrage.id


async def test_pending_past_the_deadline_expires_with_its_event(store: SqlStore) -> None:
    old = await add_at(store, T0)
    decided = await add_at(store, T0)
    await store.decide(decided, Status.APPROVED, "Alice", T0)
    young = await add_at(store, T0 + timedelta(seconds=10))
    deadline = T0 + timedelta(seconds=5)
    assert await store.expiry_due(deadline, 1000)
    found = await store.expire(deadline, 1000, T0 + timedelta(seconds=305), 500)
    assert [(b.id, b.status, b.reason) for b, _ in found] == [(old, Status.EXPIRED, REASON_EXPIRED)]
    [(barrage, event)] = found
    assert event.kind is EventKind.EXPIRED and event.payload["id"] == old
    assert event.payload["status"] == "expired" and event.payload["room"] == "main"
    assert barrage.decided_at == T0 + timedelta(seconds=305) and barrage.decided_by is None
    assert (await store.events_after(0, [EventKind.EXPIRED], 10))[0].id == event.id
    assert not await store.expiry_due(deadline, 1000)  # nothing left: a second pass finds nothing
    assert await store.expire(deadline, 1000, T0, 500) == []
    assert (await store.get(young)).status is Status.PENDING  # type: ignore[union-attr]
    assert (await store.get(decided)).status is Status.APPROVED  # type: ignore[union-attr]


async def test_an_expired_barrage_cannot_be_decided(store: SqlStore) -> None:
    old = await add_at(store, T0)
    await store.expire(T0 + timedelta(seconds=1), 1000, T0, 500)
    try:
        await store.decide(old, Status.APPROVED, "Alice", T0)
    except AlreadyDecided as lost:
        assert str(lost) == "already expired"
    else:
        raise AssertionError("decided an expired barrage")


async def test_past_the_cap_the_oldest_of_that_room_expires(store: SqlStore) -> None:
    ids = [await add_at(store, T0, f"m{n}") for n in range(4)]
    other = [await add_at(store, T0, f"o{n}", room="hall") for n in range(3)]
    assert await store.expiry_due(None, 3)
    found = await store.expire(None, 3, T0, 500)  # no deadline (ttl 0): only the cap
    assert [b.id for b, _ in found] == [ids[0]]
    assert not await store.expiry_due(None, 3)
    assert {b.id for b in await store.list(Status.PENDING, 0, 10)} == {*ids[1:], *other}


async def test_a_batch_at_a_time_oldest_first(store: SqlStore) -> None:
    ids = [await add_at(store, T0, f"m{n}") for n in range(5)]
    deadline = T0 + timedelta(seconds=1)
    first = await store.expire(deadline, 1000, T0, 2)
    assert [b.id for b, _ in first] == ids[:2]
    rest = await store.expire(deadline, 1000, T0, 500)
    assert [b.id for b, _ in rest] == ids[2:]


async def test_repeats_merged_into_an_expired_one_expire_with_it(store: SqlStore) -> None:
    head = await add_at(store, T0, "same")
    repeat = await add_at(store, T0 + timedelta(seconds=30), "same")
    async with store._engine.begin() as conn:
        await conn.execute(update(BARRAGE).where(BARRAGE.c.id == repeat).values(merged_into=head))
    found = await store.expire(T0 + timedelta(seconds=1), 1000, T0, 500)
    assert [b.id for b, _ in found] == [head, repeat]


async def test_concurrent_passes_expire_each_barrage_once(store: SqlStore) -> None:
    ids = [await add_at(store, T0, f"m{n}") for n in range(30)]
    deadline = T0 + timedelta(seconds=1)
    passes = await asyncio.gather(*(store.expire(deadline, 1000, T0, 500) for _ in range(4)))
    expired = [b.id for found in passes for b, _ in found]
    while await store.expiry_due(deadline, 1000):  # a pass that stepped aside left some: catch up
        expired += [b.id for b, _ in await store.expire(deadline, 1000, T0, 500)]
    assert sorted(expired) == ids
    events = await store.events_after(0, [EventKind.EXPIRED], 100)
    assert sorted(e.payload["id"] for e in events) == ids
