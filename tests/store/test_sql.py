"""The SQL store's own settings and error mapping, on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from server.core.errors import Unavailable
from server.store import SqlStore
from server.store.sql import unavailable_reason


@pytest.mark.parametrize(("setting", "pragma"), [("normal", 1), ("full", 2)])
async def test_sqlite_synchronous_is_applied(tmp_path: Path, setting: str, pragma: int) -> None:
    store = SqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", setting)
    try:
        async with store._engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == pragma
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await store.close()


async def test_a_read_only_database_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    store = SqlStore.from_url(f"sqlite+aiosqlite:///{path}")
    await store.create_schema()
    await store.close()
    readonly = SqlStore.from_url(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(Unavailable):
            await readonly.put_setting("k", "v", None)
        assert await readonly.health() == "not writable"
        assert await readonly.get_setting("k") is None  # reads still work
    finally:
        await readonly.close()


def test_only_storage_errors_mean_unavailable() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    assert unavailable_reason(full) == "disk full"
    syntax = sqlite3.OperationalError("near x: syntax error")
    syntax.sqlite_errorcode = 1  # type: ignore[attr-defined]
    assert unavailable_reason(syntax) is None
    assert unavailable_reason(ConnectionRefusedError(111, "Connection refused"))
    assert unavailable_reason(ValueError("x")) is None
