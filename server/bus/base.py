"""The bus interface. The database is the truth; the bus only fans out.

Handlers are plain callables that must not block: a handler that needs to do
I/O puts the event on its own bounded queue. A handler that raises is logged
and the others still run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from server.core.model import Event

Handler = Callable[[Event], None]


class Bus(Protocol):
    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def publish(self, event: Event) -> None: ...

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Register a handler; returns the function that unregisters it."""
