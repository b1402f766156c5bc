"""Alembic keeps the schema (server/store/schema.py, server/migrations): a database made by any
revision, or by create_schema before migrations existed, reaches head with its rows intact, and
head is exactly what server/store/tables.py declares."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    column,
    insert,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from server.core.model import Status
from server.store import SqlStore
from server.store.schema import INITIAL, LEGACY, SchemaError, alembic_config, head, revision
from server.store.sql import create_engine
from tests.store.conftest import draft

NOW = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


def legacy_metadata(with_sender: bool) -> MetaData:
    """The tables as create_schema made them before migrations: barrage 0.1.0 without
    `sender`, the later commits with it. Frozen here, as tables.py will move on."""
    metadata = MetaData()
    barrage = Table(
        "barrage", metadata,
        Column("id", Integer, primary_key=True),
        Column("text", Text, nullable=False),
        Column("author", String, nullable=False),
        Column("author_ref", String),
        Column("source", String, nullable=False, index=True),
        Column("color", String, nullable=False),
        Column("size", String, nullable=False),
        Column("status", String, nullable=False, index=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("decided_at", DateTime(timezone=True)),
        Column("decided_by", String),
        Column("dedupe_key", String, unique=True),
        Column("reply_to", String),
        Column("notified", Boolean, nullable=False, index=True),
    )
    if with_sender:
        barrage.append_column(Column("sender", String))
        Index("ix_barrage_sender", barrage.c.sender)
    Table("card", metadata, Column("id", Integer, primary_key=True),
          Column("barrage_id", Integer, nullable=False, index=True),
          *(Column(name, String, nullable=False) for name in ("platform", "chat_id", "message_id")),
          Column("closed", Boolean, nullable=False, index=True))
    Table("setting", metadata, Column("key", String, primary_key=True),
          Column("value", String, nullable=False))
    Table("event", metadata, Column("id", Integer, primary_key=True),
          Column("kind", String, nullable=False, index=True), Column("barrage_id", Integer, index=True),
          Column("payload", Text, nullable=False),
          Column("created_at", DateTime(timezone=True), nullable=False),
          sqlite_autoincrement=True)
    return metadata


# Rows as the first schema holds them (no ids: the database hands them out, so PostgreSQL's
# sequences stay ahead of them and the store can go on adding after the upgrade).
ROWS: dict[str, list[dict[str, Any]]] = {
    "barrage": [
        {"text": "from before", "author": "Ann", "author_ref": None, "source": "web", "color": "#ffffff",
         "size": "medium", "status": "approved", "created_at": NOW, "decided_at": NOW, "decided_by": "mod",
         "dedupe_key": "web:k1", "reply_to": None, "notified": True},
        {"text": "still waiting", "author": "Bo", "author_ref": "42", "source": "telegram",
         "color": "#ff0000", "size": "small", "status": "pending", "created_at": NOW, "decided_at": None,
         "decided_by": None, "dedupe_key": None, "reply_to": "7:9", "notified": False},
    ],
    "card": [{"barrage_id": 2, "platform": "telegram", "chat_id": "-100", "message_id": "5",
              "closed": False}],
    "setting": [{"key": "mode", "value": "manual"}],
    "event": [{"kind": "barrage", "barrage_id": 1, "payload": '{"id":1}', "created_at": NOW},
              {"kind": "pending", "barrage_id": 2, "payload": '{"id":2}', "created_at": NOW}],
}


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database of this test's own."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = create_engine(url)
    yield engine
    await engine.dispose()


async def insert_rows(engine: AsyncEngine, with_sender: bool = True) -> None:
    async with engine.begin() as conn:
        for name, rows in ROWS.items():
            for row in rows:
                row = {**row, "sender": "web:abc"} if with_sender and name == "barrage" else row
                await conn.execute(insert(table(name, *map(column, row))).values(**row))


async def dump(engine: AsyncEngine, without: frozenset[str] = frozenset()) -> dict[str, list[dict[str, Any]]]:
    """Every row of the first schema's columns (but `without`), in key order."""
    async with engine.connect() as conn:
        found = {}
        for name, (columns, _) in LEGACY.items():
            rows = table(name, *map(column, sorted(columns - without)))
            key = rows.c.key if name == "setting" else rows.c.id
            found[name] = [dict(row._mapping) for row in await conn.execute(select(rows).order_by(key))]
        return found


