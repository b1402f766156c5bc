"""The event log's ids are contiguous and commit in id order, with many writers on one database.

Writers are separate engines (each its own connection pool and group commit, as separate
processes have) on the same SQLite file or PostgreSQL database, and then two real
`barrage serve` processes on one PostgreSQL database. An observer polls `events_after` the way
a stream's replay does: if an id ever committed before a lower one, it would see the higher
one with the lower one missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import text

from server.core.errors import Unavailable
from server.core.model import Event, EventKind, Status
from server.store import SqlStore
from server.store.batching import BatchingStore
from tests.cluster import Cluster
from tests.server_process import ServerProcess
from tests.store.conftest import draft
from tests.store.test_batching import POISON_PG, POISON_SQLITE, Published

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
WRITERS = 3
ROUNDS = 15


def url_of(store: SqlStore) -> str:
    return store._engine.url.render_as_string(hide_password=False)


@pytest.fixture
async def writers(store: SqlStore) -> AsyncIterator[list[BatchingStore]]:
    """WRITERS stores on the test's database, each as one process has it."""
    extra = [SqlStore.from_url(url_of(store)) for _ in range(WRITERS - 1)]
    yield [BatchingStore(each, Published()) for each in (store, *extra)]
    for each in extra:
        await each.close()


class Observer:
    """Polls the log as a replay does, and checks that every read continues the last one."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.seen = 0
        self.reads = 0

    async def read(self) -> list[Event]:
        events = await self.store.events_after(self.seen, tuple(EventKind), 1000)
        ids = [event.id for event in events]
        assert ids == list(range(self.seen + 1, self.seen + 1 + len(ids))), (self.seen, ids[:5])
        self.seen, self.reads = ids[-1] if ids else self.seen, self.reads + 1
        return events

    async def follow(self, until: asyncio.Event) -> None:
        while not until.is_set():
            await self.read()
            await asyncio.sleep(0)


async def write_a_lot(store: BatchingStore, name: str) -> int:
    """Submissions in batches, decisions and settings, as fast as they come: the events appended."""
    appended = 0
    for round_ in range(ROUNDS):
        added = await asyncio.gather(*(store.add(draft(f"{name}-{round_}-{i}"), Status.PENDING, NOW)
                                       for i in range(8)))
        await store.decide(added[0][0].id, Status.APPROVED, name, NOW)
        await store.put_setting(f"test.{name}", str(round_), (EventKind.MODE, {"mode": "off", "by": name}))
        appended += len(added) + 2
    return appended


async def test_many_writers_append_ids_one_to_n_in_commit_order(
    store: SqlStore, writers: list[BatchingStore]
) -> None:
    observer, done = Observer(store), asyncio.Event()
    following = asyncio.create_task(observer.follow(done))
    counts = await asyncio.gather(*(write_a_lot(each, f"w{i}") for i, each in enumerate(writers)))
    done.set()
    await following
    await observer.read()  # the rest
    assert observer.seen == sum(counts) == WRITERS * ROUNDS * 10
    assert observer.reads > 1


async def test_a_rollback_mid_batch_leaves_no_gap(store: SqlStore) -> None:
    postgres = store._engine.dialect.name == "postgresql"
    async with store._engine.begin() as conn:
        for statement in POISON_PG if postgres else POISON_SQLITE:
            await conn.execute(text(statement))
    [(_, first)] = await store.add_many([(draft("first"), Status.APPROVED)], NOW)
    items = [(draft(t), Status.APPROVED) for t in ("a", "b", "poison", "d")]
    with pytest.raises(Exception) as failed:
        await store.add_many(items, NOW)
    assert failed.type is Unavailable or not postgres
    [(_, after)] = await store.add_many([(draft("after"), Status.APPROVED)], NOW)
    assert first is not None and after is not None
    assert after.id == first.id + 1
    assert [e.id for e in await store.events_after(0, tuple(EventKind), 10)] == [first.id, after.id]


@pytest.mark.parametrize("store", ["postgres"], indirect=True)  # SQLite: one writer by construction
async def test_on_postgres_a_later_append_waits_for_an_earlier_one_to_commit(store: SqlStore) -> None:
    """Deterministic: the first writer is held after its insert and before its commit
    (a trigger waits on a lock the test holds); the second must not commit meanwhile."""
    async with store._engine.begin() as conn:
        await conn.execute(text("""CREATE OR REPLACE FUNCTION hold() RETURNS trigger AS $$ BEGIN
            IF NEW.payload LIKE '%hold%' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF;
            RETURN NEW; END $$ LANGUAGE plpgsql"""))
        await conn.execute(text("CREATE TRIGGER hold AFTER INSERT ON event FOR EACH ROW "
                                "EXECUTE FUNCTION hold()"))
    other = SqlStore.from_url(url_of(store))
    gate = await asyncpg.connect(url_of(store).replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await gate.execute("SELECT pg_advisory_lock(4242)")
        held = asyncio.create_task(store.add(draft("hold"), Status.APPROVED, NOW))
        await waiting_for_locks(gate, 1)  # the first: inserted, not committed
        later = asyncio.create_task(other.add(draft("later"), Status.APPROVED, NOW))
        await waiting_for_locks(gate, 2)  # the second waits too: its event is not committed
        assert await other.events_after(0, tuple(EventKind), 10) == []
        await gate.execute("SELECT pg_advisory_unlock(4242)")
        (_, first), (_, second) = await held, await later
    finally:
        await gate.close()
        await other.close()
    assert first is not None and second is not None and second.id == first.id + 1


# Lock waits in this test's database only: other runs share the server.
WAITING = ("SELECT count(*) FROM pg_locks WHERE NOT granted AND database = "
           "(SELECT oid FROM pg_database WHERE datname = current_database())")


async def waiting_for_locks(conn: asyncpg.Connection, count: int) -> None:
    """Until `count` backends wait for a lock here (bounded: a writer that never waits fails)."""
    async def poll() -> None:
        while True:
            if await conn.fetchval(WAITING) >= count:
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 30)


async def post_many(http: aiohttp.ClientSession, node: ServerProcess, name: str, count: int) -> int:
    created = 0
    for i in range(count):
        async with http.post(f"{node.url}/api/barrages", json={"text": f"{name} {i}"}) as resp:
            created += resp.status == 201
    return created


async def test_two_server_processes_on_one_postgres_append_one_to_n_in_commit_order(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = {"BARRAGE_MODERATION_MODE": "off"}
    observer = Observer(SqlStore.from_url(fresh_postgres_url))
    try:  # memory://: only the database is shared, and it alone orders the ids
        async with Cluster(tmp_path, fresh_postgres_url, "memory://", env=env) as cluster:
            done = asyncio.Event()
            following = asyncio.create_task(observer.follow(done))
            async with aiohttp.ClientSession() as http:
                created = await asyncio.gather(*(post_many(http, node, f"{node.port}-{c}", 40)
                                                 for node in cluster.nodes for c in range(8)))
            done.set()
            await following
            await observer.read()
    finally:
        await observer.store.close()
    # ids 1..N: main's `room` event (the first node to start writes it), then every 201.
    assert observer.seen == 1 + sum(created) == 1 + 2 * 8 * 40
    assert observer.reads > 1
