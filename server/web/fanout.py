"""SSE fan-out: encode each event once, write the same bytes to every stream.

Writes go straight to each client's transport without awaiting it, so one slow
client never delays the next. A client whose unsent bytes pile up past
`max_buffer_bytes` (the kernel's buffers are already full by then) is dropped;
its browser reconnects with Last-Event-ID and replays from the database.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import Any

from server.core.model import MAIN, SCREEN_FIELDS, Event, EventKind

logger = logging.getLogger(__name__)


class Audience(Enum):
    SCREEN = "screen"  # public: approved barrages only
    ADMIN = "admin"    # moderators: every event kind


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE message, as raw bytes and as an HTTP/1.1 chunk, for one room's streams."""

    id: int
    raw: bytes
    chunk: bytes
    room: str = MAIN
    barrage: int = 0  # a `barrage` or `merge` event's barrage id: a retract drops the frame from History

    @classmethod
    def of(cls, data: bytes, event_id: int = 0, room: str = MAIN, barrage: int = 0) -> Frame:
        return cls(event_id, data, b"%x\r\n%b\r\n" % (len(data), data), room, barrage)

    @property
    def size(self) -> int:
        """Bytes held: the frame keeps both encodings."""
        return len(self.raw) + len(self.chunk)


def encode_event(event_id: int, kind: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n".encode()


def encode_for(event: Event, audience: Audience) -> bytes:
    payload = event.public_payload() if audience is Audience.SCREEN else event.payload
    return encode_event(event.id, event.kind, payload)


ON_SCREEN = (EventKind.BARRAGE, EventKind.MERGE)  # the kinds that show a barrage: a retract drops them


def frame_for(event: Event, audience: Audience) -> Frame:
    barrage = event.payload.get("id", 0) if event.kind in ON_SCREEN else 0
    return Frame.of(encode_for(event, audience), event.id, event.room, barrage)


def audiences_for(event: Event) -> tuple[Audience, ...]:
    if event.kind in SCREEN_FIELDS:
        return (Audience.ADMIN, Audience.SCREEN)
    return (Audience.ADMIN,)


# A comment keeps proxies and browsers from timing the stream out, but JavaScript never
# sees it. A page that watches for a stalled stream (the screen) asks for an event
# instead (?heartbeat=event): no `id:`, so a browser's Last-Event-ID stays the last real
# event's, and a `data:` line, since EventSource dispatches nothing without one.
HEARTBEAT = Frame.of(b": ping\n\n")
HEARTBEAT_EVENT = Frame.of(b"event: heartbeat\ndata: \n\n")
HEARTBEATS = {"comment": HEARTBEAT, "event": HEARTBEAT_EVENT}
# The zero-length chunk that ends a chunked response (RFC 9112 §7.1). A stream
# cut without it is a broken response: some clients (aiohttp-sse-client) then
# give up instead of reconnecting with Last-Event-ID.
LAST_CHUNK = b"0\r\n\r\n"


class Client:
    """One open stream, of one room (or, for moderators, of every room: None).
    Until `go_live`, frames are held in `backlog` (replay runs)."""

    __slots__ = ("audience", "backlog", "chunked", "done", "heartbeat", "last_id", "room", "transport")

    def __init__(self, audience: Audience, transport: asyncio.Transport, chunked: bool,
                 last_id: int, replaying: bool, heartbeat: Frame = HEARTBEAT,
                 room: str | None = MAIN) -> None:
        self.audience = audience
        self.heartbeat = heartbeat  # one of the shared frames: a reference per client, no more
        self.room = room
        self.transport = transport
        self.chunked = chunked
        self.last_id = last_id
        self.backlog: list[Frame] | None = [] if replaying else None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def take_backlog(self) -> list[Frame]:
        """Frames held during replay that are still new; goes live when none are left."""
        held = [f for f in self.backlog or () if f.id > self.last_id]
        if held:
            self.backlog = []
        else:
            self.backlog = None
        return held


class History:
    """The latest screen frames, so a room of reconnecting screens replays from memory.

    A cache of the event log, never the truth: `after(id)` answers None unless
    every frame with a larger id is here, and replay then reads the database.
    So it holds a contiguous run of the log: every event passes `follow` (the
    screen's frames then `add`), and an id other than the next one (a message the
    bus lost, a handler that failed) empties it: the database answers for
    everything up to there. An id seen before is refused (a redelivery).
    Bounded twice: between `size` and 2 × `size` frames, and between `max_bytes`
    and 2 × `max_bytes` of encoded bytes, whichever binds first (a wall of
    maximum-length comments must not hold 10,000 of them).
    """

    def __init__(self, size: int, max_bytes: int = 4 * 1024 * 1024) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._ids: list[int] = []
        self._frames: list[Frame] = []
        self._bytes = 0
        self.covered_from = 0  # every frame with an id above this is held
        self._run_from: int | None = None  # the first id of the unbroken run followed so far
        self._last: int | None = None      # ... and its last

    def reset(self, last_event_id: int) -> None:
        """At start, everything up to the log's end lives only in the database.

        Frames already received with a later id (published while the log's end
        was being read) stay: they are exactly the ones the database read missed,
        unless they do not continue from it (then what lies between is read from
        the database too).
        """
        if self._run_from is not None:
            last_event_id = max(last_event_id, self._run_from - 1)
        self._forget(bisect.bisect_right(self._ids, last_event_id))
        self.covered_from = last_event_id
        self._last = max(self._last or 0, last_event_id)

    def follow(self, event_id: int) -> bool:
        """Every event, of any kind, in id order, before its frame is added: False for
        one seen before. A gap forgets every frame held: they no longer reach the present."""
        if self._last is not None and event_id <= self._last:
            return False
        if self._last is not None and event_id != self._last + 1:
            logger.warning("events %d to %d did not arrive here: replays read them from the database",
                           self._last + 1, event_id - 1)
            self._forget(len(self._ids))
            self.covered_from = event_id - 1
            self._run_from = None
        if self._run_from is None:
            self._run_from = event_id
        self._last = event_id
        return True

    def add(self, frame: Frame) -> None:
        self._ids.append(frame.id)
        self._frames.append(frame)
        self._bytes += frame.size
        if len(self._ids) > 2 * self._size or self._bytes > 2 * self._max_bytes:
            self._trim()  # in bulk: amortised O(1) per frame

    def retract(self, barrage_id: int) -> None:
        """A retracted barrage is never replayed: its frame goes (the run stays covered,
        like the log's replay, which skips it too)."""
        gone = [index for index, frame in enumerate(self._frames) if frame.barrage == barrage_id]
        for index in reversed(gone):  # its `barrage` frame and any `merge` (×N) into it
            self._bytes -= self._frames[index].size
            del self._ids[index], self._frames[index]

    def _trim(self) -> None:
        keep, kept_bytes = 0, 0
        for frame in reversed(self._frames):
            if keep == self._size or kept_bytes + frame.size > self._max_bytes:
                break
            keep, kept_bytes = keep + 1, kept_bytes + frame.size
        drop = len(self._frames) - keep
        self.covered_from = self._ids[drop - 1]
        self._forget(drop)

    def _forget(self, count: int) -> None:
        self._bytes -= sum(frame.size for frame in self._frames[:count])
        del self._ids[:count], self._frames[:count]

    @property
    def latest(self) -> int:
        return self._ids[-1] if self._ids else self.covered_from

    @property
    def position(self) -> int:
        """The last id followed, of any kind: every later event still reaches the streams."""
        return self._last or 0

    def after(self, event_id: int, room: str = MAIN) -> list[Frame] | None:
        """The room's frames after `event_id`, or None when some may not be held."""
        if event_id < self.covered_from:
            return None
        return [f for f in self._frames[bisect.bisect_right(self._ids, event_id):] if f.room == room]


class FanOut:
    def __init__(self, max_buffer_bytes: int, heartbeat_seconds: float,
                 max_backlog: int = 1000, history: int = 10_000) -> None:
        self.max_buffer_bytes = max_buffer_bytes
        self.heartbeat_seconds = heartbeat_seconds
        self._max_backlog = max_backlog
        self._clients: dict[Audience, set[Client]] = {a: set() for a in Audience}
        self._screens: dict[str, set[Client]] = {}  # by room: an event goes to its room's only
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False
        self.history = History(history)
        self.dropped = 0

    def count(self, audience: Audience, room: str | None = None) -> int:
        if audience is Audience.SCREEN and room is not None:
            return len(self._screens.get(room, ()))
        return len(self._clients[audience])

    def streams(self) -> Counter[tuple[Audience, str | None]]:
        """This node's open streams by audience and room (None: a moderators' stream of every room)."""
        counts: Counter[tuple[Audience, str | None]] = Counter()
        for room, clients in self._screens.items():
            counts[Audience.SCREEN, room] = len(clients)
        for client in self._clients[Audience.ADMIN]:
            counts[Audience.ADMIN, client.room] += 1
        return counts

    def screens_by_room(self) -> dict[str, int]:
        """This node's screen streams per room (rooms with none are left out)."""
        return {room: len(clients) for room, clients in self._screens.items()}

    def start(self, last_event_id: int) -> None:
        self.history.reset(last_event_id)
        self._heartbeat = asyncio.create_task(self._beat(), name="sse-heartbeat")

    async def close(self) -> None:
        """Stop the heartbeat and end every stream, so shutdown never waits on one."""
        self._closed = True
        if self._heartbeat:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for clients in self._clients.values():
            for client in tuple(clients):
                self._end(client)

    def attach(self, client: Client) -> None:
        if self._closed:  # a stream that opened while shutting down ends at once
            self._end(client)
            return
        self._clients[client.audience].add(client)
        if client.audience is Audience.SCREEN:
            self._screens.setdefault(client.room or MAIN, set()).add(client)

    def _end(self, client: Client) -> None:
        """A complete response, then the connection closes (after flushing what is queued).

        Every write to a stream, replay's through aiohttp included, is a whole
        chunk written synchronously, so between two of them the last chunk fits.
        """
        self.detach(client)
        transport = client.transport
        if client.chunked and not transport.is_closing():
            transport.write(LAST_CHUNK)
        transport.close()

    def detach(self, client: Client) -> None:
        self._clients[client.audience].discard(client)
        if client.audience is Audience.SCREEN and (room := self._screens.get(client.room or MAIN)):
            room.discard(client)
            if not room:
                del self._screens[client.room or MAIN]
        if not client.done.done():
            client.done.set_result(None)

    def on_event(self, event: Event) -> None:
        """Bus handler: synchronous, never awaits a client."""
        if not self.history.follow(event.id):
            return  # a redelivery: every stream has it already
        if event.kind is EventKind.RETRACT:
            self.history.retract(event.payload.get("id", 0))
        for audience in audiences_for(event):
            clients = self._listening(audience, event.room)
            if not clients and audience is not Audience.SCREEN:
                continue  # nobody listening and no history kept: do not even encode
            frame = frame_for(event, audience)  # once, the same bytes for every client
            if audience is Audience.SCREEN:
                self.history.add(frame)
            for client in clients:
                self._send(client, frame)

    def _listening(self, audience: Audience, room: str) -> tuple[Client, ...]:
        if audience is Audience.SCREEN:
            return tuple(self._screens.get(room, ()))
        return tuple(c for c in self._clients[audience] if c.room is None or c.room == room)

    def _send(self, client: Client, frame: Frame) -> None:
        if frame.id and frame.id <= client.last_id:
            return  # already sent by replay: never twice
        if client.backlog is not None:
            client.backlog.append(frame)
            if len(client.backlog) > self._max_backlog:
                self.drop(client, "backlog full during replay")
            return
        transport = client.transport
        if transport.is_closing():
            self.detach(client)
            return
        transport.write(frame.chunk if client.chunked else frame.raw)
        client.last_id = frame.id or client.last_id
        if transport.get_write_buffer_size() > self.max_buffer_bytes:
            self.drop(client, "send buffer backed up")

    def drop(self, client: Client, why: str) -> None:
        self.dropped += 1
        logger.info("dropping %s stream: %s", client.audience.value, why)
        self.detach(client)
        # abort, not close: close would wait to flush to a client that is not reading.
        client.transport.abort()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            for clients in self._clients.values():
                for client in tuple(clients):
                    if client.backlog is None:
                        self._send(client, client.heartbeat)
