"""Shared fixtures: the real app through the real factory, on SQLite files and memory://."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Config, load_config

ADMIN_TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
POSTGRES_URL = os.environ.get(
    "BARRAGE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)

ConfigFactory = Callable[..., Config]
ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_config(tmp_path: Path) -> ConfigFactory:
    """A config on a fresh SQLite file; keyword `section__key=value` overrides."""

    def factory(**overrides: Any) -> Config:
        sections: dict[str, dict[str, Any]] = {
            "server": {"admin_token": ADMIN_TOKEN},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'barrage.db'}"},
            "moderation": {"max_per_minute": 0},
        }
        for name, value in overrides.items():
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
