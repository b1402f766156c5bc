"""The real store on each backend (a SQLite file and this run's PostgreSQL database)."""

from __future__ import annotations

from tests.store.conftest import store

__all__ = ["store"]
