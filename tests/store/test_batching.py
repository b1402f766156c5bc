"""Group commit in front of the real store, on SQLite and PostgreSQL.

Each test proves batching by a positive signal: the engine's commits are counted,
and "a commit is in flight" is the store's INSERT starting while another connection
holds the write lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from server.core.errors import RateLimited, Unavailable
from server.core.model import Event, EventKind, Status
from server.store import SqlStore
from server.store.batching import BatchingStore
from tests.store.conftest import commits, draft, inserting, writes_held

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
POISON_PG = [
    """CREATE OR REPLACE FUNCTION poison() RETURNS trigger AS $$ BEGIN
         IF NEW.payload LIKE '%poison%' THEN
           RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';
         END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER poison BEFORE INSERT ON event FOR EACH ROW EXECUTE FUNCTION poison()",
]
# SQLite has no RAISE with an error of our choosing but a constraint one (which the store
# resolves row by row, for repeated deliveries): an integer overflow is a plain error.
POISON_SQLITE = ["CREATE TRIGGER poison BEFORE INSERT ON event WHEN NEW.payload LIKE '%poison%' "
                 "BEGIN SELECT abs(-9223372036854775808); END"]


class Published:
    """The publisher the store hands each commit's events to."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


async def texts(store: SqlStore) -> list[str]:
    return [b.text for b in await store.list(None, 0, 1000)]


async def test_adds_queued_during_a_commit_are_the_next_transaction_in_call_order(store: SqlStore) -> None:
    batching, committed = BatchingStore(store, Published()), commits(store)
    results = await asyncio.gather(*(batching.add(draft(f"m{i}"), Status.APPROVED, NOW) for i in range(50)))
    assert len(committed) == 2  # the first at once, alone; the 49 queued meanwhile together
    assert [b.text for b, _ in results] == [f"m{i}" for i in range(50)] == await texts(store)
    ids, event_ids = [b.id for b, _ in results], [e.id for _, e in results if e is not None]
    assert ids == sorted(ids) and event_ids == sorted(event_ids) and len(event_ids) == 50


async def test_adds_arriving_during_a_commit_share_the_next_one(store: SqlStore) -> None:
    batching, started, committed = BatchingStore(store, Published()), inserting(store), commits(store)
    async with writes_held(store):
        first = asyncio.create_task(batching.add(draft("first"), Status.PENDING, NOW))
        await started.wait()  # in flight, and held
        rest = [asyncio.create_task(batching.add(draft(f"m{i}"), Status.PENDING, NOW)) for i in range(20)]
    results = await asyncio.gather(first, *rest)
    assert len(committed) == 2  # the first alone, then the twenty together
    assert [b.text for b, _ in results] == ["first", *(f"m{i}" for i in range(20))] == await texts(store)
    event_ids = [e.id for _, e in results if e is not None]
    assert event_ids == sorted(event_ids) and len(event_ids) == 21


async def test_a_repeated_delivery_inside_a_batch_is_one_barrage(store: SqlStore) -> None:
    batching = BatchingStore(store, Published())
    subs = [draft("same", dedupe_key="k1"), draft("other"), draft("same", dedupe_key="k1")]
    (first, e1), (_, e2), (again, e3) = await asyncio.gather(
        *(batching.add(d, Status.PENDING, NOW) for d in subs))
    assert again == first and e1 is not None and e2 is not None and e3 is None
    assert await texts(store) == ["same", "other"]


async def test_a_failing_batch_fails_every_caller_in_it_and_stores_nothing(store: SqlStore) -> None:
    postgres = store._engine.dialect.name == "postgresql"
    async with store._engine.begin() as conn:
        for statement in POISON_PG if postgres else POISON_SQLITE:
            await conn.execute(text(statement))
    batching, started, committed = BatchingStore(store, Published()), inserting(store), commits(store)
    async with writes_held(store):
        first = asyncio.create_task(batching.add(draft("first"), Status.APPROVED, NOW))
        await started.wait()
        batch = [asyncio.create_task(batching.add(draft(t), Status.APPROVED, NOW))
                 for t in ("a", "poison", "c")]
    await first
    results = await asyncio.gather(*batch, return_exceptions=True)
    # A full disk on PostgreSQL is the core's Unavailable (503 for each sender).
    assert all(isinstance(r, Unavailable if postgres else OperationalError) for r in results)
    assert len(committed) == 1 and await texts(store) == ["first"]
    assert len(await store.events_after(0, tuple(EventKind), 10)) == 1
    _, event = await batching.add(draft("after"), Status.APPROVED, NOW)
    assert event is not None and await texts(store) == ["first", "after"]


async def test_a_read_only_database_fails_the_whole_batch_as_unavailable(tmp_path: Any) -> None:
    path = tmp_path / "ro.db"
    writable = SqlStore.from_url(f"sqlite+aiosqlite:///{path}")
    await writable.create_schema()
    await writable.close()
    store = SqlStore.from_url(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    try:
        batching = BatchingStore(store, Published())
        results = await asyncio.gather(*(batching.add(draft(f"m{i}"), Status.PENDING, NOW)
                                         for i in range(5)), return_exceptions=True)
        assert all(isinstance(r, Unavailable) for r in results)
        assert await texts(store) == []
    finally:
        await store.close()


async def test_past_the_waiting_bound_submissions_are_refused(store: SqlStore) -> None:
    batching, started = BatchingStore(store, Published(), max_queued=3), inserting(store)
    async with writes_held(store):
        first = asyncio.create_task(batching.add(draft("in flight"), Status.PENDING, NOW))
        await started.wait()
        waiting = [asyncio.create_task(batching.add(draft(f"w{i}"), Status.PENDING, NOW)) for i in range(3)]
        refused = [asyncio.create_task(batching.add(draft(f"r{i}"), Status.PENDING, NOW)) for i in range(2)]
        await asyncio.wait(refused)
        for task in refused:
            error = task.exception()
            assert isinstance(error, RateLimited) and error.retry_after == 1
            assert str(error) == "the wall is very busy; try again in a moment"
        assert not any(task.done() for task in waiting)
    await asyncio.gather(first, *waiting)
    assert await texts(store) == ["in flight", "w0", "w1", "w2"]


async def test_a_submission_cancelled_before_its_commit_is_not_stored(store: SqlStore) -> None:
    batching, started = BatchingStore(store, Published(), max_queued=2), inserting(store)
    async with writes_held(store):
        first = asyncio.create_task(batching.add(draft("in flight"), Status.PENDING, NOW))
        await started.wait()
        gone = asyncio.create_task(batching.add(draft("cancelled"), Status.PENDING, NOW))
        kept = asyncio.create_task(batching.add(draft("kept"), Status.PENDING, NOW))
        full = asyncio.create_task(batching.add(draft("full"), Status.PENDING, NOW))
        await asyncio.wait([full])
        assert isinstance(full.exception(), RateLimited)  # so both others are queued
        gone.cancel()
        await asyncio.wait([gone])
        again = asyncio.create_task(batching.add(draft("again"), Status.PENDING, NOW))  # room again
    await asyncio.gather(first, kept, again)
    assert gone.cancelled() and await texts(store) == ["in flight", "kept", "again"]


@pytest.mark.parametrize("cancels", [1, 2])
async def test_a_submission_cancelled_while_its_commit_runs_is_stored_and_published_in_order(
    store: SqlStore, cancels: int,
) -> None:
    """A commit under way is not stopped by a cancel (shutdown; on SQLite it runs on a thread),
    nor by a second one (a shutdown that gives up on its handlers): it is seen through, its
    events published before those of the writes queued behind it, the turn held until then."""
    published = Published()
    batching, started = BatchingStore(store, published), inserting(store)
    async with writes_held(store):
        first = asyncio.create_task(batching.add(draft("in flight"), Status.APPROVED, NOW))
        await started.wait()
        queued = [asyncio.create_task(batching.add(draft(f"q{i}"), Status.APPROVED, NOW)) for i in range(2)]
        for _ in range(cancels):
            first.cancel()
            await asyncio.sleep(0)  # each cancel lands while the commit waits for the lock
    await asyncio.gather(*queued)
    await asyncio.wait([first])
    assert first.cancelled()
    assert await texts(store) == ["in flight", "q0", "q1"]
    assert [e.payload["text"] for e in published.events] == ["in flight", "q0", "q1"]
    assert [e.id for e in published.events] == [1, 2, 3]


async def test_every_write_that_appends_an_event_returns_in_commit_order(store: SqlStore) -> None:
    """What the service relies on to publish in id order: callers resume in id order."""
    decided, _ = await store.add(draft("to decide"), Status.PENDING, NOW)
    undone, _ = await store.add(draft("to undo"), Status.PENDING, NOW)
    await store.decide(undone.id, Status.REJECTED, "Alice", NOW)
    batching = BatchingStore(store, Published())
    resumed: list[int] = []

    async def track(write: Awaitable[Any]) -> int:
        result = await write
        if isinstance(result, list):  # add_many: its last event
            result = result[-1]
        event = result if isinstance(result, Event) else result[1]
        resumed.append(event.id)
        return event.id

    ids = await asyncio.gather(
        track(batching.add(draft("a"), Status.PENDING, NOW)),
        track(batching.decide(decided.id, Status.APPROVED, "Alice", NOW)),
        track(batching.add(draft("b"), Status.PENDING, NOW)),
        track(batching.add(draft("c"), Status.PENDING, NOW)),
        track(batching.put_setting("moderation.mode", "off", (EventKind.MODE, {"mode": "off"}))),
        track(batching.undo(undone.id, datetime(2000, 1, 1, tzinfo=UTC), NOW)),
        track(batching.add_many([(draft("d"), Status.PENDING), (draft("e"), Status.PENDING)], NOW)),
    )
    assert ids == sorted(ids) and resumed == ids


async def test_reads_and_other_writes_pass_through(store: SqlStore) -> None:
    batching = BatchingStore(store, Published())
    barrage, event = await batching.add(draft(dedupe_key="k"), Status.PENDING, NOW)
    assert await batching.get(barrage.id) == barrage == await batching.by_dedupe_key("k")
    assert await batching.events_after(0, tuple(EventKind), 10) == [event]
    await batching.forget_dedupe_key("k", barrage.id)
    assert await store.by_dedupe_key("k") is None


@pytest.mark.parametrize("limit", [1, 7])
async def test_batches_are_capped(store: SqlStore, limit: int) -> None:
    batching, committed = BatchingStore(store, Published(), max_batch=limit), commits(store)
    await asyncio.gather(*(batching.add(draft(f"m{i}"), Status.PENDING, NOW) for i in range(14)))
    assert len(committed) == 1 + -(-13 // limit)  # the first alone, then the rest by the cap
    assert await texts(store) == [f"m{i}" for i in range(14)]


async def test_each_commits_events_are_published_in_id_order_once_committed(store: SqlStore) -> None:
    published = Published()
    batching = BatchingStore(store, published)
    adds = [batching.add(draft(f"m{i}"), Status.PENDING, NOW) for i in range(30)]
    results = await asyncio.gather(*adds, batching.put_setting("k", "v", (EventKind.MODE, {"mode": "off"})))
    barrage, _ = results[0]
    decided = await batching.decide(barrage.id, Status.APPROVED, "mod", NOW)
    ids = [event.id for event in published.events]
    assert ids == sorted(ids) == list(range(ids[0], ids[0] + 32))
    assert published.events[-1] == decided[1]
    assert [e.id for e in await store.events_after(0, tuple(EventKind), 100)] == ids


async def test_a_failing_publisher_fails_no_write(store: SqlStore) -> None:
    class Broken:
        async def publish(self, event: Event) -> None:
            raise ConnectionError("bus down")

    _, event = await BatchingStore(store, Broken()).add(draft("still here"), Status.APPROVED, NOW)
    assert event is not None and (await store.events_after(0, (EventKind.BARRAGE,), 10))[0].id == event.id
