"""Alembic's entry point. `barrage db upgrade` and `barrage serve` (server/store/schema.py)
hand in a connection that already holds the migration lock; the alembic command line,
for writing a new revision, connects to `-x url=…` itself:

    alembic -c server/migrations/alembic.ini -x url=sqlite+aiosqlite:///dev.db upgrade head
    alembic -c server/migrations/alembic.ini -x url=sqlite+aiosqlite:///dev.db \\
        revision --autogenerate -m "what changed"
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import server.store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)


def run(connection: Connection) -> None:
    # Batch mode: SQLite cannot ALTER most things, so a changed table is copied and swapped;
    # PostgreSQL alters in place. Written once, a migration runs on both.
    context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_on(url: str) -> None:
    # Alembic is synchronous; run_sync hands it the async driver's connection (greenlet).
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    asyncio.run(run_on(context.get_x_argument(as_dictionary=True)["url"]))
