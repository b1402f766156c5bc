"""A small, strict SSE reader for tests, over a real HTTP response."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse


@dataclass
class Message:
    event: str = "message"
    id: str | None = None
    data_lines: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    @property
    def data(self) -> Any:
        return json.loads("\n".join(self.data_lines))

    @property
    def is_event(self) -> bool:
        return bool(self.data_lines)


async def next_block(response: ClientResponse, timeout: float = 5.0) -> Message:
    """Read up to the next blank line; a block may hold only comments or retry."""
    message = Message()
    while True:
        raw = await asyncio.wait_for(response.content.readline(), timeout)
        if raw == b"":
            raise EOFError("stream ended")
        line = raw.decode().rstrip("\r\n")
        if line == "":
            return message
        field_name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field_name == "":
            message.comments.append(value)
        elif field_name == "event":
            message.event = value
        elif field_name == "id":
            message.id = value
        elif field_name == "data":
            message.data_lines.append(value)
        elif field_name == "retry":
            message.retry = int(value)


# Every screen stream opens with `event: state` (no id, not in the log). Tests about the
# log's events pass over it like a comment; tests about it ask with `skip=()`.
CONNECTION_EVENTS = ("state",)


async def next_event(response: ClientResponse, timeout: float = 5.0,
                     skip: tuple[str, ...] = CONNECTION_EVENTS) -> Message:
    while True:
        message = await next_block(response, timeout)
        if message.is_event and message.event not in skip:
            return message


async def events(response: ClientResponse, count: int, timeout: float = 10.0) -> list[Message]:
    return [await next_event(response, timeout) for _ in range(count)]
