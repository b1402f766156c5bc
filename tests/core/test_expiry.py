"""The expiry pass against the real store (SQLite and PostgreSQL) and the memory bus: what is due
expires in slices of `batch`, each with its event published; what is not due stays pending."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from server.bus import MemoryBus
from server.core.expiry import Expiry
from server.core.model import Draft, EventKind, Size, Source, Status
from server.core.service import utcnow
from server.store import SqlStore
from server.store.batching import BatchingStore
from tests.core.test_service import Recorder
from tests.core.test_service import store as store  # the fixture, on both backends


@pytest.fixture
async def uow(store: SqlStore) -> AsyncIterator[tuple[BatchingStore, Recorder]]:
    bus = MemoryBus()
    yield BatchingStore(store, bus), Recorder(bus)


async def add(store: BatchingStore, text: str, age_seconds: float) -> int:
    draft = Draft(text, "Ann", "#ffffff", Size.MEDIUM, Source.WEB)
    barrage, _ = await store.add(draft, Status.PENDING, utcnow() - timedelta(seconds=age_seconds))
    return barrage.id


async def test_a_pass_expires_everything_due_in_slices(uow: tuple[BatchingStore, Recorder]) -> None:
    store, recorder = uow
    old = [await add(store, f"old {n}", 600) for n in range(5)]
    young = await add(store, "young", 0)
    assert await Expiry(store, 300, 1000, batch=2).run_once() == 5
    expired = [e for e in recorder.events if e.kind is EventKind.EXPIRED]
    assert [e.payload["id"] for e in expired] == old  # published in id order
    assert [b.id for b in await store.list(Status.PENDING, 0, 10)] == [young]
    assert await Expiry(store, 300, 1000).run_once() == 0


async def test_ttl_zero_leaves_old_ones_to_the_cap(uow: tuple[BatchingStore, Recorder]) -> None:
    store, _ = uow
    ids = [await add(store, f"m {n}", 3600) for n in range(3)]
    assert await Expiry(store, 0, 1000).run_once() == 0
    assert await Expiry(store, 0, 2).run_once() == 1
    assert [b.id for b in await store.list(Status.PENDING, 0, 10)] == ids[1:]
