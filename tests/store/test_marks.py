"""Marks in the database (server/store/marks.py), on a SQLite file and on PostgreSQL: what
nodes on a PostgreSQL bus without Redis share for slow mode and "already sent"."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

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
    """SqlMarks on the store's database, each on an engine of its own as a node's would be."""
    url = store._engine.url.render_as_string(hide_password=False)
    engines = []

    def make(clock: Callable[[], float] | None = None) -> SqlMarks:
        engines.append(create_engine(url))
        return SqlMarks(engines[-1], **({"clock": clock} if clock else {}))

    yield make
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
    assert await marks.reserve("slow:web:c", "t", 5) == 0.0  # sweeps before reserving
    async with store._engine.connect() as conn:
        keys = (await conn.execute(select(TABLE.c.key))).scalars().all()
    assert keys == ["slow:web:c"]


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
