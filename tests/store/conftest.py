"""A fresh real store on each backend: a SQLite file and this run's PostgreSQL database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import event as sa_event

from server.core.model import Draft, Size, Source
from server.store import SqlStore
from tests.conftest import drop_tables


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    if request.param == "sqlite":
        store = SqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    else:
        store = SqlStore.from_url(request.getfixturevalue("postgres_url"))
        async with store._engine.begin() as conn:
            await conn.run_sync(drop_tables)
    await store.create_schema()
    yield store
    await store.close()


def draft(text: str = "hi", **fields: object) -> Draft:
    values: dict[str, object] = {"author": "Ann", "color": "#ffffff", "size": Size.MEDIUM,
                                 "source": Source.WEB, **fields}
    return Draft(text, **values)  # type: ignore[arg-type]


@asynccontextmanager
async def writes_held(store: SqlStore) -> AsyncIterator[None]:
    """Another connection holds the database's write lock until the block ends: the
    store's next write waits (SQLite's busy timeout, PostgreSQL's table lock)."""
    url = store._engine.url
    if url.get_backend_name() == "sqlite":
        held = sqlite3.connect(str(url.database), isolation_level=None)
        held.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            held.execute("ROLLBACK")
            held.close()
        return
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute("BEGIN; LOCK TABLE barrage IN EXCLUSIVE MODE")
        yield
    finally:
        await conn.close()  # rolls back


def inserting(store: SqlStore) -> asyncio.Event:
    """Set once the store starts inserting barrages: a commit is in flight."""
    started, loop = asyncio.Event(), asyncio.get_running_loop()

    def on_execute(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO BARRAGE"):
            loop.call_soon_threadsafe(started.set)  # on SQLite: from the writer's thread

    for engine in store.sync_engines:
        sa_event.listen(engine, "before_cursor_execute", on_execute)
    return started


def commits(store: SqlStore) -> list[object]:
    """Every transaction the store's engines commit from now on."""
    seen: list[object] = []
    for engine in store.sync_engines:
        sa_event.listen(engine, "commit", seen.append)
    return seen
