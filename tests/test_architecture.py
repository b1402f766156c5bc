"""The core talks to its ports: it imports no transport, ORM or bus."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "server" / "core"
FORBIDDEN = ("aiohttp", "telegram", "slack_bolt", "slack_sdk", "sqlmodel", "sqlalchemy", "redis",
             "asyncpg", "aiosqlite", "limits", "server.ratelimit", "server.web", "server.store",
             "server.bus", "server.app", "bot")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_no_transport() -> None:
    files = list(CORE.glob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path):
            assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"


def test_bot_declares_its_own_settings() -> None:
    """The chat sections live in bot/; server/config.py composes them, not the reverse."""
    files = list((CORE.parents[1] / "bot").rglob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path):
            assert not name.startswith("server.config"), f"{path.name} imports {name}"