def schema_diff(conn: Connection, metadata: MetaData = SQLModel.metadata) -> list[Any]:
    """What `alembic check` would report: the database against the declared tables."""
    return compare_metadata(MigrationContext.configure(conn), metadata)


async def upgrade_to(engine: AsyncEngine, target: str) -> None:
    def run(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), target)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def create_schema(engine: AsyncEngine) -> None:
    await SqlStore(engine).create_schema()


async def test_head_is_exactly_the_declared_tables(engine: AsyncEngine) -> None:
    await create_schema(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(schema_diff) == []
        # and the check would notice a table declared without its migration
        ahead = MetaData()
        for each in SQLModel.metadata.sorted_tables:
            each.to_metadata(ahead)
        ahead.tables["barrage"].append_column(Column("pinned", Boolean))
        assert [d[0] for d in await conn.run_sync(schema_diff, ahead)] == ["add_column"]
        if engine.dialect.name == "sqlite":  # ids never reused: compare_metadata cannot see this
            ddl = (await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'event'"))).scalar()
            assert "AUTOINCREMENT" in ddl


async def test_rows_made_at_the_first_revision_reach_head_intact(engine: AsyncEngine) -> None:
    await upgrade_to(engine, INITIAL)
    await insert_rows(engine)
    before = await dump(engine)
    store = SqlStore(engine)
    await store.create_schema()
    assert (await revision(engine)).describe().endswith("(head)")
    assert await dump(engine) == before
    # the ids go on from where they were
    added, event = await store.add(draft("after"), Status.APPROVED, NOW)
    assert added.id == 3 and event is not None and event.id == 3


@pytest.mark.parametrize("with_sender", [True, False], ids=["today", "0.1.0"])
async def test_a_database_made_before_migrations_is_adopted_in_place(
    engine: AsyncEngine, with_sender: bool
) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(legacy_metadata(with_sender).create_all)
    await insert_rows(engine, with_sender)
    without = frozenset() if with_sender else frozenset({"sender"})  # 0.1.0 had none
    before = await dump(engine, without)
    found = await revision(engine)
    assert found.current is None and found.legacy
    assert "made before migrations" in found.describe()

    store = SqlStore(engine)
    await store.create_schema()
    await store.create_schema()  # and again: nothing left to do
    assert (await revision(engine)).describe() == f"{head()} (head)"
    assert await dump(engine, without) == before
    if not with_sender:  # 0.1.0's rows gained an empty sender
        assert [row["sender"] for row in (await dump(engine))["barrage"]] == [None, None]
    async with engine.connect() as conn:
        assert await conn.run_sync(schema_diff) == []
    added, _ = await store.add(draft("new", sender="web:xyz"), Status.PENDING, NOW)
    assert (await store.get(added.id)).sender == "web:xyz"  # type: ignore[union-attr]


async def test_tables_that_are_not_ours_are_not_adopted(engine: AsyncEngine) -> None:
    metadata = legacy_metadata(with_sender=True)
    metadata.remove(metadata.tables["card"])
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    with pytest.raises(SchemaError, match=r"missing card\)"):
        await create_schema(engine)
    assert (await revision(engine)).current is None  # nothing stamped


async def test_a_revision_from_a_newer_version_is_refused(engine: AsyncEngine) -> None:
    await create_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0999_future'"))
    assert (await revision(engine)).describe() == "0999_future (not known to this version of barrage)"
    with pytest.raises(SchemaError, match="does not know"):
        await create_schema(engine)
    with pytest.raises(SchemaError, match="does not know"):
        await SqlStore(engine).check_schema()


async def test_check_schema_refuses_anything_but_head(engine: AsyncEngine) -> None:
    store = SqlStore(engine)
    with pytest.raises(SchemaError, match=r"is empty.*auto_migrate is false: run `barrage db upgrade`"):
        await store.check_schema()
    async with engine.begin() as conn:
        await conn.run_sync(legacy_metadata(with_sender=True).create_all)
    with pytest.raises(SchemaError, match="tables made before migrations"):
        await store.check_schema()
    await store.create_schema()
    await store.check_schema()


async def test_two_stores_migrating_one_empty_database_at_once(engine: AsyncEngine) -> None:
    """The lock serialises them: one creates the tables, the other finds them there."""
    other = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        await asyncio.gather(create_schema(engine), create_schema(other))
    finally:
        await other.dispose()
    assert (await revision(engine)).describe() == f"{head()} (head)"
