"""Marks in the database (server/store/marks.py), on a SQLite file and on PostgreSQL: what
nodes on a PostgreSQL bus without Redis share for slow mode and "already sent"."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select, text

from server.store import SqlStore
from server.store.marks import SWEEP_SECONDS, TABLE, SqlMarks
from server.store.sql import create_engine


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def nodes(store: SqlStore) -> AsyncIterator[Callable[..., SqlMarks]]:
    """SqlMarks on the store's database as each node makes them (`for_database`: on PostgreSQL
    an autocommit engine of their own), each with its own store engine."""
    url = store._engine.url.render_as_string(hide_password=False)
    engines, made = [], []

    def make(clock: Callable[[], float] | None = None) -> SqlMarks:
        engines.append(create_engine(url))
        made.append(SqlMarks.for_database(url, engines[-1]))
        if clock is not None:
            made[-1]._clock = clock
        return made[-1]

    yield make
    for marks in made:
        await marks.close()
    for engine in engines:
        await engine.dispose()


async def test_one_of_many_nodes_reserving_at_once_gets_it(nodes: Callable[..., SqlMarks]) -> None:
    marks = [nodes() for _ in range(4)]
    key = f"slow:web:{secrets.token_hex(4)}"
    waits = await asyncio.gather(*(marks[i % 4].reserve(key, f"t{i}", 30) for i in range(20)))
    assert waits.count(0.0) == 1
    assert all(25 < wait <= 30 for wait in waits if wait), waits


async def test_release_frees_only_its_own_reservation(nodes: Callable[..., SqlMarks]) -> None:
    a, b = nodes(), nodes()
    assert await a.reserve("repeat:x", "mine", 30) == 0.0
    await b.release("repeat:x", "not mine")
    assert await b.reserve("repeat:x", "theirs", 30) > 0
    await b.release("repeat:x", "mine")
    assert await b.reserve("repeat:x", "theirs", 30) == 0.0


async def test_a_mark_runs_out_and_is_swept(nodes: Callable[..., SqlMarks], store: SqlStore) -> None:
    clock = Clock()
    marks = nodes(clock)
    assert await marks.reserve("slow:web:b", "t", 5) == 0.0
    clock.now += 3
    assert await marks.reserve("slow:web:b", "t2", 5) == pytest.approx(2.0)
    clock.now += 2
    assert await marks.reserve("slow:web:b", "t3", 5) == 0.0  # ran out: taken anew
    assert await marks.reserve("repeat:web:b:1", "t", 1) == 0.0
    clock.now += SWEEP_SECONDS + 6
    await marks._sweeping  # the first reservation's sweep (one runs at a time)
    assert await marks.reserve("slow:web:c", "t", 5) == 0.0  # and sweeps, beside it
    assert marks._sweeping is not None
    await marks._sweeping
    async with store._engine.connect() as conn:
        keys = (await conn.execute(select(TABLE.c.key))).scalars().all()
    assert keys == ["slow:web:c"]


async def test_connections_the_server_dropped_are_replaced_not_counted_in_memory(
    fresh_postgres_url: str
) -> None:
    """A PostgreSQL restart, a failover or a proxy closing idle connections: the next
    reservation on each node must still be the database's (found by a reviewer: both nodes
    took the same mark in memory)."""
    store = SqlStore.from_url(fresh_postgres_url)
    await store.create_schema()
    a, b = (SqlMarks.for_database(fresh_postgres_url, store._engine) for _ in range(2))
    try:
        assert await a.reserve("warm:a", "t", 30) == 0.0 and await b.reserve("warm:b", "t", 30) == 0.0
        async with store._engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        waits = [await a.reserve("slow:web:z", "ta", 30), await b.reserve("slow:web:z", "tb", 30)]
        assert sorted(waits)[0] == 0.0 and sorted(waits)[1] > 0
    finally:
        for marks in (a, b):
            await marks.close()
        await store.close()


async def test_a_database_that_never_answers_is_given_up_on() -> None:
    """Accepts the connection, says nothing: the reservation falls back to memory after the
    connect timeout (it took asyncpg's 60 s twice before). The bound is a hang guard."""
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda _, writer: accepted.append(writer), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    url = f"postgresql+asyncpg://nobody@127.0.0.1:{port}/none"
    engine = create_engine(url)
    marks = SqlMarks.for_database(url, engine)
    try:
        assert await asyncio.wait_for(marks.reserve("slow:web:s", "t", 30), 30) == 0.0
    finally:
        await marks.close()
        await engine.dispose()
        silent.close()
        for writer in accepted:
            writer.close()
        await silent.wait_closed()


async def test_an_unreachable_database_counts_in_memory(unused_tcp_port: int) -> None:
    engine = create_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{unused_tcp_port}/none")
    marks = SqlMarks(engine)
    try:
        assert await marks.reserve("slow:web:d", "t", 30) == 0.0
        assert await marks.reserve("slow:web:d", "t2", 30) > 0
        await marks.release("slow:web:d", "t")
        assert await marks.reserve("slow:web:d", "t3", 30) == 0.0
    finally:
        await engine.dispose()


async def test_the_table_holds_one_row_per_key(nodes: Callable[..., SqlMarks], store: SqlStore) -> None:
    marks = nodes()
    for n in range(3):
        await marks.reserve(f"repeat:web:e:{n}", "t", 30)
        await marks.reserve(f"repeat:web:e:{n}", "t2", 30)
    async with store._engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(TABLE))).scalar() == 3
