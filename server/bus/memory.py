"""In-process bus: publish calls every handler directly, in order, with no queue."""

from __future__ import annotations

import logging
from collections.abc import Callable

from server.bus.base import Handler, Handlers
from server.core.model import Event

logger = logging.getLogger(__name__)


class MemoryBus:
    def __init__(self) -> None:
        self._handlers: Handlers[Event] = Handlers(logger)
        self._on_connect: list[Callable[[], None]] = []

    @property
    def connected(self) -> bool:
        return True  # there is nothing to lose

    async def connect(self) -> None:
        for callback in self._on_connect:
            callback()

    async def disconnect(self) -> None:
        self._handlers.clear()

    async def publish(self, event: Event) -> None:
        self._handlers.call(event)

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        return self._handlers.add(handler)

    def on_connect(self, callback: Callable[[], None]) -> None:
        self._on_connect.append(callback)
