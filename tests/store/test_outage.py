"""The PostgreSQL server stopped under the store and started again (a scratch server of the
test's own: tests/scratch_postgres.py). Every call fails with the core's Unavailable, never a
driver's error (the HTTP edge's 503, a chat adapter's "try again"); the group commit fails
the waiters of a batch and keeps taking writes; everything works again once it is back,
on the same store and engine, without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any

import pytest

from server.core.errors import Unavailable
from server.core.model import Event, Status
from server.store import SqlStore
from server.store.batching import BatchingStore
from tests.scratch_postgres import ScratchPostgres
from tests.store.conftest import draft

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
BACK_SECONDS = 60.0  # a bound on a hang, not a timing claim


class Published:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
async def store(scratch_postgres: ScratchPostgres) -> AsyncIterator[SqlStore]:
    store = SqlStore.from_url(scratch_postgres.url)
    await store.create_schema()
    yield store
    await store.close()


async def unavailable(call: Awaitable[Any]) -> None:
    with pytest.raises(Unavailable):
        await call


async def until_it_works(call: Any) -> Any:
    """Polls `call()` until it returns (bounded): the first calls after a restart may still
    meet the server starting up, and say so with Unavailable."""
    async with asyncio.timeout(BACK_SECONDS):
        while True:
            try:
                return await call()
            except Unavailable:
                await asyncio.sleep(0.05)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_every_call_is_unavailable_while_the_server_is_down_and_works_after(
    store: SqlStore, scratch_postgres: ScratchPostgres, mode: str
) -> None:
    await store.add(draft("before"), Status.APPROVED, NOW)  # a pooled connection, soon dead
    await scratch_postgres.stop(mode)
    for _ in range(3):  # the pooled connection's loss, then new connections refused
        await unavailable(store.add(draft("while down"), Status.APPROVED, NOW))
        await unavailable(store.list(None, 0, 10))
        await unavailable(store.last_event_id())
    await scratch_postgres.start()
    await until_it_works(lambda: store.add(draft("after"), Status.APPROVED, NOW))
    assert [b.text for b in await store.list(None, 0, 10)] == ["before", "after"]


async def test_a_failed_group_commit_fails_its_waiters_and_the_next_one_commits(
    store: SqlStore, scratch_postgres: ScratchPostgres
) -> None:
    published = Published()
    batching = BatchingStore(store, published)
    await batching.add(draft("before"), Status.APPROVED, NOW)
    await scratch_postgres.stop()
    results = await asyncio.gather(*(batching.add(draft(f"down {i}"), Status.APPROVED, NOW)
                                     for i in range(20)), return_exceptions=True)
    assert all(isinstance(result, Unavailable) for result in results), results
    await unavailable(batching.decide(1, Status.REJECTED, "mod", NOW))  # a write of its own turn
    await scratch_postgres.start()
    await until_it_works(lambda: batching.add(draft("after"), Status.APPROVED, NOW))
    added = await asyncio.gather(*(batching.add(draft(f"then {i}"), Status.APPROVED, NOW) for i in range(20)))
    assert len({barrage.id for barrage, _ in added}) == 20
    texts = {b.text for b in await store.list(None, 0, 100)}
    assert not any(text.startswith("down") for text in texts)  # nothing half-stored
    assert {e.payload["text"] for e in published.events} == texts  # every commit published
