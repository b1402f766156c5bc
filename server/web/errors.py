"""The HTTP edge's one catch-all: domain errors → 4xx JSON, surprises → logged 500."""

from __future__ import annotations

import logging

from aiohttp import web

from server.core.errors import (
    AlreadyDecided,
    BarrageError,
    CannotUndo,
    InvalidInput,
    NotFound,
    RateLimited,
)

logger = logging.getLogger(__name__)

STATUS_FOR: dict[type[BarrageError], int] = {
    InvalidInput: 400,
    RateLimited: 429,
    NotFound: 404,
    AlreadyDecided: 409,
    CannotUndo: 409,
}


def json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


@web.middleware
async def error_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RateLimited as exc:
        return json_error(429, str(exc), **{"Retry-After": str(exc.retry_after)})
    except BarrageError as exc:
        return json_error(STATUS_FOR.get(type(exc), 400), str(exc))
    except web.HTTPException as exc:
        if exc.status < 400 or not _wants_json(request):
            raise
        return json_error(exc.status, exc.reason, **_kept_headers(exc))
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error")


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/healthz", "/stream"))


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    keep = ("WWW-Authenticate", "Allow", "Retry-After")
    return {k: v for k, v in exc.headers.items() if k in keep}
