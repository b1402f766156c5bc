"""X-Request-ID: kept from the request when it is a sane one, else made, and sent back on
every response (errors, 404s, static files, event streams).

The id is bound as the log context's `request_id` (server/core/logcontext.py) for every
line written while the request is handled. It is set on the response in the
`on_response_prepare` signal, which runs for every response as its headers are sent,
before a stream's first byte and for the responses aiohttp makes itself from an
HTTPException. Only printable ASCII is kept, so an id can never start a log line of its
own (no CR, LF or other control character) nor carry a byte the JSON log would mangle.
"""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from server.core import logcontext

HEADER = "X-Request-ID"
MAX_LENGTH = 128
REQUEST_ID = web.RequestKey("request_id", str)
SANE = re.compile(rf"[\x20-\x7e]{{1,{MAX_LENGTH}}}")
# A room named in the URL is bound too, cut to this (a slug is shorter; this one is unchecked).
MAX_ROOM_LENGTH = 64


def request_id(request: web.BaseRequest) -> str:
    """The request's id: its own X-Request-ID when sane, else a new one (kept on the request)."""
    known = request.get(REQUEST_ID)
    if known is None:
        offered = request.headers.get(HEADER, "").strip()
        known = offered if SANE.fullmatch(offered) else uuid.uuid4().hex
        request[REQUEST_ID] = known
    return known


@web.middleware
async def request_id_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    with logcontext.bound(request_id=request_id(request), **_named(request)):
        return await handler(request)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[HEADER] = request_id(request)


def _named(request: web.Request) -> dict[str, object]:
    """The barrage and room a route names in its path or query, for the log context."""
    barrage = request.match_info.get("id", "") if request.path.startswith("/api/barrages/") else ""
    room = request.match_info.get("slug") or request.query.get("room")
    return {"barrage_id": int(barrage) if barrage.isdigit() and len(barrage) < 11 else None,
            "room": room[:MAX_ROOM_LENGTH] if room else None}
