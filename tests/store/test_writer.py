"""Where a submission's transaction runs (server/store/writer.py): on SQLite, whole on a thread
of the store's own, with its own connection; in memory and on PostgreSQL, through run_sync."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from server.core.errors import Unavailable
from server.core.model import Status
from server.store import SqlStore
from server.store.sql import create_engine
from server.store.writer import Awaited, OnThread
from tests.store.conftest import draft, writes_held

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def file_store(tmp_path: Path) -> SqlStore:
    # The engine's own `synchronous` reaches the writer's connection (no second place to say it).
    store = SqlStore(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", "full"))
    await store.create_schema()
    yield store  # type: ignore[misc]
    await store.close()


async def test_on_a_sqlite_file_the_work_runs_on_the_writer_thread_with_the_pragmas(
    file_store: SqlStore,
) -> None:
    assert isinstance(file_store._transactions, OnThread)

    def where(conn: Connection) -> tuple[str, int, str]:
        return (threading.current_thread().name, conn.execute(text("PRAGMA synchronous")).scalar_one(),
                conn.execute(text("PRAGMA journal_mode")).scalar_one())

    name, synchronous, journal = await file_store._transactions.run(where)
    assert name.startswith("sqlite-writer") and name != threading.current_thread().name
    assert (synchronous, journal) == (2, "wal")  # FULL, as configured; WAL


async def test_its_commits_are_seen_by_the_async_engine_and_a_failure_rolls_back(
    file_store: SqlStore,
) -> None:
    barrage, event = await file_store.add(draft("kept"), Status.APPROVED, NOW)
    assert event is not None and (await file_store.get(barrage.id)) == barrage

    def insert_then_fail(conn: Connection) -> None:
        conn.execute(text("INSERT INTO setting (key, value) VALUES ('k', 'v')"))
        raise RuntimeError("after the insert")

    with pytest.raises(RuntimeError):
        await file_store._transactions.run(insert_then_fail)
    assert await file_store.get_setting("k") is None


async def test_a_write_waits_off_the_loop_for_a_lock_another_connection_holds(
    file_store: SqlStore,
) -> None:
    """The busy wait is the writer thread's: the loop keeps running meanwhile (on the loop, these
    sleeps could not end before the lock is released, after them)."""
    async with writes_held(file_store):
        adding = asyncio.create_task(file_store.add(draft("waits"), Status.APPROVED, NOW))
        for _ in range(5):
            await asyncio.sleep(0.01)
        assert not adding.done()
    barrage, _ = await adding
    assert barrage.id == 1


async def test_once_closed_a_write_is_unavailable_and_closing_again_is_harmless(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await store.create_schema()
    await store.add(draft(), Status.APPROVED, NOW)
    await store.close()
    with pytest.raises(Unavailable):  # a 503 for a request that comes in during shutdown
        await store.add(draft("late"), Status.APPROVED, NOW)
    await store.close()


@pytest.mark.parametrize("url", [
    "sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:",
    "sqlite+aiosqlite:///file:wall?mode=memory&cache=shared&uri=true",
])
async def test_sqlite_in_memory_runs_on_the_async_engine_s_one_connection(url: str) -> None:
    """A second connection would open a database of its own, empty."""
    store = SqlStore.from_url(url)
    try:
        assert isinstance(store._transactions, Awaited)
        await store.create_schema()
        barrage, event = await store.add(draft("in memory"), Status.APPROVED, NOW)
        assert event is not None and (await store.get(barrage.id)) == barrage
    finally:
        await store.close()
