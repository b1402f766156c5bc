"""Publish/subscribe facade; the backend is chosen by `bus.url`, and the Sequencer
(sequence.py) around it gives subscribers every event once, in id order."""

from __future__ import annotations

from urllib.parse import urlsplit

from server.bus.base import Broker, Bus, Handler
from server.bus.memory import MemoryBus
from server.bus.sequence import EventLog, Sequencer

__all__ = ["Broker", "Bus", "EventLog", "Handler", "MemoryBus", "Sequencer", "create_bus"]


def create_bus(url: str, channel: str = "barrage") -> Broker:
    """The backend for `url`; `channel` keeps deployments sharing a broker apart."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBus()
    if scheme in ("redis", "rediss"):
        from server.bus.redis import RedisBus  # the driver loads only when used

        return RedisBus(url, channel)
    if scheme in ("postgresql", "postgres"):
        from server.bus.postgres import PostgresBus

        return PostgresBus(url, channel)
    raise ValueError(f"bus.url: unsupported scheme {scheme!r}")
