"""Leases on the shared database (server/store/lease.py): one holder at a time, and a dead
holder's lease free at once, on PostgreSQL (advisory lock) and a SQLite file (flock)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from server.store.lease import APPLICATION_NAME, FileLeases, PgLeases, create_leases, lease_key

ROOT = Path(__file__).resolve().parents[2]
Factory = Callable[[], PgLeases | FileLeases]


@pytest.fixture(params=["sqlite", "postgres"])
async def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """Makes each "node's" leases on one database: its own connection, or its own open file."""
    made: list[PgLeases | FileLeases] = []

    def node() -> PgLeases | FileLeases:
        if request.param == "sqlite":
            made.append(create_leases(f"sqlite+aiosqlite:///{tmp_path / 'wall.db'}"))  # type: ignore[arg-type]
        else:
            made.append(create_leases(request.getfixturevalue("postgres_url")))  # type: ignore[arg-type]
        return made[-1]

    yield node
    for leases in made:
        await leases.close()


async def test_one_holder_at_a_time_and_a_release_frees_it(nodes: Factory) -> None:
    a, b = nodes(), nodes()
    first, second = a("telegram-poll:abc"), b("telegram-poll:abc")
    assert await first.acquire() and not await second.acquire()
    assert await first.acquire()  # taking it again is a no-op
    assert await first.held() and not await second.held()
    other = b("cards:slack")  # another name is another lease (and a negative advisory key)
    assert await other.acquire() and await other.held()
    await first.release()
    assert not await first.held()
    assert await second.acquire() and not await first.acquire()


def test_keys_are_postgresql_bigints_of_either_sign() -> None:
    keys = [lease_key(name) for name in ("x", "y", "cards:telegram", "cards:slack")]
    assert all(-(2**63) <= key < 2**63 for key in keys)
    assert {key < 0 for key in keys} == {True, False}  # held() finds negative keys too (see above)


async def test_a_holder_killed_with_sigkill_frees_its_file_lease_at_once(tmp_path: Path) -> None:
    leases = create_leases(f"sqlite+aiosqlite:///{tmp_path / 'wall.db'}")
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD, str(tmp_path / "wall.db"), stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    assert holder.stdout is not None
    assert await holder.stdout.readline() == b"held\n"
    mine = leases("cards:telegram")
    assert not await mine.acquire()
    holder.send_signal(signal.SIGKILL)
    await holder.wait()
    assert await mine.acquire()  # the kernel dropped the dead holder's lock
    await mine.release()


HOLD = """
import asyncio, sys, time
from pathlib import Path
from server.store.lease import FileLeases
lease = FileLeases(Path(sys.argv[1]))("cards:telegram")
assert asyncio.run(lease.acquire())
print("held", flush=True)
time.sleep(60)
"""


async def test_a_holder_whose_postgresql_session_ends_loses_the_lease(postgres_url: str) -> None:
    a, b = PgLeases(postgres_url), PgLeases(postgres_url)
    try:
        first, second = a("cards:telegram"), b("cards:telegram")
        assert await first.acquire()
        await end_sessions_of(a, postgres_url)  # as a dead node's, or a dropped connection's
        assert not await held_or_error(first)
        assert await second.acquire()
        assert not await first.acquire()  # it reconnects, but the lease is someone else's now
    finally:
        await a.close()
        await b.close()


async def end_sessions_of(leases: PgLeases, url: str) -> None:
    assert leases._conn is not None
    pid = (await leases._conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        name = await conn.fetchval("SELECT application_name FROM pg_stat_activity WHERE pid = $1", pid)
        assert name == APPLICATION_NAME  # what an operator looks for in pg_stat_activity
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


async def held_or_error(lease: object) -> bool:
    try:
        return await lease.held()  # type: ignore[attr-defined]
    except Exception:  # the check itself may fail on the dead connection: lost all the same
        return False
