"""What a log line is about: the request, barrage, event and room being handled.

Context variables, so that every line written while handling something carries its ids
without each call passing them: the HTTP edge binds `request_id` (and the room or
barrage a route names), the bus binds an event's ids while its subscribers run. A call
that knows a barrage passes it with `extra=about(barrage)`, which wins over the context.
The JSON log format (server/logs.py) writes them as fields; the text format ignores them.
Plain standard library, so the core and the chat adapters can bind them too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from server.core.model import Event, EventKind

FIELDS = ("request_id", "barrage_id", "event_id", "room")
# The kinds whose payload's `id` is a barrage's.
ABOUT_A_BARRAGE = frozenset({EventKind.BARRAGE, EventKind.PENDING, EventKind.REJECTED, EventKind.RETRACT,
                             EventKind.MERGE, EventKind.EXPIRED})
_VARS: dict[str, ContextVar[Any]] = {name: ContextVar(f"log_{name}", default=None) for name in FIELDS}


def current() -> dict[str, Any]:
    """The fields bound now, the unknown ones left out."""
    return {name: value for name, var in _VARS.items() if (value := var.get()) is not None}


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Bind `fields` (a None one leaves the outer value) for the lines written inside."""
    tokens = [(_VARS[name], _VARS[name].set(value)) for name, value in fields.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def about(barrage: Any) -> dict[str, Any]:
    """`extra=` for a line about one barrage (anything with `id` and `room`)."""
    return {"barrage_id": getattr(barrage, "id", None), "room": getattr(barrage, "room", None)}


def of_event(event: object) -> dict[str, Any]:
    """The fields of one event-log row: its id, its room, and the barrage it is about
    (none for what is no event, such as a broker's raw message)."""
    if not isinstance(event, Event):
        return {}
    barrage = event.payload.get("id") if event.kind in ABOUT_A_BARRAGE else None
    return {"event_id": event.id, "room": event.room, "barrage_id": barrage}
