"""The schema, kept by Alembic (server/migrations): upgrade to head under a lock, say which
revision a database is at, and adopt a database made before migrations existed."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Column, Connection, String, inspect, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import server.migrations

logger = logging.getLogger(__name__)

MIGRATIONS = Path(server.migrations.__file__).parent
INITIAL = "0001_initial"
# pg_advisory_xact_lock's two-int4 form: a lock space of its own, apart from any
# single-bigint advisory lock the store takes around its writes. 0x62617272 is "barr".
PG_LOCK = (0x62617272, 1)
LOCK_POLL_SECONDS = 0.05
# The tables, columns and indexes create_schema made before migrations (barrage 0.1.0 and
# the commits after it up to this one): what a database must hold to be adopted at INITIAL.
LEGACY = {
    "barrage": ({"id", "text", "author", "author_ref", "source", "color", "size", "status", "created_at",
                 "decided_at", "decided_by", "dedupe_key", "reply_to", "notified", "sender"},
                {"ix_barrage_source", "ix_barrage_status", "ix_barrage_notified", "ix_barrage_sender"}),
    "card": ({"id", "barrage_id", "platform", "chat_id", "message_id", "closed"},
             {"ix_card_barrage_id", "ix_card_closed"}),
    "setting": ({"key", "value"}, set()),
    "event": ({"id", "kind", "barrage_id", "payload", "created_at"},
              {"ix_event_kind", "ix_event_barrage_id"}),
}
# 0.1.0 made no `sender`; create_schema added it (and its index) to such a database.
ADDED_COLUMNS = [("barrage", "sender", "ix_barrage_sender")]


class SchemaError(Exception):
    """The database's schema is not one this version can run on; the message says what to do."""


@dataclass(frozen=True)
class Revision:
    current: str | None
    head: str
    known: bool      # a revision this version's migrations contain
    legacy: bool     # no revision, but tables made before migrations existed

    def describe(self) -> str:
        """`barrage db current`'s line."""
        if self.current == self.head:
            return f"{self.current} (head)"
        if self.current is not None:
            return self.current if self.known else f"{self.current} (not known to this version of barrage)"
        if self.legacy:
            return "no revision: tables made before migrations (`barrage db upgrade` adopts them in place)"
        return "no revision: the database is empty (`barrage db upgrade` creates the tables)"

    def problem(self) -> str | None:
        """Why this version cannot serve on the database as it is, or None."""
        if self.current == self.head:
            return None
        if not self.known:
            return (f"the database schema is at revision {self.current}, which this version of barrage "
                    "does not know (a newer version migrated it): run that version, or a later one")
        if self.current is not None:
            where = f"is at revision {self.current}"
        else:
            where = "has tables made before migrations" if self.legacy else "is empty"
        return f"the database {where}; this version needs revision {self.head}"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """To head, holding a lock so that processes starting together migrate one at a time;
    the later ones find the work done."""
    async with _locked(engine) as conn:
        await conn.run_sync(_upgrade)


async def revision(engine: AsyncEngine) -> Revision:
    async with engine.connect() as conn:
        return await conn.run_sync(_revision)


async def check(engine: AsyncEngine) -> None:
    """Raise SchemaError unless the database is at head (database.auto_migrate = false)."""
    found = await revision(engine)
    if not found.known:
        raise SchemaError(found.problem())
    if (problem := found.problem()) is not None:
        raise SchemaError(f"{problem}, and database.auto_migrate is false: run `barrage db upgrade`")


def _upgrade(conn: Connection) -> None:
    found = _revision(conn)
    if not found.known:
        raise SchemaError(found.problem())
    config = alembic_config(conn)
    start = found.current
    if found.legacy:
        _adopt(conn)
        command.stamp(config, INITIAL)
        start = INITIAL
        logger.info("database made before migrations adopted in place at revision %s", INITIAL)
    command.upgrade(config, "head")
    if start != found.head:
        logger.info("database schema migrated from %s to %s", start or "empty", found.head)


def head() -> str:
    """The newest revision this version's migrations reach."""
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None
    return found


def _revision(conn: Connection) -> Revision:
    current = MigrationContext.configure(conn).get_current_revision()
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    assert head is not None
    known = current is None or current in {script.revision for script in scripts.walk_revisions()}
    legacy = current is None and "barrage" in inspect(conn).get_table_names()
    return Revision(current, head, known, legacy)


def _adopt(conn: Connection) -> None:
    """Bring a pre-migration database to exactly INITIAL: add what create_schema would have
    added to an older one, then check that the rest is there, so nothing is re-created."""
    operations = Operations(MigrationContext.configure(conn))
    for table, column, index in ADDED_COLUMNS:
        if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
            operations.add_column(table, Column(column, String(), nullable=True))
            operations.create_index(index, table, [column])
            logger.info("database upgraded: added %s.%s", table, column)
    missing = _missing(conn)
    if missing:
        raise SchemaError("the database has barrage tables, but not the ones this version knows "
                          f"(missing {', '.join(missing)}): it cannot be adopted")


def _missing(conn: Connection) -> list[str]:
    found = inspect(conn)
    tables = set(found.get_table_names())
    missing = []
    for table, (columns, indexes) in LEGACY.items():
        if table not in tables:
            missing.append(table)
            continue
        present = {c["name"] for c in found.get_columns(table)}
        present |= {i["name"] for i in found.get_indexes(table)}
        missing += [f"{table}.{name}" for name in sorted((columns | indexes) - present)]
    return missing


@contextlib.asynccontextmanager
async def _locked(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction, held alone: on PostgreSQL a transaction-level advisory lock (DDL is
    transactional there, so the lock and the schema change commit together); on SQLite, whose
    DDL the driver runs outside a transaction, a file lock beside the database."""
    async with _file_lock(engine.url), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"),
                               {"space": PG_LOCK[0], "key": PG_LOCK[1]})
        yield conn


def database_file(url: str | URL) -> Path | None:
    """The SQLite file behind `url`; None for PostgreSQL or an in-memory database
    (sqlite://, :memory:, or a URI with mode=memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("mode") == "memory":
        return None
    path = parsed.database or ""
    if parsed.query.get("uri"):  # sqlite+aiosqlite:///file:/path/x.db?mode=ro&uri=true
        path = path.removeprefix("file:")
    return None if path in ("", ":memory:") else Path(path)


@contextlib.asynccontextmanager
async def _file_lock(url: URL) -> AsyncIterator[None]:
    path = database_file(url)
    if path is None:  # PostgreSQL, or a database only this process sees
        yield
        return
    lock = os.open(f"{path}.migrate-lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        # Polled, not a blocking flock in a thread: a cancelled start leaves no thread
        # waiting on a descriptor that is already closed.
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(lock)  # releases the lock
