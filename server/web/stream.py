"""GET /stream (public, approved barrages) and GET /api/stream (moderators, everything).

Hand-over from replay to live: the client is attached *before* the database
is read, and live frames are held until replay ends; a frame whose id was
already replayed is skipped. Nothing falls in the gap, nothing comes twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket

from aiohttp import web

from server.core.model import EventKind
from server.core.policy import is_ascii_number
from server.core.service import BarrageService
from server.web.fanout import Audience, Client, FanOut, Frame, encode_event
from server.web.keys import CONFIG, FANOUT, SERVICE

logger = logging.getLogger(__name__)

REPLAY_PAGE = 500
KERNEL_SEND_BUFFER = 64 * 1024
KINDS = {
    Audience.SCREEN: (EventKind.BARRAGE,),
    Audience.ADMIN: tuple(EventKind),
}
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


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


async def _serve(request: web.Request, audience: Audience) -> web.StreamResponse:
    resume_from = last_event_id(request)
    service, fanout = request.app[SERVICE], request.app[FANOUT]
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    await response.write(_preamble(request))
    if request.transport is None:
        return response
    # aiohttp picks chunked framing itself for HTTP/1.1; live writes bypass it, so match it.
    chunked = response.headers.get("Transfer-Encoding", "").lower() == "chunked"
    _cap_kernel_buffer(request.transport)
    client = Client(audience, request.transport, chunked, 0, resume_from is not None)
    fanout.attach(client)
    try:
        if resume_from is not None:
            await _replay(response, client, await _clamp(resume_from, audience, fanout, service),
                          fanout, service)
        await client.done
    except ConnectionError:
        # The client went away mid-replay: aiohttp (3.10+) raises ClientConnectionResetError,
        # a ConnectionResetError, on a write to a closing transport. A RuntimeError is a bug.
        pass
    except Exception:
        logger.exception("replay failed; ending the stream so the client retries")
    finally:
        fanout.detach(client)
    return response


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


async def _clamp(resume_from: int, audience: Audience, fanout: FanOut, service: BarrageService) -> int:
    """An id beyond the log (a reset database) resumes from the end: live only."""
    if audience is Audience.SCREEN and resume_from <= fanout.history.latest:
        return resume_from  # the usual case, answered without touching the database
    return min(resume_from, await service.last_event_id())


async def _replay(response: web.StreamResponse, client: Client, after: int, fanout: FanOut,
                  service: BarrageService) -> None:
    client.last_id = after
    held = fanout.history.after(after) if client.audience is Audience.SCREEN else None
    if held is not None:  # a reconnect storm is served from memory, in one write
        await _write_frames(response, client, held)
    else:
        await _replay_from_log(response, client, service)
    await _drain_backlog(response, client)


async def _replay_from_log(response: web.StreamResponse, client: Client, service: BarrageService) -> None:
    while True:
        events = await service.events_after(client.last_id, KINDS[client.audience], REPLAY_PAGE)
        for event in events:
            payload = event.public_payload() if client.audience is Audience.SCREEN else event.payload
            await response.write(encode_event(event.id, event.kind, payload))
            client.last_id = event.id
        if len(events) < REPLAY_PAGE:
            break


async def _drain_backlog(response: web.StreamResponse, client: Client) -> None:
    while held := client.take_backlog():
        await _write_frames(response, client, held)


async def _write_frames(response: web.StreamResponse, client: Client, frames: list[Frame]) -> None:
    if frames:
        await response.write(b"".join(frame.raw for frame in frames))
        client.last_id = frames[-1].id
