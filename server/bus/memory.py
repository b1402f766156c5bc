"""In-process bus: publish calls every handler directly, in order, with no queue."""

from __future__ import annotations

import logging
from collections.abc import Callable

from server.bus.base import Handler
from server.core.model import Event

logger = logging.getLogger(__name__)


class MemoryBus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self._handlers.clear()

    async def publish(self, event: Event) -> None:
        for handler in tuple(self._handlers):
            try:
                handler(event)
            except Exception:
                logger.exception("bus handler %r failed on event %s", handler, event.id)

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler) if handler in self._handlers else None
