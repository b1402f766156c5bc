"""GET /stream (public, approved barrages) and GET /api/stream (moderators, everything).

Hand-over from replay to live: the client is attached *before* the database
is read, and live frames are held until replay ends; a frame whose id was
already replayed is skipped. Nothing falls in the gap, nothing comes twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from aiohttp import web

from server.core.epoch import TOKEN
from server.core.errors import Unavailable
from server.core.model import MAIN, SCREEN_FIELDS, EventKind
from server.core.policy import is_ascii_number
from server.core.views import Views
from server.web.client import client_address, network_of
from server.web.fanout import HEARTBEATS, Audience, Client, FanOut, Frame, encode_for
from server.web.keys import CONFIG, EPOCH, FANOUT, SERVICE, SLOTS, VIEWS
from server.web.language import page_language

logger = logging.getLogger(__name__)

# Replay never holds much per client, however far back it starts and however slowly
# the client reads: a page of events from the log, one slice of bytes being written.
# Pages start at FIRST_PAGE events and then hold about one slice of bytes each.
FIRST_PAGE, MIN_PAGE, MAX_PAGE = 32, 4, 500
MAX_SLICE = 64 * 1024
KERNEL_SEND_BUFFER = 64 * 1024
KINDS = {
    Audience.SCREEN: tuple(SCREEN_FIELDS),
    Audience.ADMIN: tuple(EventKind),
}
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}
EPOCH_HEADER = "X-Barrage-Epoch"


async def screen_stream(request: web.Request) -> web.StreamResponse:
    return await _serve(request, Audience.SCREEN)


async def admin_stream(request: web.Request) -> web.StreamResponse:
    return await _serve(request, Audience.ADMIN)


def last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None or raw.strip() == "":
        return None
    if not is_ascii_number(raw.strip(), 18):
        raise web.HTTPBadRequest(reason="Last-Event-ID must be a non-negative integer")
    return int(raw)


def seen_in_epoch(request: web.Request) -> str | None:
    """`?epoch=`: the epoch the client's Last-Event-ID comes from (server/core/epoch.py)."""
    raw = request.query.get("epoch")
    if raw is None or raw == "":
        return None
    if not TOKEN.fullmatch(raw):
        raise web.HTTPBadRequest(reason="epoch must be 1 to 64 letters, digits, '-' or '_'")
    return raw


def heartbeat_frame(request: web.Request) -> Frame:
    """`?heartbeat=event` for heartbeats a page can see; comments otherwise (the default)."""
    kind = request.query.get("heartbeat", "comment")
    if kind not in HEARTBEATS:
        raise web.HTTPBadRequest(reason="heartbeat must be comment or event")
    return HEARTBEATS[kind]


def stream_room(request: web.Request, audience: Audience) -> str | None:
    """`?room=`: a screen's room (main when none is named); the moderators' stream carries
    every room's events unless it names one. An unknown room is a 404."""
    slug = request.query.get("room")
    if audience is Audience.ADMIN and not slug:
        return None
    return request.app[SERVICE].rooms.get(slug).slug


async def _serve(request: web.Request, audience: Audience) -> web.StreamResponse:
    resume_from = last_event_id(request)
    seen_in = seen_in_epoch(request)
    if resume_from is not None:  # an id from before a restore resumes where the logs part
        resume_from = request.app[EPOCH].resume_after(resume_from, seen_in)
    heartbeat = heartbeat_frame(request)
    room = stream_room(request, audience)
    with request.app[SLOTS].hold(network_of(client_address(request))):
        return await _stream(request, audience, resume_from, heartbeat, room)


async def _stream(request: web.Request, audience: Audience, resume_from: int | None,
                  heartbeat: Frame, room: str | None) -> web.StreamResponse:
    views, fanout = request.app[VIEWS], request.app[FANOUT]
    response = web.StreamResponse(headers={**SSE_HEADERS, EPOCH_HEADER: request.app[EPOCH].token})
    await response.prepare(request)
    await response.write(_preamble(request))
    if request.transport is None:
        return response
    # aiohttp picks chunked framing itself for HTTP/1.1; live writes bypass it, so match it.
    chunked = response.headers.get("Transfer-Encoding", "").lower() == "chunked"
    _cap_kernel_buffer(request.transport)
    client = Client(audience, request.transport, chunked, 0, resume_from is not None, heartbeat, room)
    if audience is Audience.SCREEN:
        # With no await from here to attach, no event can come between the state and the stream.
        _write_now(client, _state(request, room or MAIN))
    fanout.attach(client)
    attached_at = fanout.history.position  # no await since attach: later events reach the client
    try:
        if resume_from is not None:
            after = await _clamp(resume_from, audience, fanout, views, attached_at)
            await _replay(request, response, client, after, fanout, views)
        await client.done
    except ConnectionError:
        # The client went away mid-replay: aiohttp (3.10+) raises ClientConnectionResetError,
        # a ConnectionResetError, on a write to a closing transport. A RuntimeError is a bug.
        pass
    except Unavailable:
        # Ended, not answered 503: the status is sent, and an EventSource retries an ended
        # stream by itself but gives up for good on a 503.
        logger.warning("replay: the database is unavailable; ending the stream so the client retries")
    except Exception:
        logger.exception("replay failed; ending the stream so the client retries")
    finally:
        fanout.detach(client)
    return response


