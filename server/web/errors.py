"""The HTTP edge's one catch-all: domain errors → 4xx JSON, surprises → logged 500.

Each refused request leaves one log line (rate-limited: a flood of the same
mistake costs a few lines a minute) and never a traceback.
"""

from __future__ import annotations

import logging
import math

from aiohttp import web

from server.core.errors import (
    AlreadyDecided,
    AlreadySent,
    BarrageError,
    CannotRetract,
    CannotUndo,
    InvalidInput,
    Muted,
    NotFound,
    PoolTooSmall,
    RateLimited,
    RoomExists,
    SlowMode,
    Unavailable,
)
from server.logs import limit_repeats

logger = limit_repeats(logging.getLogger(__name__))

STATUS_FOR: dict[type[BarrageError], int] = {
    InvalidInput: 400,
    RateLimited: 429,
    SlowMode: 429,
    Muted: 403,
    AlreadySent: 409,
    NotFound: 404,
    AlreadyDecided: 409,
    CannotUndo: 409,
    CannotRetract: 409,
    RoomExists: 409,
    PoolTooSmall: 409,
    Unavailable: 503,
}
# Request bodies are read as sent. aiohttp would otherwise inflate gzip/deflate in its
# parser, with no size bound of ours, and log a traceback for a body that is not what
# its header claims; no client of ours compresses what it sends (RFC 7694: 415).
IDENTITY = ("", "identity")


def json_error(status: int, message: str, fields: dict[str, object] | None = None,
               **headers: str) -> web.Response:
    """`{"error": message}`, with an error's own `fields` beside it (a mute's `until`)."""
    return web.json_response({"error": message, **(fields or {})}, status=status, headers=headers or None)


@web.middleware
async def error_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BarrageError as exc:
        status = STATUS_FOR.get(type(exc), 400)
        _log_refusal(request, status, str(exc))
        return json_error(status, str(exc), getattr(exc, "fields", None), **_retry_after(exc))
    except web.HTTPException as exc:
        if exc.status >= 400:
            _log_refusal(request, exc.status, exc.reason)
        if exc.status < 400 or not _wants_json(request):
            raise
        response = json_error(exc.status, exc.reason, **_kept_headers(exc))
        if exc.headers.get("Connection", "").lower() == "close":
            response.force_close()  # a refusal that should not keep a descriptor busy
        return response
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error")


@web.middleware
async def identity_bodies_only(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in IDENTITY and request.can_read_body:
        raise web.HTTPUnsupportedMediaType(
            reason="Content-Encoding is not supported: send the body uncompressed",
            headers={"Accept-Encoding": "identity"},
        )
    return await handler(request)


def _log_refusal(request: web.Request, status: int, reason: str) -> None:
    level = logging.WARNING if status >= 500 else logging.INFO
    # The status is part of the template, so each status has its own allowance of lines
    # a minute: a flood of 400s never hides the first 503.
    logger.log(level, f"%s %s -> {status} %s", request.method, request.path[:200], reason[:200])


def _retry_after(exc: BarrageError) -> dict[str, str]:
    seconds = getattr(exc, "retry_after", None)
    return {"Retry-After": str(math.ceil(seconds))} if seconds else {}


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/healthz", "/readyz", "/stream"))


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    keep = ("WWW-Authenticate", "Allow", "Retry-After", "Accept-Encoding")
    return {k: v for k, v in exc.headers.items() if k in keep}
