"""Publish/subscribe facade; the backend is chosen by `bus.url`."""

from __future__ import annotations

from urllib.parse import urlsplit

from server.bus.base import Bus, Handler
from server.bus.memory import MemoryBus

__all__ = ["Bus", "Handler", "MemoryBus", "create_bus"]


def create_bus(url: str) -> Bus:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBus()
    raise ValueError(f"bus.url: unsupported scheme {scheme!r}")
