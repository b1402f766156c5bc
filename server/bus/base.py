"""The bus interface. The database is the truth; the bus only fans out.

Two layers. A backend (a `Broker`: memory.py, redis.py, postgres.py) carries messages
between processes and says whether it is connected; what it delivers is an Event, or
(PostgreSQL) only the id of one, to be read from the log. The `Sequencer`
(sequence.py) wraps the backend and is the `Bus` the app's subscribers see: Events
only, each once, in id order, with no id skipped.

Handlers are plain callables that must not block: a handler that needs to do
I/O puts the event on its own bounded queue. A handler that raises is logged and
the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from server.core import logcontext
from server.core.model import Event

Handler = Callable[[Event], None]
# What a backend delivers: an event, or the id of one that is in the log.
Message = Event | int
Receiver = Callable[[Message], None]

T = TypeVar("T")


class Bus(Protocol):
    @property
    def connected(self) -> bool:
        """False while this node cannot reach its broker (always True for memory://)."""

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def publish(self, event: Event) -> None: ...

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Register a handler; returns the function that unregisters it."""


class Broker(Protocol):
    """A backend. `connect` returns even while the broker is down: it keeps trying."""

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def publish(self, event: Event) -> None: ...

    def subscribe(self, receiver: Receiver) -> Callable[[], None]: ...

    def on_connect(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every (re)connection, once messages flow again: what was
        published while this node was away is only in the log now."""


class Handlers(Generic[T]):
    """Subscribers, called in turn; one that raises is logged and the rest still run."""

    __slots__ = ("_handlers", "_logger")

    def __init__(self, logger: logging.Logger) -> None:
        self._handlers: list[Callable[[T], None]] = []
        self._logger = logger

    def add(self, handler: Callable[[T], None]) -> Callable[[], None]:
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler) if handler in self._handlers else None

    def call(self, message: T) -> None:
        # What the subscribers log while they take the event carries its ids.
        with logcontext.bound(**logcontext.of_event(message)):
            for handler in tuple(self._handlers):
                try:
                    handler(message)
                except Exception:
                    self._logger.exception("bus handler %r failed on event %s", handler,
                                           getattr(message, "id", message))

    def clear(self) -> None:
        self._handlers.clear()