def _state(request: web.Request, slug: str) -> bytes:
    """`event: state`, first on every screen stream: what the room shows now (no id: it is not
    in the log, and a reconnect must not resume from it)."""
    room = request.app[SERVICE].rooms.get(slug)
    state = {"paused": room.paused, "announcement": room.announcement, "title": room.title,
             "join_text": request.app[CONFIG].join_text(room.slug, room.join_text, page_language(request)),
             "crossing_seconds": room.crossing_seconds,
             "epoch": request.app[EPOCH].token, "epoch_start": request.app[EPOCH].start}
    data = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
    return f"event: state\ndata: {data}\n\n".encode()


def _write_now(client: Client, data: bytes) -> None:
    """Written at once, in the response's framing, as the fan-out writes live frames."""
    frame = Frame.of(data)
    client.transport.write(frame.chunk if client.chunked else frame.raw)


def _cap_kernel_buffer(transport: asyncio.Transport) -> None:
    # Linux lets a socket's send buffer grow to 4 MiB; a stalled client would
    # hide that much in the kernel before our own bound ever saw it. SSE
    # messages are small, so 64 KiB is plenty and bounds memory per stream.
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER)


def _preamble(request: web.Request) -> bytes:
    retry = request.app[CONFIG].stream.retry_ms
    # Jitter spreads a whole room of screens reconnecting after a restart.
    return b"retry: %d\n: connected\n\n" % (retry + random.randint(0, retry // 2))


async def _clamp(resume_from: int, audience: Audience, fanout: FanOut, views: Views,
                 attached_at: int) -> int:
    """An id beyond the log (a reset database) resumes live: from where the fan-out stood
    when the client attached. Not from the log's end as read now: an event committed since
    the attach would lie at or below it, and be skipped both live and in the replay."""
    if audience is Audience.SCREEN and resume_from <= fanout.history.latest:
        return resume_from  # the usual case, answered without touching the database
    if resume_from <= await views.last_event_id():
        return resume_from  # in the log, ahead of this node's fan-out (another node's event)
    return attached_at


async def _replay(request: web.Request, response: web.StreamResponse, client: Client,
                  after: int, fanout: FanOut, views: Views) -> None:
    client.last_id = after
    writer = _SliceWriter(request, response, client, fanout)
    with writer.draining_each_slice():
        screen = client.audience is Audience.SCREEN and client.room is not None
        held = fanout.history.after(after, client.room) if screen else None  # type: ignore[arg-type]
        if held is not None:  # a reconnect storm is served from memory
            await writer.write(held)
        else:
            await _replay_from_log(writer, client, views)
        while backlog := client.take_backlog():
            await writer.write(backlog)


async def _replay_from_log(writer: _SliceWriter, client: Client, views: Views) -> None:
    page = FIRST_PAGE
    while True:
        # A screen never gets a retracted barrage back, not even replaying from 0.
        screen = client.audience is Audience.SCREEN
        events = await views.events_after(client.last_id, KINDS[client.audience], page, client.room,
                                          skip_retracted=screen)
        more = len(events) == page
        encoded = [_Encoded(event.id, encode_for(event, client.audience)) for event in events]
        del events  # only the bytes wait for the client, not the events they came from
        await writer.write(encoded)
        if not more:
            break
        page = _next_page(page, sum(len(e.raw) for e in encoded), writer.limit)


def _next_page(page: int, page_bytes: int, slice_bytes: int) -> int:
    """About one slice of bytes a page: many short comments, or a few long ones."""
    return max(MIN_PAGE, min(MAX_PAGE, page * slice_bytes // max(page_bytes, 1)))


class _Encoded(NamedTuple):
    """An event as it goes on the wire (a live `Frame` also keeps its chunk framing)."""

    id: int
    raw: bytes


class _SliceWriter:
    """Writes frames in slices of at most `max_buffer_bytes` (and 64 KiB), waiting after
    each until the socket has taken it: a client that reads slowly, or not at all,
    holds one slice in memory, never the whole replay. One that takes nothing for two
    heartbeats is dropped like a live client that falls behind (it may reconnect)."""

    def __init__(self, request: web.Request, response: web.StreamResponse, client: Client,
                 fanout: FanOut) -> None:
        self._request, self._response, self._client = request, response, client
        self._fanout = fanout
        self.limit = min(fanout.max_buffer_bytes, MAX_SLICE)

    @contextlib.contextmanager
    def draining_each_slice(self) -> Iterator[None]:
        # With no high-water mark, aiohttp's drain() waits until the transport's buffer
        # is empty (the kernel has it). The defaults come back for the live stream,
        # whose writes never wait.
        transport = self._client.transport
        transport.set_write_buffer_limits(high=0)
        try:
            yield
        finally:
            if not transport.is_closing():
                transport.set_write_buffer_limits()

    async def write(self, frames: Sequence[Frame | _Encoded]) -> None:
        batch: list[Frame | _Encoded] = []
        size = 0
        for frame in frames:
            if batch and size + len(frame.raw) > self.limit:
                await self._flush(batch)
                batch, size = [], 0
            batch.append(frame)
            size += len(frame.raw)
        if batch:
            await self._flush(batch)

    async def _flush(self, batch: list[Frame | _Encoded]) -> None:
        try:  # aiohttp's write() may itself wait for a drain: time both
            async with asyncio.timeout(2 * self._fanout.heartbeat_seconds):
                await self._response.write(b"".join(frame.raw for frame in batch))
                await self._request.writer.drain()
        except TimeoutError:
            self._fanout.drop(self._client, "replay stalled")
            raise ConnectionResetError("replay stalled") from None
        self._client.last_id = batch[-1].id
