"""create_schema brings a database made by the previous version up to date."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
)
from sqlmodel import SQLModel

from server.core.model import Draft, Size, Source, Status
from server.store import SqlStore

# The barrage table as version 0.1.0 made it: no `sender` column.
OLD = MetaData()
Table(
    "barrage", OLD,
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


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("postgres_url")


async def test_an_old_database_gains_the_sender_column(url: str) -> None:
    old = SqlStore.from_url(url)
    async with old._engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.drop_all)
        await conn.run_sync(OLD.create_all)
        await conn.execute(insert(OLD.tables["barrage"]).values(
            text="from before", author="Ann", source="web", color="#ffffff", size="medium",
            status="pending", created_at=datetime.now(UTC), notified=False))
    await old.close()

    store = SqlStore.from_url(url)
    try:
        await store.create_schema()
        await store.create_schema()  # and again: nothing to add the second time
        [before] = await store.list(None, 0, 10)
        assert before.text == "from before" and before.sender is None
        assert before.to_dict()["sender"] is None
        draft = Draft("new", "Bo", "#ffffff", Size.MEDIUM, Source.WEB, sender="web:abc")
        added, _ = await store.add(draft, Status.PENDING, datetime.now(UTC))
        assert (await store.get(added.id)).sender == "web:abc"  # type: ignore[union-attr]
    finally:
        async with store._engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.drop_all)
        await store.close()
