"""SQLModel tables and the SQL implementation of the core's store port."""

from server.store.sql import SqlStore

__all__ = ["SqlStore"]
