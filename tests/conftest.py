"""Shared fixtures: the real app through the real factory, on SQLite files and memory://."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import Connection
from sqlmodel import SQLModel

from server.app import create_app
from server.config import Config, load_config
from server.logs import QUIET, ContextFilter, RedactingFilter, RepeatFilter, configure_logging
from tests.scratch_postgres import ScratchPostgres

ADMIN_TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# The shared server; each test run makes (and drops) a database of its own on it,
# so parallel runs and other projects' data never meet.
POSTGRES_SERVER_URL = os.environ.get(
    "BARRAGE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)

ConfigFactory = Callable[..., Config]
ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    name = f"barrage_t{os.getpid()}_{secrets.token_hex(4)}"
    admin = POSTGRES_SERVER_URL.replace("postgresql+asyncpg://", "postgresql://")
    _run_in_thread(_pg_execute(admin, f'CREATE DATABASE "{name}"'))
    yield POSTGRES_SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
    _run_in_thread(_pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """An empty PostgreSQL database of this test's own, beside the run's, dropped after it."""
    base, run_name = postgres_url.rsplit("/", 1)
    name = f"{run_name}_{secrets.token_hex(3)}"
    admin = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    _run_in_thread(_pg_execute(admin, f'CREATE DATABASE "{name}"'))
    yield f"{base}/{name}"
    _run_in_thread(_pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def scratch_postgres() -> AsyncIterator[ScratchPostgres]:
    """A PostgreSQL server of this test's own (tests/scratch_postgres.py): stop it, start it."""
    async with ScratchPostgres() as server:
        yield server


def drop_tables(conn: Connection) -> None:
    """Every table, Alembic's revision record too: the next create_schema starts from empty
    (dropping the tables alone would leave the record saying they are there)."""
    SQLModel.metadata.drop_all(conn)
    conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


async def _pg_execute(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _run_in_thread(coro: Coroutine[Any, Any, None]) -> None:
    # Session fixtures may be set up while a test's loop runs: use a loop of our own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.fixture
def make_config(tmp_path: Path) -> ConfigFactory:
    """A config on a fresh SQLite file; keyword `section__key=value` overrides."""

    def factory(**overrides: Any) -> Config:
        sections: dict[str, dict[str, Any]] = {
            "server": {"admin_token": ADMIN_TOKEN},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'barrage.db'}"},
            # Off unless a test turns them on: many tests send the same text from one sender.
            "moderation": {"max_per_minute": 0, "repeat_seconds": 0},
        }
        for name, value in overrides.items():
            if "__" not in name:  # a whole entry: rooms=[{...}]
                sections[name] = value
                continue
            section, key = name.split("__")
            sections.setdefault(section, {})[key] = value
        return load_config(None, env={}, overrides=sections)

    return factory


@pytest.fixture
def make_client(aiohttp_client: Any, make_config: ConfigFactory) -> ClientFactory:
    async def factory(config: Config | None = None, **overrides: Any) -> TestClient:
        app: web.Application = create_app(config or make_config(**overrides))
        return await aiohttp_client(app)

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient:
    return await make_client()


@pytest.fixture
async def open_client(make_client: ClientFactory) -> TestClient:
    """Moderation off: every submission goes straight to the screen."""
    return await make_client(moderation__mode="off")


@pytest.fixture(autouse=True)
def fresh_log_limits() -> None:
    """Each test starts with every rate-limited logger's count at zero."""
    for logger in list(logging.root.manager.loggerDict.values()):
        for each in getattr(logger, "filters", []):
            if isinstance(each, RepeatFilter):
                each.reset()


class CapturedLog(logging.Handler):
    """Every line as the entry point's handler would write it (message and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.redactor: RedactingFilter | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def debug_log() -> Iterator[CapturedLog]:
    """The root logger at DEBUG with logging installed exactly as `barrage serve` does
    (configure_logging); the test adds the app's secrets with `secrets_of`."""
    root = logging.getLogger()
    saved_level = root.level
    saved_levels = {name: logging.getLogger(name).level for name in QUIET}
    handler = CapturedLog()
    handler.redactor = configure_logging(logging.DEBUG, handler)
    yield handler
    root.removeHandler(handler)
    for each in root.handlers:
        each.removeFilter(handler.redactor)
        for added in [f for f in each.filters if isinstance(f, ContextFilter)]:
            each.removeFilter(added)
    root.setLevel(saved_level)
    for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)
